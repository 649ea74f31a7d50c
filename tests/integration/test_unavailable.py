"""A database that cannot be reached gives 503 + Retry-After within the timeout."""

import socket
import time
from pathlib import Path

import httpx
import pytest

from tagfeed.api.app import create_app
from tagfeed.config import Settings
from tagfeed.store.factory import store_from_settings
from tests.integration.helpers import assert_problem


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(
    params=["postgres", "sqlite"],
)
def unreachable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return f"postgresql://postgres@127.0.0.1:{closed_port()}/nowhere"
    return f"sqlite:///{tmp_path / 'missing-dir' / 'tagfeed.db'}"  # cannot be opened


async def test_unreachable_database_gives_503_quickly(unreachable_url: str) -> None:
    settings = Settings(database_url=unreachable_url, db_timeout=1.0, retry_after_seconds=3)
    store = store_from_settings(settings)
    await store.open()
    app = create_app(settings, store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"X-User-ID": "1"}
    ) as client:
        for method, path in [("POST", "/v1/messages"), ("GET", "/v1/messages"), ("GET", "/readyz")]:
            started = time.monotonic()
            response = await client.request(method, path, json={"text": "a", "tag": "b"})
            assert time.monotonic() - started < 2.5
            assert_problem(response, 503, "unavailable")
            assert response.headers["retry-after"] == "3"
            assert "postgres" not in response.text.lower()
            assert "sqlite" not in response.text.lower()
    await store.close()
