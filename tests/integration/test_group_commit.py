"""The SQLite writer commits concurrent posts in batches. A unit that cannot be written
(here: an id already taken) must fail alone; every other unit of its batch commits."""

import asyncio
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagfeed.domain.counting import pieces_of
from tagfeed.domain.ids import new_message_id
from tagfeed.domain.model import Message
from tagfeed.domain.pagination import PageRequest
from tagfeed.domain.queries import MessageFilter
from tagfeed.domain.timerange import TimeRange
from tagfeed.store.errors import StoreError
from tagfeed.store.migrate import upgrade
from tagfeed.store.port import unit_of_work
from tagfeed.store.sqlite import SQLiteStore, _floor_sql

AT = datetime(2026, 11, 28, 12, tzinfo=UTC)
HOUR_US, DAY_US = 3_600_000_000, 86_400_000_000


def message(n: int, message_id: str | None = None) -> Message:
    at = AT + timedelta(milliseconds=n)
    return Message(message_id or new_message_id(at), f"text {n}", "batch", "u", at)


async def post(store: SQLiteStore, m: Message) -> None:
    async with unit_of_work(store) as work:
        work.add_message(m)
        await work.commit()


@pytest.mark.parametrize("taken_at", [0, 7, 19])
async def test_a_rejected_post_fails_alone_in_its_batch(tmp_path: Path, taken_at: int) -> None:
    url = f"sqlite:///{tmp_path / 'tagfeed.db'}"
    upgrade(url)
    store = SQLiteStore(url, timeout=5.0)
    await store.open()
    try:
        taken = message(-1)
        await post(store, taken)
        # Hold the write lock so that the writer blocks on its first batch while the
        # others queue up behind it, and later units arrive in one batch.
        holder = sqlite3.connect(tmp_path / "tagfeed.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        posts = [message(n, taken.id if n == taken_at else None) for n in range(20)]
        tasks = [asyncio.create_task(post(store, m)) for m in posts]
        await asyncio.sleep(0.3)
        holder.execute("COMMIT")
        holder.close()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
        assert failed == [taken_at]
        assert isinstance(results[taken_at], StoreError)
        everything = MessageFilter("batch", TimeRange(None, None))
        stored = {m.id for m in await store.page(everything, PageRequest(100, None))}
        assert stored == {taken.id} | {m.id for i, m in enumerate(posts) if i != taken_at}
        assert (await store.get(taken.id)) == taken  # the first one, untouched
        # The counters saw exactly the messages that were stored.
        day = TimeRange(datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 11, 29, tzinfo=UTC))
        assert await store.count_pieces("batch", pieces_of(day)) == 20
    finally:
        await store.close()


@given(st.integers(min_value=-(2**62), max_value=2**62), st.sampled_from([HOUR_US, DAY_US]))
def test_the_writers_trigger_floors_instants_like_python(micros: int, step_us: int) -> None:
    """The trigger's bucket start, also before 1970 (SQLite's % truncates toward zero)."""
    with closing(sqlite3.connect(":memory:")) as conn:
        sql = f"WITH t(x) AS (VALUES (?)) SELECT {_floor_sql('x', step_us)} FROM t"
        assert conn.execute(sql, (micros,)).fetchone()[0] == micros // step_us * step_us
