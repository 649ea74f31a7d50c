"""``tagfeed relay`` SIGKILLed ten times while posts go on: afterwards the JetStream
stream holds every event of the log exactly once, in log order, read back message by
message: as many messages as events, positions 1..head, each ``Nats-Msg-Id`` the event
id of the log at that position, stream sequences without a gap.

The log starts with 20,000 events (a backlog to publish in batches), and posts go on over
HTTP the whole time (``fault_rounds.posts_meanwhile``). Each round starts the relay with
a batch of 50 or 500 and kills it at a random instant: mid-batch, between an ack and its
checkpoint, or while following the posts. A last relay then catches up.
"""

import asyncio
import os
import random
import signal
import time
from pathlib import Path

import pytest

from tagfeed.config import Settings
from tagfeed.domain.events import StoredEvent
from tagfeed.relay import NAME
from tagfeed.store.factory import store_from_settings
from tests.faults.fault_rounds import kill_rounds, posts_meanwhile
from tests.faults.fault_tally import TALLY
from tests.integration.relay_helpers import delete_stream, read_back, start_relay, unique_stream
from tests.integration.test_reducers import query
from tests.integration.test_relay import post

pytestmark = pytest.mark.faults

ROUNDS = int(os.environ.get("TAGFEED_FAULT_ROUNDS", "10"))


async def _preload(url: str, count: int) -> None:
    store = store_from_settings(Settings(database_url=url))
    await store.open()
    try:
        await post(store, count, seed=0, per_unit=50)
    finally:
        await store.close()


async def _log(url: str) -> list[StoredEvent]:
    store = store_from_settings(Settings(database_url=url))
    await store.open()
    try:
        events: list[StoredEvent] = []
        while page := await store.read_events(events[-1].position if events else 0, 10_000):
            events += page
        return events
    finally:
        await store.close()


def _checkpoint(url: str) -> int:
    rows = query(url, f"SELECT position FROM reducer_checkpoints WHERE name = '{NAME}'")
    return int(rows[0][0]) if rows else 0


async def test_a_relay_killed_ten_times_under_load_relays_every_event_once(
    backend: tuple[str, str], tmp_path: Path
) -> None:
    name, url = backend
    stream = unique_stream()
    log = tmp_path / "relay.log"
    rng = random.Random(int(os.environ.get("TAGFEED_FAULT_SEED", "9")))
    await _preload(url, 20_000)
    checkpoints: list[int] = []
    try:
        async with posts_meanwhile(url, tmp_path):
            await kill_rounds(
                lambda _: [(start_relay(url, stream, log, rng.choice([50, 500])), log)],
                ROUNDS,
                rng,
                lambda _: checkpoints.append(_checkpoint(url)),
            )
        events = await _log(url)
        relay = start_relay(url, stream, log)
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                relayed = await read_back(stream)
                if relayed and relayed[-1].position >= len(events):
                    break
                await asyncio.sleep(1)
        finally:
            relay.send_signal(signal.SIGTERM)
            await asyncio.to_thread(relay.wait, 30)
        relayed = await read_back(stream)
    finally:
        await delete_stream(stream.name)
    print(f"relay-{name}: checkpoints after each kill {checkpoints}; head {len(events)}")
    assert len(set(checkpoints)) > ROUNDS // 2, f"the relay hardly moved: {checkpoints}"
    head = len(events)
    assert [e.position for e in events] == list(range(1, head + 1))
    assert len(relayed) == head
    assert [r.position for r in relayed] == list(range(1, head + 1))
    assert [r.msg_id for r in relayed] == [e.event_id for e in events]
    assert [r.seq for r in relayed] == list(range(1, head + 1))
    TALLY.kill(f"relay-{name}", ROUNDS)
