"""A database that cannot be reached gives 503 + Retry-After within the timeout."""

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tagfeed.api.app import create_app
from tagfeed.config import Settings
from tagfeed.store.factory import store_from_settings
from tests.integration.helpers import assert_problem

DB_TIMEOUT = 1.0
# Time is the behaviour: each answer must come within the store's timeout. The bound
# adds 4 s for a loaded 2-core machine; a store that did not bound its wait would never
# answer the silent server below, so it still fails.
WITHIN = DB_TIMEOUT + 4


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(params=["postgres-refused", "postgres-silent", "sqlite"])
def unreachable_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres-refused":
        yield f"postgresql://postgres@127.0.0.1:{closed_port()}/nowhere"
    elif request.param == "postgres-silent":
        # Accepts connections (the kernel completes them from the backlog) and never
        # says a word, as a server that hangs or a dropped route would.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(64)
            yield f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/nowhere"
    else:
        yield f"sqlite:///{tmp_path / 'missing-dir' / 'tagfeed.db'}"  # cannot be opened


async def test_unreachable_database_gives_503_quickly(unreachable_url: str) -> None:
    settings = Settings(database_url=unreachable_url, db_timeout=DB_TIMEOUT, retry_after_seconds=3)
    store = store_from_settings(settings)
    await store.open()
    app = create_app(settings, store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"X-User-ID": "1"}
    ) as client:
        for method, path in [("POST", "/v1/messages"), ("GET", "/v1/messages"), ("GET", "/readyz")]:
            try:
                async with asyncio.timeout(WITHIN):
                    response = await client.request(method, path, json={"text": "a", "tag": "b"})
            except TimeoutError:
                raise AssertionError(f"{method} {path}: no answer within {WITHIN} s") from None
            assert_problem(response, 503, "unavailable")
            assert response.headers["retry-after"] == "3"
            assert "postgres" not in response.text.lower()
            assert "sqlite" not in response.text.lower()
    await store.close()
