"""Every query of the contract is served by an index, never a table scan or a sort.
Read from the plans each backend gives for the exact SQL the adapters send."""

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from tagfeed.domain.counting import pieces_of
from tagfeed.domain.pagination import Cursor, PageRequest
from tagfeed.domain.queries import MessageFilter
from tagfeed.domain.timerange import TimeRange
from tagfeed.store import postgres_queries, sqlite, trending_views
from tagfeed.store.migrate import upgrade
from tagfeed.store.postgres_views import numbered

TAG_AND_RANGE = MessageFilter(
    "philotimo", TimeRange(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
)
ANY_TAG_RANGE = MessageFilter(None, TAG_AND_RANGE.period)
# Unaligned bounds: partial hours at both edges, whole hours, whole days.
EDGY = MessageFilter(
    "philotimo",
    TimeRange(datetime(2026, 1, 1, 10, 30, tzinfo=UTC), datetime(2026, 4, 1, 5, 15, tzinfo=UTC)),
)
AFTER = Cursor(datetime(2026, 3, 1, tzinfo=UTC), "01a22331-0051-79a1-af0f-a39e3c5777d7")
PAGE = PageRequest(51, AFTER)


def sqlite_plan(path: Path, sql: str, params: list[object]) -> str:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return "\n".join(row[-1] for row in rows)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    path = tmp_path / "plans.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.mark.parametrize("json", [False, True], ids=["rows", "json"])
@pytest.mark.parametrize("where", [TAG_AND_RANGE, ANY_TAG_RANGE])
def test_sqlite_list_walks_an_index_in_order(
    sqlite_db: Path, where: MessageFilter, json: bool
) -> None:
    query = sqlite.page_json_query if json else sqlite.page_query
    plan = sqlite_plan(sqlite_db, *query(where, PAGE))
    # A tag's messages are the table's own order (migration 0005).
    expected = "USING PRIMARY KEY (tag=?" if where.tag else "USING INDEX messages_created_id"
    assert expected in plan, plan
    assert "SCAN messages" not in plan, plan  # the JSON's aggregate scans the page's rows
    assert "TEMP B-TREE" not in plan, plan  # no sort: the index gives the order


@pytest.mark.parametrize("tag", ["philotimo", None])
def test_sqlite_count_reads_counters_and_edges_by_index(sqlite_db: Path, tag: str | None) -> None:
    plan = sqlite_plan(sqlite_db, *sqlite.pieces_query(tag, pieces_of(EDGY.period)))
    assert (
        "SEARCH message_counts USING PRIMARY KEY (tag=? AND span=? AND start>? AND start<?)" in plan
    ), plan
    edges = (
        "SEARCH messages USING PRIMARY KEY (tag=? AND created_at>? AND created_at<?)"
        if tag
        else "SEARCH messages USING COVERING INDEX messages_created_id"
    )
    assert edges in plan, plan
    assert "SCAN messages" not in plan, plan
    assert "SCAN message_counts" not in plan, plan


def test_sqlite_get_by_id_uses_the_unique_index_on_id(sqlite_db: Path) -> None:
    plan = sqlite_plan(sqlite_db, sqlite.GET_QUERY, [AFTER.id])
    assert "SEARCH messages USING INDEX messages_id (id=?)" in plan, plan


HOT = MessageFilter("philotimo", TAG_AND_RANGE.period)


@pytest.fixture(scope="module")
def postgres_rows(postgres_url: str) -> str:
    """20,000 messages over the first quarter of 2026: a third in one hot tag, the rest
    over 200 tags; then ANALYZE, so the planner chooses as it would in production."""

    async def fill() -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute("TRUNCATE messages, message_counts")
            await conn.execute(
                """INSERT INTO messages
                   SELECT gen_random_uuid(), 'x',
                          CASE WHEN i % 3 = 0 THEN 'philotimo' ELSE 'tag' || (i % 200) END,
                          'u', timestamptz '2026-01-01' + i * interval '6 minutes'
                   FROM generate_series(1, 20000) AS i"""
            )
            await conn.execute("VACUUM ANALYZE messages")
        finally:
            await conn.close()

    asyncio.run(fill())
    return postgres_url


async def postgres_plan(url: str, sql: str, params: list[object], *, seqscan: bool) -> str:
    conn = await asyncpg.connect(url)
    try:
        if not seqscan:
            await conn.execute("SET enable_seqscan = off")
        rows = await conn.fetch(f"EXPLAIN {sql}", *params)
    finally:
        await conn.close()
    return "\n".join(row[0] for row in rows)


@pytest.mark.postgres
@pytest.mark.parametrize("where", [HOT, ANY_TAG_RANGE])
def test_postgres_list_walks_an_index_in_order(postgres_rows: str, where: MessageFilter) -> None:
    plan = asyncio.run(
        postgres_plan(postgres_rows, *postgres_queries.page_query(where, PAGE), seqscan=True)
    )
    index = "messages_tag_created_id" if where.tag else "messages_created_id"
    assert f"Index Scan using {index}" in plan, plan
    assert "Seq Scan" not in plan, plan
    assert "Sort" not in plan, plan


@pytest.mark.postgres
@pytest.mark.parametrize("tag", ["philotimo", None])
def test_postgres_count_reads_counters_and_edges_by_index(
    postgres_rows: str, tag: str | None
) -> None:
    sql, params = postgres_queries.pieces_query(tag, pieces_of(EDGY.period))
    plan = asyncio.run(postgres_plan(postgres_rows, sql, params, seqscan=True))
    assert "Seq Scan" not in plan, plan
    assert "message_counts_pkey" in plan, plan
    assert ("messages_tag_created_id" if tag else "messages_created_id") in plan, plan


@pytest.mark.postgres
def test_postgres_get_by_id_uses_the_primary_key(postgres_rows: str) -> None:
    plan = asyncio.run(
        postgres_plan(postgres_rows, postgres_queries.GET_QUERY, [AFTER.id], seqscan=True)
    )
    assert "Index Scan using messages_pkey" in plan, plan


def test_sqlite_trending_reads_the_index_on_tiers(sqlite_db: Path) -> None:
    """The ranking: the window's tiers from the top by index, each sorted by score as read
    (the "right part" of the ORDER BY), not the whole window sorted."""
    plan = sqlite_plan(sqlite_db, trending_views.top_query(), [24, 10])
    assert "SEARCH trending_tags USING INDEX trending_tags_by_tier (window_hours=? AND tier>?)" in (
        plan
    ), plan
    assert "USE TEMP B-TREE FOR RIGHT PART OF ORDER BY" in plan, plan


@pytest.fixture
def postgres_trends(postgres_url: str) -> Iterator[str]:
    """30,000 tags in the 24h window, a tenth trending over six tiers; then ANALYZE."""

    async def fill(sql: str) -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    score = "(CASE WHEN i % 10 = 0 THEN power(10, (i % 60) / 10.0) ELSE 0 END)"
    asyncio.run(
        fill(
            f"TRUNCATE {trending_views.TABLE}; INSERT INTO {trending_views.TABLE}"
            f" SELECT 24, 0, 'tag' || i, 1, 0, 1.0, {score} FROM generate_series(1, 30000) AS i;"
            f" ANALYZE {trending_views.TABLE}"
        )
    )
    yield postgres_url
    asyncio.run(fill(f"TRUNCATE {trending_views.TABLE}"))


@pytest.mark.postgres
def test_postgres_trending_reads_the_index_on_tiers(postgres_trends: str) -> None:
    plan = asyncio.run(
        postgres_plan(postgres_trends, numbered(trending_views.top_query()), [24, 10], seqscan=True)
    )
    assert "Index Scan using trending_tags_by_tier" in plan, plan
    assert "Incremental Sort" in plan, plan
    assert "Seq Scan" not in plan, plan
