"""The trending view's tiers (``store/trending_views.py``): the ranking read through the
index on (window_hours, tier DESC) is the ranking by score, across tiers and within one;
on PostgreSQL a batch that leaves every row's tier as it was updates the rows in place
(HOT), and one that moves a tag to another tier does not; migration 0010 gives the rows
already there their tiers, and its downgrade puts the index on score back."""

import asyncio
import sqlite3
from collections import Counter
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from tagfeed.reducers import trending
from tagfeed.service.reducing import catch_up
from tagfeed.store import postgres_views
from tagfeed.store.memory import MemoryStore
from tagfeed.store.migrate import downgrade, upgrade
from tagfeed.store.port import Store
from tagfeed.store.trending_views import TABLE
from tests.integration.test_trending import NOW, post_at

# Uses in the 24h window, none before: scores (n - 1)^2 = 16, 49 (tier 3: below 100),
# 121 (tier 4), 1,521 (tier 5); "mild": 6 uses where 35 in the week before predict 5:
# score 0.2 (tier 1).
BUSY = {"a05": 5, "a08": 8, "a12": 12, "a40": 40}


@pytest.mark.parametrize("limit", [100, 4, 3, 1])
async def test_the_ranking_is_by_score_across_and_within_tiers(store: Store, limit: int) -> None:
    reference = MemoryStore()
    for tag, n in BUSY.items():
        await post_at([store, reference], tag, NOW, n)
    await post_at([store, reference], "mild", NOW - timedelta(days=2), 35)
    await post_at([store, reference], "mild", NOW, 6)
    await catch_up(store, trending.REDUCER, batch=7)
    _, got = await store.trending(24, limit)
    _, want = await reference.trending(24, limit)
    assert [t.tag for t in got] == [t.tag for t in want]
    assert [t.tag for t in got] == ["a40", "a12", "a08", "a05", "mild"][:limit]
    assert [t.score for t in got] == pytest.approx([1521, 121, 49, 16, 0.2][:limit])


_UPDATES = (
    "SELECT pg_stat_get_xact_tuples_updated($1::regclass),"
    " pg_stat_get_xact_tuples_hot_updated($1::regclass)"
)


async def _in_place(conn: asyncpg.Connection, counts: trending.HourCounts) -> tuple[int, int]:
    """Rows updated by applying ``counts``, and how many of them in place (HOT): the
    backend's own counters (which may hold earlier transactions' until it reports them),
    read before and after, within the transaction."""
    async with conn.transaction():
        before = await conn.fetchrow(_UPDATES, TABLE)
        await postgres_views.APPLIERS[trending.NAME](conn, counts, TABLE)
        after = await conn.fetchrow(_UPDATES, TABLE)
    return after[0] - before[0], after[1] - before[1]


@pytest.mark.postgres
async def test_postgres_updates_rows_in_place_unless_a_tier_changes(postgres_url: str) -> None:
    hour = trending.hour_of(int(NOW.timestamp() * 1_000_000))
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f"TRUNCATE {TABLE}")
        await _in_place(conn, Counter({("a", hour): 20, ("b", hour): 40, ("c", hour): 10}))
        # a: 361 -> 400 (tier 4), b: 1,521 -> 1,600 (tier 5): every row in place: their
        # hour, their three windows, the clock.
        updated, hot = await _in_place(conn, Counter({("a", hour): 1, ("b", hour): 1}))
        assert (updated, hot) == (2 + 2 * 3 + 1, 2 + 2 * 3 + 1)
        # c: 81 -> 100, tier 3 -> 4 in each window: those three rows get new index entries.
        updated, hot = await _in_place(conn, Counter({("c", hour): 1}))
        assert (updated, hot) == (1 + 3 + 1, 1 + 1)
    finally:
        await conn.close()


def test_migration_0010_tiers_the_rows_there_and_goes_back(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    url = f"sqlite:///{path}"
    upgrade(url, "0009")
    scores = {"zero": 0.0, "half": 0.5, "fifty": 50.0, "lots": 5000.0}
    with sqlite3.connect(path) as conn:
        conn.executemany(
            f"INSERT INTO {TABLE} VALUES (24, 0, ?, 1, 0, 1.0, ?)", list(scores.items())
        )
        conn.execute(f"INSERT INTO {TABLE} VALUES (0, 0, '', 500000, 0, 0, 0)")
    upgrade(url)
    with sqlite3.connect(path) as conn:
        tiers = dict(conn.execute(f"SELECT tag, tier FROM {TABLE}").fetchall())
        indexes = {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
    assert tiers == {"zero": 0, "half": 1, "fifty": 3, "lots": 5, "": 0}
    assert "trending_tags_by_tier" in indexes
    assert "trending_tags_by_score" not in indexes
    downgrade(url, "0009")
    with sqlite3.connect(path) as conn:
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})")]
        indexes = {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        kept = dict(conn.execute(f"SELECT tag, score FROM {TABLE} WHERE window_hours = 24"))
    assert "tier" not in columns
    assert "trending_tags_by_score" in indexes
    assert "trending_tags_by_tier" not in indexes
    assert kept == scores


@pytest.mark.postgres
async def test_postgres_migration_0010_tiers_the_rows_there_and_goes_back(
    postgres_url: str,
) -> None:
    """On the session's database (at head): down to 0009, rows with scores, up again (the
    STORED column computed for the rows there), down and up once more; head at the end
    whatever happens."""
    scores = {"zero": 0.0, "half": 0.5, "fifty": 50.0, "lots": 5000.0}
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f"TRUNCATE {TABLE}")
        await asyncio.to_thread(downgrade, postgres_url, "0009")
        await conn.executemany(
            f"INSERT INTO {TABLE} VALUES (24, 0, $1, 1, 0, 1.0, $2)", list(scores.items())
        )
        await asyncio.to_thread(upgrade, postgres_url)
        tiers = dict(await conn.fetch(f"SELECT tag, tier FROM {TABLE}"))
        assert tiers == {"zero": 0, "half": 1, "fifty": 3, "lots": 5}
        index = "SELECT indexname FROM pg_indexes WHERE tablename = $1 AND indexname LIKE '%by%'"
        assert await conn.fetchval(index, TABLE) == "trending_tags_by_tier"
        await asyncio.to_thread(downgrade, postgres_url, "0009")
        assert await conn.fetchval(index, TABLE) == "trending_tags_by_score"
        kept = dict(await conn.fetch(f"SELECT tag, score FROM {TABLE}"))
        assert kept == scores
    finally:
        await asyncio.to_thread(upgrade, postgres_url)
        await conn.execute(f"TRUNCATE {TABLE}")
        await conn.close()
