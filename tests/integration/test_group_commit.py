"""The SQLite writer commits concurrent posts in batches. A unit that cannot be written
(here: an id already taken) must fail alone; every other unit of its batch commits."""

import asyncio
import sqlite3
import sys
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


def wal_frames(path: Path) -> int:
    """Frames in the WAL since it was last reset: each transaction adds at least one."""
    with closing(sqlite3.connect(path)) as conn:
        busy, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0
        return int(frames)


@pytest.mark.parametrize("taken_at", [0, 7, 19])
async def test_a_rejected_post_fails_alone_in_its_batch(tmp_path: Path, taken_at: int) -> None:
    path = tmp_path / "tagfeed.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    store = SQLiteStore(url, timeout=5.0)
    await store.open()
    try:
        taken = message(-1)
        await post(store, taken)
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        posts = [message(n, taken.id if n == taken_at else None) for n in range(20)]
        # All twenty must be queued before the writer thread takes any, so that they
        # form one batch, whatever the machine's load. The tasks queue their units in one
        # turn of the event loop, which blocks on nothing meanwhile; the writer needs the
        # GIL to take a unit off its queue, and with a long switch interval it gets the
        # GIL only when the loop next waits, by which time all twenty are queued.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(10)
        try:
            tasks = [asyncio.create_task(post(store, m)) for m in posts]
            await asyncio.sleep(0)  # each task runs up to its wait for the writer
        finally:
            sys.setswitchinterval(interval)
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
        # They were one batch: fewer frames in the WAL than units, each of which would
        # have added at least one had it been committed on its own.
        assert wal_frames(path) < len(posts)
    finally:
        await store.close()


@given(st.integers(min_value=-(2**62), max_value=2**62), st.sampled_from([HOUR_US, DAY_US]))
def test_the_writers_trigger_floors_instants_like_python(micros: int, step_us: int) -> None:
    """The trigger's bucket start, also before 1970 (SQLite's % truncates toward zero)."""
    with closing(sqlite3.connect(":memory:")) as conn:
        sql = f"WITH t(x) AS (VALUES (?)) SELECT {_floor_sql('x', step_us)} FROM t"
        assert conn.execute(sql, (micros,)).fetchone()[0] == micros // step_us * step_us
