"""The discoverable data set on PostgreSQL: a login granted ``tagfeed_analyst`` reads
every view of the ``catalogue`` schema, and can neither write anything nor read the
tables kept private."""

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from tagfeed.reducers import tags, trending
from tagfeed.service.reducing import catch_up, rebuild
from tagfeed.store.port import Store
from tests.integration.helpers import seed

pytestmark = pytest.mark.postgres

VIEWS = ("messages", "events", "hourly_counts", "daily_counts", "tag_stats", "trending_tags")
PRIVATE = (
    "public.messages",
    "public.events",
    "public.message_counts",
    "public.idempotency_keys",
    "public.reducer_checkpoints",
    "public.trending_tags",
)


@pytest.fixture
async def analyst(postgres_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection as a new login that holds tagfeed_analyst and nothing else."""
    name = f"analyst_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f"CREATE ROLE {name} LOGIN IN ROLE tagfeed_analyst")
    connection = await asyncpg.connect(postgres_url, user=name)
    try:
        yield connection
    finally:
        await connection.close()
        await admin.execute(f"DROP ROLE {name}")
        await admin.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_the_analyst_reads_every_view(analyst: asyncpg.Connection, store: Store) -> None:
    await seed(store, ("busy", "2026-11-30T10:15:00"), ("busy", "2026-11-30T10:45:00"))
    await catch_up(store, tags.REDUCER)
    await catch_up(store, trending.REDUCER)
    for view in VIEWS:
        await analyst.fetch(f"SELECT * FROM catalogue.{view} LIMIT 5")
    rows = await analyst.fetch("SELECT tag, hour, messages FROM catalogue.hourly_counts")
    assert {(r["tag"], r["messages"]) for r in rows} == {("busy", 2), (None, 2)}
    assert rows[0]["hour"] == datetime(2026, 11, 30, 10, tzinfo=UTC)
    assert await analyst.fetchval("SELECT count(*) FROM catalogue.messages") == 2
    assert await analyst.fetchval("SELECT messages FROM catalogue.tag_stats") == 2


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO catalogue.messages VALUES (gen_random_uuid(), 'x', 't', 'u', now())",
        "UPDATE catalogue.messages SET text = 'x'",
        "DELETE FROM catalogue.tag_stats",
        "INSERT INTO public.messages VALUES (gen_random_uuid(), 'x', 't', 'u', now())",
        "DELETE FROM public.idempotency_keys",
        "UPDATE public.reducer_checkpoints SET position = 0",
        "CREATE TABLE catalogue.mine (n int)",
        "CREATE VIEW catalogue.mine AS SELECT 1",
        *(f"SELECT * FROM {table} LIMIT 1" for table in PRIVATE),
    ],
)
async def test_the_analyst_writes_nothing_and_reads_no_private_table(
    analyst: asyncpg.Connection, statement: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await analyst.execute(statement)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_the_views_outlive_a_rebuild_of_their_tables(
    analyst: asyncpg.Connection, store: Store
) -> None:
    """A rebuild drops a view's table and renames a fresh one in its place; the
    catalogue's views are made again in the same transaction, granted again."""
    await seed(store, ("busy", "2026-11-30T10:15:00"))
    for view in ("messages", "counts", "tags", "trending"):
        await rebuild(store, view)
    assert await analyst.fetchval("SELECT count(*) FROM catalogue.messages") == 1
    assert await analyst.fetchval("SELECT messages FROM catalogue.tag_stats") == 1
    assert await analyst.fetchval("SELECT count(*) FROM catalogue.hourly_counts") == 2
