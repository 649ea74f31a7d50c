"""The relay to NATS JetStream (a real server at 127.0.0.1:4222): every event once, in
log order, on its tag's subject; the checkpoint moves only on acks; a restart skips
what the stream holds; a stream of another database is refused."""

import asyncio
import json
import random
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tagfeed.domain.ids import new_message_id
from tagfeed.domain.model import Message
from tagfeed.metrics import Metrics
from tagfeed.relay import NAME
from tagfeed.relay.jetstream import RelayError, StreamSettings, ensure_stream
from tagfeed.relay.relaying import relay
from tagfeed.relay.subjects import subject_token
from tagfeed.store.port import Store, unit_of_work
from tagfeed.store.sqlite import sqlite_path
from tests.integration.relay_helpers import connected, delete_stream, read_back, unique_stream

START = datetime(2026, 11, 30, tzinfo=UTC)
TAGS = ("alpha", "beta-2", "café", "under_score")


@pytest.fixture
async def stream() -> AsyncIterator[StreamSettings]:
    settings = unique_stream()
    yield settings
    await delete_stream(settings.name)


async def post(store: Store, count: int, *, seed: int = 0, per_unit: int = 7) -> None:
    rng = random.Random(seed)
    for first in range(0, count, per_unit):
        async with unit_of_work(store) as work:
            for n in range(first, min(first + per_unit, count)):
                at = START + timedelta(seconds=rng.randrange(86_400))
                tag = TAGS[rng.randrange(len(TAGS))]
                work.add_message(Message(new_message_id(at), f"m{seed}-{n}", tag, "u", at))
            await work.commit()


async def checkpoint(store: Store) -> int:
    async with store.reducer_session(NAME) as session:
        return session.position


async def relay_until(
    store: Store,
    stream: StreamSettings,
    position: int,
    batch: int,
    metrics: Metrics | None = None,
) -> None:
    """Run the relay until its checkpoint reaches ``position``, then stop it."""
    async with connected() as nc:
        await ensure_stream(nc.jetstream(), stream)
        task = asyncio.create_task(relay(store, nc, stream, batch=batch, idle=0.2, metrics=metrics))
        try:
            async with asyncio.timeout(60):
                while True:
                    info = await nc.jetstream().stream_info(stream.name)
                    if info.state.last_seq and task.done() is False:
                        last = await nc.jetstream().get_msg(stream.name, info.state.last_seq)
                        if int((last.headers or {})["Tagfeed-Position"]) >= position:
                            break
                    if task.done():
                        task.result()  # raises what stopped it
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # the checkpoint follows the last ack
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_every_event_once_in_log_order_on_its_tags_subject(
    store: Store, stream: StreamSettings
) -> None:
    await post(store, 1234)
    metrics = Metrics()
    await relay_until(store, stream, 1234, batch=100, metrics=metrics)
    relayed = await read_back(stream)
    events = await store.read_events(0, 10_000)
    assert [r.position for r in relayed] == list(range(1, 1235))
    assert [r.msg_id for r in relayed] == [e.event_id for e in events]
    assert [r.payload for r in relayed] == [e.payload for e in events]
    for r in relayed:
        tag = json.loads(r.payload)["tag"]
        assert r.subject == f"{stream.subject_prefix}.{subject_token(tag)}"
    assert await checkpoint(store) == 1234
    # The relay reports its checkpoint as a reducer's (tagfeed_reducer_*{reducer="relay"}).
    relay_labels = {"reducer": NAME}
    assert metrics.registry.get_sample_value("tagfeed_reducer_position", relay_labels) == 1234
    assert metrics.registry.get_sample_value("tagfeed_reducer_lag_events", relay_labels) == 0


async def test_a_restart_goes_on_from_the_checkpoint_and_adds_no_copy(
    store: Store, stream: StreamSettings
) -> None:
    await post(store, 300)
    await relay_until(store, stream, 300, batch=64)
    await post(store, 200, seed=1)
    await relay_until(store, stream, 500, batch=64)
    relayed = await read_back(stream)
    assert [r.position for r in relayed] == list(range(1, 501))
    assert [r.seq for r in relayed] == list(range(1, 501))


async def test_a_checkpoint_behind_the_stream_skips_what_the_stream_holds(
    store: Store, stream: StreamSettings, database_url: str
) -> None:
    """Killed after JetStream stored a batch but before the checkpoint moved: the next
    relay starts from the stream's last message, not from the checkpoint."""
    await post(store, 250)
    await relay_until(store, stream, 250, batch=50)
    async with store.reducer_session(NAME) as session:
        assert session.position == 250
    # The checkpoint as if the last batches' acks never came back.
    await _set_checkpoint(database_url, 100)
    await post(store, 50, seed=2)
    await relay_until(store, stream, 300, batch=50)
    relayed = await read_back(stream)
    assert [r.position for r in relayed] == list(range(1, 301))
    assert await checkpoint(store) == 300


async def _set_checkpoint(database_url: str, position: int) -> None:
    """Stand for a crash between JetStream's ack and the checkpoint's commit: the
    checkpoint row is behind the stream."""
    sql = f"UPDATE reducer_checkpoints SET position = {position} WHERE name = 'relay'"
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(sqlite_path(database_url)) as conn:
            conn.execute(sql)
        return
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def test_a_stream_ahead_of_the_log_is_refused(
    store: Store, stream: StreamSettings, database_url: str
) -> None:
    await post(store, 40)
    await relay_until(store, stream, 40, batch=10)
    await _set_checkpoint(database_url, 0)
    other = await _fresh_log_of(store)
    async with connected() as nc, asyncio.timeout(30):
        with pytest.raises(RelayError, match="another database"):
            await relay(other, nc, stream, batch=10, idle=0.1)


async def _fresh_log_of(store: Store) -> Store:
    """A store whose log is shorter than the stream: the same database with the relay's
    checkpoint reset and fewer events is not possible (the log is append-only), so use
    a store that pretends its head is lower."""

    class Shorter:
        def __getattr__(self, name: str) -> object:
            return getattr(store, name)

        async def head(self) -> int:
            return 10

    return Shorter()  # type: ignore[return-value]


async def test_creating_the_stream_is_idempotent_and_restores_its_settings(
    stream: StreamSettings,
) -> None:
    async with connected() as nc:
        js = nc.jetstream()
        await ensure_stream(js, stream)
        await ensure_stream(js, stream)  # nothing to change
        first = (await js.stream_info(stream.name)).config
        assert first.subjects == [f"{stream.subject_prefix}.>"]
        assert first.duplicate_window == stream.duplicate_window_seconds
        assert first.num_replicas == 1
        await js.update_stream(first.evolve(duplicate_window=30.0, max_age=3600.0))
        await ensure_stream(js, stream)
        again = (await js.stream_info(stream.name)).config
        assert again.duplicate_window == stream.duplicate_window_seconds
        assert again.max_age == stream.max_age_days * 86_400


async def test_a_republished_event_is_dropped_as_a_duplicate(stream: StreamSettings) -> None:
    """What makes a republish after a crash harmless within the window: the same
    Nats-Msg-Id is stored once."""
    async with connected() as nc:
        js = nc.jetstream()
        await ensure_stream(js, stream)
        headers = {"Nats-Msg-Id": "0190-same-event"}
        first = await js.publish(f"{stream.subject_prefix}.t", b"{}", headers=headers)
        second = await js.publish(f"{stream.subject_prefix}.t", b"{}", headers=headers)
        assert (first.seq, bool(first.duplicate)) == (1, False)
        assert (second.seq, bool(second.duplicate)) == (1, True)
        assert (await js.stream_info(stream.name)).state.messages == 1
