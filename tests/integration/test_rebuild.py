"""Rebuilding a view from the log gives the view the write path and the reducers kept:
for random histories (posts in units of any size, imports of old messages, ids refused
as duplicates, spans longer than trending's horizon), every query answers the same after
``rebuild_view`` as before it, and trending's table holds the same rows. Events appended
while a rebuild reads the log are in the view it swaps in; one that fails leaves the old
view serving."""

import asyncio
import itertools
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagfeed.config import Settings
from tagfeed.domain.counting import DAY, HOUR, pieces_of
from tagfeed.domain.ids import new_message_id
from tagfeed.domain.model import Message
from tagfeed.domain.pagination import PageRequest
from tagfeed.domain.queries import MessageFilter
from tagfeed.domain.timerange import TimeRange
from tagfeed.reducers import Reducer, Tagged, tags, trending
from tagfeed.service.reducing import CATCH_UP, VIEWS, catch_up, rebuild
from tagfeed.store import sqlite_views, trending_views
from tagfeed.store.codec import UnknownEvent, message_payload, messages_of
from tagfeed.store.factory import store_from_settings
from tagfeed.store.migrate import upgrade
from tagfeed.store.port import ImportBatch, Store, unit_of_work
from tagfeed.store.rebuild_parts import PART_CHUNKS
from tagfeed.store.sqlite_views import row_from_message
from tests.integration.test_reducers import query, tag_stats

START = datetime(2026, 11, 28, 22, tzinfo=UTC)
TAGS = ["a", "b", "c"]
WHOLE = TimeRange(None, None)

# A history: steps, each a unit of posts or an import, of (tag, minutes after START):
# mostly within two days, some up to 90 days away (beyond trending's 35-day horizon).
DAYS_90 = 90 * 24 * 60
minutes = st.one_of(st.integers(-3000, 3000), st.integers(-DAYS_90, DAYS_90))
message_at = st.tuples(st.sampled_from(TAGS), minutes)
step = st.tuples(st.booleans(), st.lists(message_at, min_size=1, max_size=6))
histories = st.lists(step, min_size=1, max_size=8)
History = list[tuple[bool, list[tuple[str, int]]]]


async def play(store: Store, history: History) -> None:
    numbers = itertools.count(1)
    earlier: list[Message] = []
    for is_import, rows in history:
        messages = []
        for tag, minutes in rows:
            at = START + timedelta(minutes=minutes, microseconds=next(numbers))
            messages.append(Message(new_message_id(at), f"m{minutes}", tag, "u", at))
        if is_import:
            lines = [tuple(m) for m in messages] + [tuple(m) for m in earlier[:1]]  # a dup
            batch = ImportBatch(list(range(len(lines))), lines)  # type: ignore[arg-type]
            await store.import_messages([batch], lambda number: None)
        else:
            async with unit_of_work(store) as work:
                for message in messages:
                    work.add_message(message)
                await work.commit()
        earlier += messages


async def answers(store: Store, url: str) -> dict[str, Any]:
    """What every read of the views says."""
    seen: dict[str, Any] = {}
    period = TimeRange(START - timedelta(days=3), START + timedelta(days=3))
    odd = TimeRange(START - timedelta(hours=30, minutes=7), START + timedelta(hours=5, minutes=3))
    for tag in [None, *TAGS]:
        page = await store.page(MessageFilter(tag, WHOLE), PageRequest(10_000, None))
        seen[f"page {tag}"] = page
        seen[f"get {tag}"] = [await store.get(m.id) for m in page]
        for step_ in (HOUR, DAY):
            seen[f"series {tag} {step_}"] = await store.series(
                tag, step_, period.start or START, period.end or START
            )
        seen[f"count {tag}"] = await store.count_pieces(tag, pieces_of(odd))
    seen["tags"] = await asyncio.to_thread(tag_stats, url)
    for window in trending.WINDOWS.values():
        seen[f"trending {window.name}"] = await store.trending(window.hours, 100)
    # All of trending's state, the hours it keeps and the clock too: what later events
    # are folded into.
    seen["trending rows"] = await asyncio.to_thread(query, url, TRENDING_ROWS)
    return seen


TRENDING_ROWS = f"SELECT * FROM {trending_views.TABLE} ORDER BY window_hours, hour, tag"


async def fresh_database(url: str, tmp_path: Path, number: int) -> str:
    if url.startswith("sqlite:///"):
        path = tmp_path / f"example-{number}.db"
        await asyncio.to_thread(upgrade, f"sqlite:///{path}")
        return f"sqlite:///{path}"
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                "TRUNCATE events, messages, message_counts, tag_stats, trending_tags,"
                " reducer_checkpoints"
            )
            await conn.execute("UPDATE event_head SET position = 0")
    finally:
        await conn.close()
    return url


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories, batch=st.integers(1, 9))
def test_a_rebuilt_view_answers_like_the_one_kept_by_the_write_path(
    database_url: str,
    tmp_path: Path,
    history: list[tuple[bool, list[tuple[str, int]]]],
    batch: int,
) -> None:
    """``batch``: events a read of the log (and, SQLite, the rows of the messages view
    a transaction writes)."""

    async def check() -> None:
        url = await fresh_database(database_url, tmp_path, next(EXAMPLES))
        store = store_from_settings(Settings(database_url=url))
        await store.open()
        try:
            await play(store, history)
            await catch_up(store, tags.REDUCER, batch=batch)
            await catch_up(store, trending.REDUCER, batch=batch)
            before = await answers(store, url)
            assert sum(len(before[f"page {t}"]) for t in TAGS) == len(before["page None"])
            head = await store.head()
            for name in VIEWS:
                assert await rebuild(store, name, batch=batch) == head
                assert await answers(store, url) == before, name
        finally:
            await store.close()

    asyncio.run(check())


EXAMPLES = itertools.count()


async def test_posts_keep_working_while_a_view_is_rebuilt(store: Store) -> None:
    """The old view serves during the rebuild; posts made meanwhile are in the new one."""
    await play(store, [(False, [("a", n) for n in range(5)])] * 40)
    posting = asyncio.create_task(play(store, [(False, [("b", 1)])] * 30))
    for name in VIEWS:
        await rebuild(store, name, batch=7)
    await posting
    head = await store.head()
    assert head == 230
    assert await rebuild(store, "messages", batch=50) == head
    everything = await store.page(MessageFilter(None, WHOLE), PageRequest(1000, None))
    assert len(everything) == 230
    assert await store.count_pieces("b", pieces_of(WHOLE)) == 30


async def test_a_counting_view_rebuilt_in_parts_answers_like_the_one_kept_by_the_write_path(
    store: Store, database_url: str
) -> None:
    """With chunks of one event a rebuild folds ``PART_CHUNKS`` events a part: 150 events
    make four parts, whose keys overlap (the same tags and hours in every part, the
    imports' older messages among them), each added to what the parts before wrote."""
    assert 3 * PART_CHUNKS < 150 <= 4 * PART_CHUNKS
    tags_of = ["a", "b", "c", "d", "e"]
    posts = [(tags_of[n % 5], (n * 37) % 600 - 300) for n in range(110)]
    older = [(tags_of[n % 3], -(n * 53) % 900 - 200) for n in range(40)]
    await play(store, [(False, posts[:60]), (True, older[:20]), (False, posts[60:])])
    await play(store, [(True, older[20:])])
    await catch_up(store, tags.REDUCER, batch=1)
    await catch_up(store, trending.REDUCER, batch=1)
    before = await answers(store, database_url)
    for name in ("counts", "tags", "trending"):
        assert await rebuild(store, name, batch=1) == 150
        assert await answers(store, database_url) == before, name


async def test_an_unknown_view_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="no view named 'nope'"):
        await rebuild(store, "nope")


def test_the_rebuild_command_swaps_the_view_and_says_where_it_stands(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tagfeed.cli import main

    async def post() -> None:
        store = store_from_settings(Settings(database_url=database_url))
        await store.open()
        try:
            await play(store, [(False, [("a", 1), ("b", 2)]), (True, [("a", -600)])])
        finally:
            await store.close()

    asyncio.run(post())
    monkeypatch.setenv("TAGFEED_DATABASE_URL", database_url)
    assert main(["rebuild", "counts"]) == 0
    assert capsys.readouterr().out.startswith("rebuilt counts up to position 3 in ")
    assert main(["rebuild", "trending-soon"]) == 2
    assert "no view 'trending-soon'; known: messages, counts, tags" in capsys.readouterr().err


def posting_midway(
    reducer: Reducer[Any], store: Store, loop: asyncio.AbstractEventLoop, more: History
) -> Reducer[Any]:
    """``reducer``, whose whole-log fold (on a worker thread) posts ``more`` once it has
    read the log: events appended between a rebuild's first pass and its swap."""
    assert reducer.fold_tagged is not None
    fold_tagged = reducer.fold_tagged

    def fold(messages: Iterable[Tagged]) -> Any:
        read = list(messages)
        asyncio.run_coroutine_threadsafe(play(store, more), loop).result(timeout=60)
        return fold_tagged(read)

    return Reducer(reducer.name, reducer.fold, fold)


@pytest.mark.parametrize("name", ["counts", "tags", "trending"])
async def test_events_appended_during_the_first_pass_are_in_the_view_swapped_in(
    store: Store, database_url: str, name: str
) -> None:
    await play(store, [(False, [("a", n), ("b", -n)]) for n in range(0, 900, 60)])
    more: History = [(False, [("c", 30), ("a", 2000)]), (True, [("b", -5000)])]
    reducer = posting_midway(VIEWS[name], store, asyncio.get_running_loop(), more)
    position = await store.rebuild_view(reducer, checkpointed=name in CATCH_UP, batch=4)
    assert position == await store.head() == 33
    swapped = await answers(store, database_url)
    assert await rebuild(store, name) == 33  # from the log as it is now
    assert await answers(store, database_url) == swapped


class Stopped(Exception):
    """A rebuild interrupted half way."""


def stopping(reducer: Reducer[Any]) -> Reducer[Any]:
    """``reducer``, whose folds fail once they have read part of the log."""

    def fail(events: Iterable[Any]) -> Any:
        next(iter(events))
        raise Stopped

    return Reducer(reducer.name, fail, None if reducer.fold_tagged is None else fail)


async def test_a_rebuild_stopped_half_way_leaves_the_old_view_serving(
    store: Store, database_url: str
) -> None:
    await play(store, [(False, [("a", n), ("b", n)]) for n in range(0, 3000, 100)])
    for name, reducer in VIEWS.items():
        for each in CATCH_UP.values():
            await catch_up(store, each)
        before = await answers(store, database_url)
        with pytest.raises(Stopped):
            await store.rebuild_view(stopping(reducer), checkpointed=False, batch=7)
        assert await answers(store, database_url) == before, name
        await play(store, [(False, [("c", 1)])])  # posts go on
        assert await rebuild(store, name, batch=7) == await store.head()  # the next one works
    assert len((await answers(store, database_url))["page c"]) == len(VIEWS)


async def test_an_event_this_code_cannot_read_stops_the_rebuild_not_the_view(
    store: Store,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await play(store, [(False, [("a", 1), ("b", 2)])])
    await asyncio.to_thread(append_unknown_event, database_url)
    before = await answers(store, database_url)
    for name in VIEWS:
        with pytest.raises(UnknownEvent, match="cannot read 1 events after position 2 up to 3"):
            await rebuild(store, name, batch=2)
        assert await answers(store, database_url) == before, name

    from tagfeed.cli import main

    monkeypatch.setenv("TAGFEED_DATABASE_URL", database_url)
    assert await asyncio.to_thread(main, ["rebuild", "tags"]) == 1
    assert capsys.readouterr().err == (
        "tagfeed: rebuild failed; the old view is still in place: cannot read 1 events after"
        " position 0 up to 3: only MessagePosted v1 is known; upgrade tagfeed\n"
    )


def append_unknown_event(url: str) -> None:
    """Position 3: a ``MessageEdited``, as a newer tagfeed might append it."""
    values = "3, '018f0000-0000-7000-8000-000000000003', 'MessageEdited', 1, '{}', "
    if url.startswith("sqlite:///"):
        query(url, f"INSERT INTO events VALUES ({values} 0)")
    else:
        query(url, f"INSERT INTO events VALUES ({values} now())")
        query(url, "UPDATE event_head SET position = 3")


# Messages whose payloads test SQLite's decoding of them (``sqlite_views.DECODE_MESSAGES``)
# against the codec's: instants before 1970 and on a whole second, escaped characters,
# text beyond ASCII.
AWKWARD = [
    Message("018f0000-0000-7000-8000-000000000001", 'say "hi"\\', "a", "u", START),
    Message(
        "018f0000-0000-7000-8000-000000000002",
        "tab\there\nnew line \u2028 é 😀 \x01",
        "b",
        "u:1",
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ),
    Message("018f0000-0000-7000-8000-000000000003", "x", "c", "u", datetime(1, 1, 1, tzinfo=UTC)),
    Message(
        "018f0000-0000-7000-8000-000000000004",
        "y",
        "é",
        "u",
        datetime(9999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    ),
]


def test_sqlite_decodes_a_payload_as_the_codec_does(sqlite_url: str) -> None:
    rows = [(i + 1, m.id, message_payload(m).decode()) for i, m in enumerate(AWKWARD)]
    with closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as conn:
        conn.executemany("INSERT INTO events VALUES (?, ?, 'MessagePosted', 1, ?, 0)", rows)
        decoded = conn.execute(sqlite_views.DECODE_MESSAGES, (0, len(rows))).fetchall()
        payloads = "[" + ",".join(row[2] for row in rows) + "]"
    assert decoded == [row_from_message(m) for m in messages_of(payloads)]
    assert decoded == [row_from_message(m) for m in AWKWARD]
