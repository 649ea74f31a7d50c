"""Browser tests: Debian's Chromium against the real ``tagfeed serve`` process on a
temporary SQLite file (the page does not depend on the backend; the API tests cover
both). One server per session and mode; each test uses its own tags, and gets its own
browser, whose console must stay free of script errors and CSP violations."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.browser import Page, launch, missing_tools, page_errors
from tests.e2e.conftest import Server, start_server, stop_server
from tests.integration.tokens import SECRET


@pytest.fixture(autouse=True)
def _browser_tools() -> None:
    reason = missing_tools()
    if reason:
        pytest.skip(reason)


def _serve(tmp: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = start_server(f"sqlite:///{tmp / 'tagfeed.db'}", tmp / "server.log", env=env)
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def page_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``tagfeed serve`` in gateway mode (the default)."""
    yield from _serve(tmp_path_factory.mktemp("gateway"))


@pytest.fixture(scope="session")
def jwt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``tagfeed serve`` checking HS256 bearer tokens signed with ``tokens.SECRET``."""
    env = {"TAGFEED_AUTH_MODE": "jwt", "TAGFEED_JWT_SECRET": SECRET}
    yield from _serve(tmp_path_factory.mktemp("jwt"), env)


@pytest.fixture(scope="session")
def capped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``tagfeed serve`` holding one open stream at most, answering the next with 503 and
    ``Retry-After: 6`` (longer than the page's own first backoffs), and noticing a stream
    whose client left within a second."""
    env = {
        "TAGFEED_STREAM_MAX_CLIENTS": "1",
        "TAGFEED_RETRY_AFTER_SECONDS": "6",
        "TAGFEED_STREAM_HEARTBEAT_SECONDS": "1",
    }
    yield from _serve(tmp_path_factory.mktemp("capped"), env)


def _page(base_url: str) -> Iterator[Page]:
    driver = launch()
    try:
        yield Page(driver, base_url)
        assert page_errors(driver) == []
    finally:
        driver.quit()


@pytest.fixture
def page(page_server: Server) -> Iterator[Page]:
    yield from _page(page_server.base_url)


@pytest.fixture
def jwt_page(jwt_server: Server) -> Iterator[Page]:
    yield from _page(jwt_server.base_url)


@pytest.fixture
def capped_page(capped_server: Server) -> Iterator[Page]:
    yield from _page(capped_server.base_url)
