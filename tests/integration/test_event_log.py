"""The event log: every post appends its MessagePosted in the post's own transaction;
positions are strictly increasing in commit order, with no gap any reader could skip,
also under concurrent writers; the log refuses changes; responses say the position
they reflect."""

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from tagfeed.config import Settings
from tagfeed.domain.events import MESSAGE_POSTED
from tagfeed.domain.ids import new_message_id
from tagfeed.domain.model import Message
from tagfeed.store.codec import decode, message_payload
from tagfeed.store.factory import store_from_settings
from tagfeed.store.migrate import upgrade
from tagfeed.store.port import ImportBatch, Store, StoredEvent, unit_of_work
from tagfeed.store.sqlite import sqlite_path

NEW = {"text": "hello log", "tag": "events"}


def a_message(n: int, tag: str = "log") -> Message:
    at = datetime.now(UTC) + timedelta(microseconds=n)
    return Message(new_message_id(at), f"message {n}", tag, "u", at)


async def append(store: Store, *messages: Message) -> list[int]:
    async with unit_of_work(store) as work:
        for message in messages:
            work.add_message(message)
        await work.commit()
    return work.positions


async def follow(store: Store, until: int, after: int = 0) -> list[StoredEvent]:
    """Read the log in small pages until position ``until``, as a follower would."""
    seen: list[StoredEvent] = []
    while after < until:
        page = await store.read_events(after, 7)
        if not page:
            await asyncio.sleep(0.001)
            continue
        seen += page
        after = page[-1].position
    return seen


async def test_a_post_appends_its_event_with_the_message_as_payload(
    client: httpx.AsyncClient, store: Store
) -> None:
    assert await store.head() == 0
    created = await client.post("/v1/messages", json=NEW)
    assert created.status_code == 201, created.text
    position = int(created.headers["tagfeed-position"])
    assert position == 1 == await store.head()
    [event] = await store.read_events(0, 10)
    body = created.json()
    assert (event.position, event.event_id, event.type, event.version) == (
        1,
        body["id"],
        MESSAGE_POSTED,
        1,
    )
    assert json.loads(event.payload) == body  # the message as the API shows it
    assert decode(event).event.message == await store.get(body["id"])
    assert abs(event.recorded_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert await store.read_events(1, 10) == []


async def test_reads_say_a_position_they_reflect(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/messages", json=NEW)
    position = int(created.headers["tagfeed-position"])
    second = await client.post("/v1/messages", json=NEW)
    assert int(second.headers["tagfeed-position"]) == position + 1
    for path in (
        created.headers["location"],
        "/v1/messages?tag=events",
        "/v1/messages?tag=events&count=1",
        "/v1/messages/counts?tag=events",
    ):
        read = await client.get(path)
        assert read.status_code == 200, read.text
        assert int(read.headers["tagfeed-position"]) >= position + 1, path
    assert (await client.get("/v1/messages?tag=events&count=1")).json() == 2


async def test_an_idempotent_replay_says_a_position_past_the_first_answer(
    client: httpx.AsyncClient,
) -> None:
    key = {"Idempotency-Key": "log-replay-1"}
    first = await client.post("/v1/messages", json=NEW, headers=key)
    again = await client.post("/v1/messages", json=NEW, headers=key)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert int(again.headers["tagfeed-position"]) >= int(first.headers["tagfeed-position"]) > 0


async def test_positions_number_the_units_in_commit_order(store: Store) -> None:
    first = await append(store, a_message(1), a_message(2))
    second = await append(store, a_message(3))
    assert first == [1, 2]
    assert second == [3]
    events = await store.read_events(0, 100)
    assert [e.position for e in events] == [1, 2, 3]
    assert [decode(e).event.message.text for e in events] == ["message 1", "message 2", "message 3"]
    assert [e.position for e in await store.read_events(1, 1)] == [2]


async def test_a_unit_refused_appends_nothing(store: Store) -> None:
    taken = a_message(1)
    await append(store, taken)
    with pytest.raises(Exception):  # noqa: B017,PT011 -- the backends word it differently
        await append(store, a_message(2), taken)
    assert await store.head() == 1
    assert [e.event_id for e in await store.read_events(0, 10)] == [taken.id]
    assert [await append(store, a_message(3))] == [[2]]  # no gap after the refusal


@pytest.mark.parametrize("writers", [8])
async def test_concurrent_writers_and_a_follower_see_every_position_once_in_order(
    settings: Settings, writers: int
) -> None:
    """Several stores (on PostgreSQL 8 pooled connections each; on SQLite several writer
    threads on one file, as several --workers are) append at once while a follower
    reads: it must see 1..N, each once, in order, none skipped."""
    per_writer = 40
    stores = [store_from_settings(settings) for _ in range(3)]
    for each in stores:
        await each.open()
    try:
        total = writers * per_writer

        async def writer(number: int) -> None:
            chosen = stores[number % len(stores)]
            for i in range(per_writer):
                await append(chosen, a_message(number * 1000 + i, f"w{number}"))

        reader = asyncio.create_task(follow(stores[0], total))
        await asyncio.gather(*(writer(n) for n in range(writers)))
        seen = await asyncio.wait_for(reader, 60)
        assert [e.position for e in seen] == list(range(1, total + 1))
        assert len({e.event_id for e in seen}) == total
        # Each writer's own events come in the order it appended them.
        for number in range(writers):
            texts = [
                decode(e).event.message.text
                for e in seen
                if decode(e).event.message.tag == f"w{number}"
            ]
            assert texts == [f"message {number * 1000 + i}" for i in range(per_writer)]
    finally:
        for each in stores:
            await each.close()


async def test_waiting_for_the_head_wakes_on_an_append(store: Store) -> None:
    await append(store, a_message(1))
    head = await store.head()
    waiter = asyncio.create_task(store.wait_for_head(head, 10))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await append(store, a_message(2))
    assert await asyncio.wait_for(waiter, 5) == head + 1
    assert await store.wait_for_head(head + 5, 0.05) == head + 1  # times out: as it is


@pytest.mark.postgres
async def test_postgres_refuses_to_change_the_log(postgres_url: str) -> None:
    store = store_from_settings(Settings(database_url=postgres_url))
    await store.open()
    try:
        await append(store, a_message(1))
    finally:
        await store.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        before = await conn.fetchval("SELECT count(*) FROM events")
        assert before >= 1
        for sql in (
            "UPDATE events SET type = 'Other'",
            "DELETE FROM events",
            "TRUNCATE events",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(sql)
        assert await conn.fetchval("SELECT count(*) FROM events") == before
    finally:
        await conn.close()


async def test_sqlite_refuses_to_change_the_log(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    upgrade(url)
    store = store_from_settings(Settings(database_url=url))
    await store.open()
    try:
        await append(store, a_message(1))
    finally:
        await store.close()
    with sqlite3.connect(sqlite_path(url)) as conn:
        for sql in ("UPDATE events SET type = 'Other'", "DELETE FROM events"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1


def test_the_migration_turns_existing_messages_into_events(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    upgrade(url, "0005")
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO messages VALUES (?, ?, ?, ?, ?)",
            [
                ("b", 'say "hi" é', "t", "u", 1_000_001),
                ("a", "before 1970", "t", "u", -1),
            ],
        )
    upgrade(url)
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT position, event_id, payload FROM events ORDER BY 1").fetchall()
    assert [(p, i) for p, i, _ in rows] == [(1, "a"), (2, "b")]  # oldest first
    assert json.loads(rows[0][2]) == {
        "id": "a",
        "text": "before 1970",
        "tag": "t",
        "user_id": "u",
        "created_at": "1969-12-31T23:59:59.999999Z",
    }
    assert json.loads(rows[1][2])["created_at"] == "1970-01-01T00:00:01.000001Z"
    assert json.loads(rows[1][2])["text"] == 'say "hi" é'


def awkward(n: int) -> Message:
    """A message whose text needs every kind of escaping JSON has, and more."""
    at = datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC) + timedelta(seconds=n)
    text = f'{n}: say "hi" \\ tab\there\nnew line \u2028 é 😀 \x01 </script>'
    return Message(f"018f0000-0000-7000-8000-{n:012d}", text, "awkward", "u:1", at)


async def test_the_log_stores_each_payload_as_the_codec_writes_it(store: Store) -> None:
    """Streams and the relay hand the stored bytes on unchanged: whichever way the store
    carries payloads to the database (SQLite: one JSON array of objects, rendered back
    by SQLite), a post's and an import's are the codec's bytes."""
    posted = [awkward(1), awkward(2)]
    await append(store, *posted)
    imported = [awkward(3), awkward(4)]
    batch = ImportBatch([1, 2], [tuple(m) for m in imported])  # type: ignore[misc]
    assert await store.import_messages([batch], lambda number: None) == 2
    events = await store.read_events(0, 10)
    assert [bytes(e.payload) for e in events] == [message_payload(m) for m in [*posted, *imported]]


async def test_an_import_appends_its_events_after_the_posts(store: Store) -> None:
    posted = a_message(1)
    await append(store, posted)
    rows = [tuple(a_message(n, "imported")) for n in range(2, 6)]
    batch = ImportBatch([10, 11, 12, 13, 14], [*rows, tuple(posted)])  # type: ignore[list-item]
    refused: list[int] = []
    assert await store.import_messages([batch], refused.append) == 4
    assert refused == [14]  # the line whose id was taken
    events = await store.read_events(0, 100)
    assert [e.position for e in events] == [1, 2, 3, 4, 5]
    assert [e.event_id for e in events[1:]] == [row[0] for row in rows]
    assert await store.head() == 5
    assert await append(store, a_message(9)) == [6]  # the writer's head moved on too


async def test_a_refused_unit_among_concurrent_ones_fails_alone(store: Store) -> None:
    """Posts that arrive together are appended together (group commit on both
    backends); one whose id is taken fails alone, and the log has no gap."""
    taken = a_message(0)
    await append(store, taken)
    units = [[a_message(n)] for n in range(1, 12)]
    units[5] = [a_message(99), taken]
    results = await asyncio.gather(
        *(append(store, *unit) for unit in units), return_exceptions=True
    )
    assert [i for i, r in enumerate(results) if isinstance(r, BaseException)] == [5]
    events = await store.read_events(0, 100)
    assert [e.position for e in events] == list(range(1, 12))
    assert sorted(p for r in results if isinstance(r, list) for p in r) == list(range(2, 12))
