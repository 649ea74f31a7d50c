"""Shared fixtures: a migrated database per backend, an open store, an HTTP client.

PostgreSQL comes from TAGFEED_TEST_POSTGRES_URL (a server where we may create databases),
or, when it is unset, from the local server at LOCAL_POSTGRES_URL if that answers within
two seconds. Each test session creates its own database and drops it at the end, and each
test starts from an empty table, so runs never see each other's rows. With no server the
PostgreSQL cases are not run, and one line at the end says so, unless
TAGFEED_REQUIRE_POSTGRES=1 (CI sets it), in which case they fail.

No test sees the developer's TAGFEED_* settings: every test starts with them unset
(``no_tagfeed_environment``), and ``settings_from_values`` ignores the environment anyway.
"""

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tagfeed.api.app import create_app
from tagfeed.config import ENV_PREFIX, Settings, settings_from_values
from tagfeed.store.factory import store_from_settings
from tagfeed.store.migrate import upgrade
from tagfeed.store.port import Store

LOCAL_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REQUIRE_POSTGRES = os.environ.get("TAGFEED_REQUIRE_POSTGRES") == "1"
USER = {"X-User-ID": "1"}
# The test harness's own variables, kept; every other TAGFEED_* is the developer's.
HARNESS = ("TAGFEED_TEST_", "TAGFEED_REQUIRE_POSTGRES", "TAGFEED_FAULT_")


def _local_postgres() -> str:
    async def answers() -> bool:
        try:
            conn = await asyncpg.connect(LOCAL_POSTGRES_URL, timeout=2)
        except (OSError, TimeoutError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return LOCAL_POSTGRES_URL if asyncio.run(answers()) else ""


POSTGRES_URL = os.environ.get("TAGFEED_TEST_POSTGRES_URL", "") or _local_postgres()
NO_POSTGRES = (
    "no PostgreSQL: TAGFEED_TEST_POSTGRES_URL is not set and nothing answers at "
    f"{LOCAL_POSTGRES_URL}"
)


def _needs_postgres(item: pytest.Item) -> bool:
    return item.get_closest_marker("postgres") is not None or "postgres_url" in getattr(
        item, "fixturenames", ()
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a server (and not required), leave the PostgreSQL cases out, counted once
    at the end, rather than a line of SKIPPED for each."""
    if POSTGRES_URL or REQUIRE_POSTGRES:
        return
    left_out = [item for item in items if _needs_postgres(item)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not _needs_postgres(item)]
        config.stash[_LEFT_OUT] = len(left_out)


_LEFT_OUT = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    left_out = config.stash.get(_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(f"{left_out} PostgreSQL tests not run: {NO_POSTGRES}")


@pytest.fixture(autouse=True)
def no_tagfeed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests, and the servers and commands they start, see only the TAGFEED_* variables
    they set themselves."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX) and not name.startswith(HARNESS):
            monkeypatch.delenv(name)


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
        if REQUIRE_POSTGRES:
            pytest.fail(NO_POSTGRES)
        pytest.skip(NO_POSTGRES)
    name = f"tagfeed_test_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = _with_database(POSTGRES_URL, name)
    upgrade(url)
    yield url
    asyncio.run(_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


def migrated_sqlite_url(directory: Path) -> str:
    """The URL of a fresh, migrated SQLite file in ``directory``."""
    url = f"sqlite:///{directory / 'tagfeed.db'}"
    upgrade(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return migrated_sqlite_url(tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database of each backend."""
    if request.param == "sqlite":
        return migrated_sqlite_url(tmp_path)
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
    return settings_from_values(database_url=database_url, db_timeout=5.0)


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
