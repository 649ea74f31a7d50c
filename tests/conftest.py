"""Shared fixtures: a migrated database per backend, an open store, an HTTP client.

PostgreSQL comes from TAGFEED_TEST_POSTGRES_URL (a server where we may create databases);
each test session creates its own database and drops it at the end, and each test starts
from an empty table, so runs never see each other's rows. Without the variable the
PostgreSQL cases are skipped with the reason printed, unless TAGFEED_REQUIRE_POSTGRES=1
(CI sets it), in which case they fail.
"""

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tagfeed.api.app import create_app
from tagfeed.config import Settings
from tagfeed.store.factory import store_from_settings
from tagfeed.store.migrate import upgrade
from tagfeed.store.port import Store

POSTGRES_URL = os.environ.get("TAGFEED_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("TAGFEED_REQUIRE_POSTGRES") == "1"
USER = {"X-User-ID": "1"}


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    if not POSTGRES_URL:
        reason = "TAGFEED_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against"
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"tagfeed_test_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = _with_database(POSTGRES_URL, name)
    upgrade(url)
    yield url
    asyncio.run(_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database of each backend."""
    if request.param == "sqlite":
        sqlite_url = f"sqlite:///{tmp_path / 'tagfeed.db'}"
        upgrade(sqlite_url)
        return sqlite_url
    url: str = request.getfixturevalue("postgres_url")

    async def empty() -> None:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables"
                " WHERE schemaname = 'public'"
                " AND tablename NOT IN ('alembic_version', 'counter_generation', 'event_head')"
            )
            # The log refuses TRUNCATE by trigger; a superuser's test set-up may skip
            # triggers (session_replication_role), as no tagfeed process ever does.
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                await conn.execute("TRUNCATE " + ", ".join(t["tablename"] for t in tables))
                await conn.execute("UPDATE event_head SET position = 0")
        finally:
            await conn.close()

    asyncio.run(empty())
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, db_timeout=5.0)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    opened = store_from_settings(settings)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
async def client(settings: Settings, store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client speaking to the app in-process, as user "1"."""
    app = create_app(settings, store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://tagfeed.test", headers=USER
    ) as http:
        yield http
