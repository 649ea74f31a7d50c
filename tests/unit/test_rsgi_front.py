"""The RSGI front's parts that need no server: the ASGI lifespan run by hand (what
``__rsgi_init__`` and ``__rsgi_del__`` do) and RSGI's addresses as ASGI's. Requests are
sent to a real granian in ``tests/e2e/test_rsgi_e2e.py``."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from starlette.applications import Starlette

from tagfeed.api.rsgi_front import Lifespan, address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:443", ("::1", 443)),
        ("::ffff:10.0.0.5:1", ("::ffff:10.0.0.5", 1)),
        ("unix", None),
    ],
)
def test_an_rsgi_address_is_asgi_s_host_and_port(
    text: str, expected: tuple[str, int] | None
) -> None:
    assert address(text) == expected


def app_with(steps: list[str], fail: str | None = None) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if fail == "startup":
            raise ValueError("no store")
        steps.append("started")
        try:
            yield
        finally:
            steps.append("stopped")
            if fail == "shutdown":
                raise ValueError("could not close")

    return Starlette(lifespan=lifespan)


async def test_the_lifespan_runs_startup_then_shutdown() -> None:
    steps: list[str] = []
    lifespan = Lifespan(app_with(steps))
    await lifespan.startup()
    assert steps == ["started"]
    await lifespan.shutdown()
    assert steps == ["started", "stopped"]


@pytest.mark.parametrize("step", ["startup", "shutdown"])
async def test_a_failing_step_is_raised(step: str) -> None:
    lifespan = Lifespan(app_with([], fail=step))
    if step == "startup":
        with pytest.raises(RuntimeError, match="no store"):
            await lifespan.startup()
        return
    await lifespan.startup()
    with pytest.raises(RuntimeError, match="could not close"):
        await lifespan.shutdown()


async def test_shutdown_without_startup_does_nothing() -> None:
    await Lifespan(app_with([])).shutdown()
