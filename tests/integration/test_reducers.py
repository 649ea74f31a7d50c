"""Catch-up reducers: they apply every event exactly once, a session whose checkpoint
moved applies nothing, and two processes never both apply the same reducer. (Killed at
any instant under load: ``tests/faults/test_reducer_kills.py``, ``make faults``.)"""

import asyncio
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tagfeed.config import Settings, settings_from_values
from tagfeed.domain.ids import epoch_micros, new_message_id
from tagfeed.domain.model import Message
from tagfeed.reducers import tags
from tagfeed.service.reducing import catch_up
from tagfeed.store.errors import LeaseHeld, LeaseLost
from tagfeed.store.factory import store_from_settings
from tagfeed.store.port import Store, unit_of_work
from tagfeed.store.postgres_views import PostgresReducerSession
from tagfeed.store.sqlite import sqlite_path

START = datetime(2026, 11, 30, tzinfo=UTC)
Stats = dict[str, tuple[int, int, int]]  # tag -> (messages, first, last) in microseconds


async def post_many(store: Store, count: int, *, per_unit: int = 10, seed: int = 0) -> None:
    rng = random.Random(seed)
    for first in range(0, count, per_unit):
        async with unit_of_work(store) as work:
            for n in range(first, min(first + per_unit, count)):
                at = START + timedelta(seconds=rng.randrange(86_400 * 3))
                work.add_message(Message(new_message_id(at), f"m{n}", f"t{n % 7}", "u", at))
            await work.commit()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(sqlite_path(url)) as conn:
            return conn.execute(sql).fetchall()

    async def fetch() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def micros(value: Any) -> int:
    return value if isinstance(value, int) else epoch_micros(value)


def tag_stats(url: str) -> Stats:
    rows = query(url, "SELECT tag, messages, first_at, last_at FROM tag_stats")
    return {tag: (n, micros(first), micros(last)) for tag, n, first, last in rows}


def truth(url: str) -> Stats:
    rows = query(
        url, "SELECT tag, count(*), min(created_at), max(created_at) FROM messages GROUP BY tag"
    )
    return {tag: (n, micros(first), micros(last)) for tag, n, first, last in rows}


def checkpoint(url: str) -> int:
    rows = query(url, "SELECT position FROM reducer_checkpoints WHERE name = 'tags'")
    return int(rows[0][0]) if rows else 0


async def test_catching_up_folds_the_whole_log(store: Store, database_url: str) -> None:
    await post_many(store, 230)
    assert await asyncio.to_thread(tag_stats, database_url) == {}
    assert await catch_up(store, tags.REDUCER, batch=37) == 230
    stats = await asyncio.to_thread(tag_stats, database_url)
    assert stats == await asyncio.to_thread(truth, database_url)
    assert sum(n for n, _, _ in stats.values()) == 230
    await post_many(store, 20, seed=1)  # only the new events are applied
    assert await catch_up(store, tags.REDUCER) == 250
    assert await asyncio.to_thread(tag_stats, database_url) == await asyncio.to_thread(
        truth, database_url
    )


async def test_a_second_process_cannot_hold_the_same_reducer(settings: Settings) -> None:
    first, second = store_from_settings(settings), store_from_settings(settings)
    await first.open()
    await second.open()
    try:
        async with first.reducer_session("tags"):
            with pytest.raises(LeaseHeld):
                async with second.reducer_session("tags"):
                    pass
        async with second.reducer_session("tags") as taken:  # free again
            assert taken.position == 0
    finally:
        await first.close()
        await second.close()


async def test_a_session_whose_checkpoint_moved_applies_nothing(
    store: Store, database_url: str
) -> None:
    await post_many(store, 30)
    async with store.reducer_session("tags") as session:
        events = await store.read_events(0, 10)
        # Another process took over and went on (on SQLite after the lease expired).
        await asyncio.to_thread(
            query,
            database_url,
            "UPDATE reducer_checkpoints SET position = 10 WHERE name = 'tags'",
        )
        with pytest.raises(LeaseLost):
            await session.apply(tags.fold([]), events[-1].position)
    assert await asyncio.to_thread(tag_stats, database_url) == {}
    assert await asyncio.to_thread(checkpoint, database_url) == 10


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("name", "commit"), [("tags", "off"), ("trending", "off"), ("relay", "on")]
)
async def test_a_views_batches_commit_without_waiting_for_the_flush(
    postgres_url: str, name: str, commit: str
) -> None:
    # Effects and checkpoint commit together, so a view may lose its last batches to a
    # crash and apply them again; the relay's effects are in JetStream: it waits.
    store = store_from_settings(settings_from_values(database_url=postgres_url, db_timeout=5.0))
    await store.open()
    try:
        async with store.reducer_session(name) as session:
            assert isinstance(session, PostgresReducerSession)
            connection = session._conn  # the session's own: the setting is per connection
            assert await connection.fetchval("SHOW synchronous_commit") == commit
    finally:
        await store.close()
