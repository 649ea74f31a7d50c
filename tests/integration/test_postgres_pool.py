"""The PostgreSQL pool takes connections back without asyncpg's reset query (store/
postgres.py, _keep_session): one round trip less per request, and nothing of a session
left behind, since the store never changes one."""

from datetime import UTC, datetime

import asyncpg
import pytest

from tagfeed.domain.ids import new_message_id
from tagfeed.domain.model import Message
from tagfeed.store.port import IdempotencyRecord, unit_of_work
from tagfeed.store.postgres import PostgresStore
from tagfeed.store.postgres_queries import GET_QUERY

pytestmark = pytest.mark.postgres


async def idle_queries(url: str) -> list[str]:
    """The last statement of every other idle connection to this database."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state = 'idle'"
        )
    finally:
        await conn.close()
    return [row["query"] for row in rows]


async def test_a_released_connection_was_not_sent_a_reset_query(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, timeout=5.0, pool_size=1)
    await store.open()
    try:
        assert await store.get(new_message_id(datetime.now(UTC))) is None
        assert await idle_queries(postgres_url) == [GET_QUERY]
    finally:
        await store.close()


async def test_a_keyed_post_leaves_no_lock_or_transaction_behind(postgres_url: str) -> None:
    """The claim's advisory lock is transaction-scoped: gone at COMMIT, reset or not."""
    store = PostgresStore(postgres_url, timeout=5.0, pool_size=1)
    await store.open()
    try:
        now = datetime.now(UTC)
        message = Message(new_message_id(now), "t", "pool", "u1", now)
        record = IdempotencyRecord("u1", "k-pool", "f", 201, "/x", b"{}", now)
        async with unit_of_work(store) as work:
            work.add_message(message)
            work.claim_key(record, not_before=now)
            await work.commit()
        conn = await asyncpg.connect(postgres_url)
        try:
            # Only this test database's locks: other test sessions share the server.
            locks = await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            open_transactions = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state LIKE 'idle in transaction%'"
            )
        finally:
            await conn.close()
        assert (locks, open_transactions) == (0, 0)
        assert await store.get(message.id) == message
    finally:
        await store.close()
