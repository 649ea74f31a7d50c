"""``bench.lag`` reads the CPU of the PostgreSQL backend of each reducer's session: the
backend it finds by the session's advisory lock is the session's own, and none while
no session holds it."""

import asyncio

import pytest

from bench.lag import session_backends
from tagfeed.config import settings_from_values
from tagfeed.store.factory import store_from_settings
from tagfeed.store.postgres_views import PostgresReducerSession


@pytest.mark.postgres
async def test_the_backend_found_is_the_sessions_own(postgres_url: str) -> None:
    store = store_from_settings(settings_from_values(database_url=postgres_url, db_timeout=5.0))
    await store.open()
    try:
        names = ("trending", "relay")  # hashtext: 2005616960, -117928432
        assert await asyncio.to_thread(session_backends, postgres_url, names) == {}
        own = {}
        async with store.reducer_session("trending") as one, store.reducer_session("relay") as two:
            for session in (one, two):
                assert isinstance(session, PostgresReducerSession)
                own[session.name] = await session._conn.fetchval("SELECT pg_backend_pid()")
            found = await asyncio.to_thread(session_backends, postgres_url, names)
        assert found == own
        assert len(set(own.values())) == 2
    finally:
        await store.close()
