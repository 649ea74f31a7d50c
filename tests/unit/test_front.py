"""The front (``api/front.py``): it sends a request straight to a handler exactly when
Starlette's router would have sent it to that handler's route with one of the table's
methods, and leaves everything else (HEAD, other methods and their 405, unknown paths) to
Starlette, whose routes call the same handlers."""

from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from tagfeed.api.app import create_app
from tagfeed.api.endpoints import Endpoint, endpoints
from tagfeed.api.front import Front, Routes
from tagfeed.config import Settings
from tagfeed.store.memory import MemoryStore

SETTINGS = Settings(database_url="sqlite:///unused.db", max_body_bytes=1024)
TABLE = endpoints(SETTINGS)
ROUTES = Routes(TABLE)
STARLETTE_ROUTES = [Route(e.path, e.handler, methods=e.methods) for e in TABLE]
TABLE_METHODS = {m for e in TABLE for m in e.methods}


def starlette_choice(path: str, method: str) -> str | None:
    """The table path Starlette's router gives (path, method) to, when it is one of the
    table's methods for that route; None otherwise (Starlette answers it differently)."""
    scope = {"type": "http", "path": path, "method": method, "root_path": ""}
    for route, endpoint in zip(STARLETTE_ROUTES, TABLE, strict=True):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return endpoint.path if method in endpoint.methods else None
    return None


def front_choice(path: str, method: str) -> str | None:
    found = ROUTES.find(path, method)
    return None if found is None else found[0].path


SEGMENTS = st.sampled_from(["v1", "messages", "counts", "stream", "tags", "trending", "x", ""])
PATHS = st.builds(
    lambda parts, tail: "/" + "/".join(parts) + tail,
    st.lists(st.one_of(SEGMENTS, st.text(min_size=1, max_size=4)), max_size=4),
    st.sampled_from(["", "/", "\n", "%2F"]),
)
METHODS = st.sampled_from(["GET", "POST", "HEAD", "DELETE", "PUT", "OPTIONS"])


@given(PATHS, METHODS)
def test_the_front_routes_as_starlette_does(path: str, method: str) -> None:
    assert front_choice(path, method) == starlette_choice(path, method)


@pytest.mark.parametrize(
    ("path", "method", "chosen", "params"),
    [
        ("/v1/messages", "GET", "/v1/messages", {}),
        ("/v1/messages", "POST", "/v1/messages", {}),
        ("/v1/messages/counts", "GET", "/v1/messages/counts", {}),
        ("/v1/messages/stream", "GET", "/v1/messages/stream", {}),
        ("/v1/messages/abc", "GET", "/v1/messages/{message_id}", {"message_id": "abc"}),
        ("/v1/messages/abc", "HEAD", None, None),  # Starlette's: its GET routes take HEAD
        ("/v1/messages/counts", "POST", None, None),  # 405, from Starlette
        ("/v1/messages/", "GET", None, None),  # 404
        ("/v1/messages/a/b", "GET", None, None),
        ("/v1/messages/counts\n", "GET", None, None),  # Starlette's `$` takes a final newline
        ("/healthz", "GET", "/healthz", {}),
    ],
)
def test_what_the_front_serves(
    path: str, method: str, chosen: str | None, params: dict[str, str] | None
) -> None:
    found = ROUTES.find(path, method)
    assert (None if found is None else (found[0].path, found[1])) == (
        None if chosen is None else (chosen, params)
    )


def test_a_path_the_front_cannot_match_is_refused_when_built() -> None:
    async def handler(call: Any) -> Any:
        raise AssertionError

    with pytest.raises(ValueError, match="one trailing"):
        Routes([Endpoint("/v1/{a}/b", handler, ())])


class Spy:
    """The Starlette app behind the front, noting the requests that reach it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


@pytest.fixture
def spied() -> tuple[Front, Spy]:
    front = create_app(SETTINGS, store=MemoryStore())
    assert isinstance(front, Front)
    assert isinstance(front.app, Starlette)
    spy = Spy(front.app)
    front.app = spy
    return front, spy


USER = {"X-User-ID": "1"}


async def test_the_table_s_methods_never_reach_starlette(spied: tuple[Front, Spy]) -> None:
    front, spy = spied
    transport = httpx.ASGITransport(app=front)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=USER) as http:
        posted = await http.post("/v1/messages", json={"text": "hello", "tag": "t"})
        assert posted.status_code == 201
        location = posted.headers["location"]
        assert (await http.get(location)).status_code == 200
        assert (await http.get("/v1/messages?tag=t")).status_code == 200
        assert (await http.get("/v1/messages/counts?tag=t")).status_code == 200
        missing = await http.get("/v1/messages/0190c8a4-0000-7000-8000-000000000000")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.json()["request_id"] == missing.headers["x-request-id"]
        assert spy.seen == []
        head = await http.head(location)
        assert head.status_code == 200
        assert head.headers["x-request-id"]
        assert head.headers["tagfeed-position"] == posted.headers["tagfeed-position"]
        refused = await http.delete(location)
    assert spy.seen == [("HEAD", location), ("DELETE", location)]
    assert refused.status_code == 405
    assert refused.headers["content-type"] == "application/problem+json"
    assert set(refused.headers["allow"].split(", ")) == {"GET", "HEAD"}
    assert refused.json()["request_id"] == refused.headers["x-request-id"]


@pytest.mark.parametrize("declared", [True, False])
async def test_a_body_over_the_limit_is_a_413_problem_on_the_direct_way(
    spied: tuple[Front, Spy], declared: bool
) -> None:
    front, spy = spied

    async def chunks() -> Any:
        for _ in range(3):
            yield b" " * 600  # 1,800 bytes, over the 1,024 allowed, with no Content-Length

    body: Any = b" " * 1800 if declared else chunks()
    transport = httpx.ASGITransport(app=front)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=USER) as http:
        answer = await http.post(
            "/v1/messages", content=body, headers={"Content-Type": "application/json"}
        )
    assert spy.seen == []
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["connection"] == "close"
    assert "at most 1024 bytes" in answer.json()["detail"]
    assert answer.json()["request_id"] == answer.headers["x-request-id"]


async def test_an_unexpected_error_on_the_direct_way_is_a_500_problem_then_raised(
    spied: tuple[Front, Spy],
) -> None:
    front, _ = spied

    async def broken(call: Any) -> Any:
        raise KeyError("boom")

    found = front.routes.exact["/healthz"]
    found["GET"] = Endpoint("/healthz", broken, found["GET"].operations)
    transport = httpx.ASGITransport(app=front, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.get("/healthz")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert "boom" not in answer.text
    with pytest.raises(KeyError):  # on to the server, as Starlette's ServerErrorMiddleware does
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=front), base_url="http://t"
        ) as http:
            await http.get("/healthz")
