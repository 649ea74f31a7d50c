"""``bench.lag`` reads the CPU of the PostgreSQL backend of each reducer's session: the
backend it finds by the session's advisory lock is the session's own, and none while no
session on its database holds it — a session of the same name on another database of the
server (another tagfeed, another test) is not it."""

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from bench.lag import session_backends
from tagfeed.config import settings_from_values
from tagfeed.store.factory import store_from_settings
from tagfeed.store.migrate import upgrade
from tagfeed.store.port import Store
from tagfeed.store.postgres_views import PostgresReducerSession

NAMES = ("trending", "relay")  # hashtext: 2005616960, -117928432 (an oid in pg_locks)


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Store]:
    store = store_from_settings(settings_from_values(database_url=url, db_timeout=5.0))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def another_database(url: str) -> AsyncIterator[str]:
    name = f"tagfeed_test_other_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        other = f"{url.rpartition('/')[0]}/{name}"
        await asyncio.to_thread(upgrade, other)
        yield other
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.mark.postgres
async def test_the_backend_found_is_the_sessions_own(postgres_url: str) -> None:
    async with (
        another_database(postgres_url) as other_url,
        opened(other_url) as other,
        other.reducer_session("trending"),  # the same lock keys, another database
        opened(postgres_url) as store,
    ):
        assert await asyncio.to_thread(session_backends, postgres_url, NAMES) == {}
        own = {}
        async with store.reducer_session("trending") as one, store.reducer_session("relay") as two:
            for session in (one, two):
                assert isinstance(session, PostgresReducerSession)
                own[session.name] = await session._conn.fetchval("SELECT pg_backend_pid()")
            found = await asyncio.to_thread(session_backends, postgres_url, NAMES)
        assert found == own
        assert len(set(own.values())) == 2
