"""``tagfeed relay`` SIGKILLed ten times while posts go on: afterwards the JetStream
stream holds every event of the log exactly once, in log order (read back message by
message: positions 1..head, each Nats-Msg-Id once, stream sequences without a gap).

Each round starts the relay as a process of its own, lets it publish for a random
0.3-1.5 s while the test appends more events, and kills it with SIGKILL: mid-batch,
between an ack and its checkpoint, or while idle. A last relay then catches up.
"""

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tagfeed.config import Settings
from tagfeed.store.factory import store_from_settings
from tests.integration.relay_helpers import delete_stream, read_back, unique_stream
from tests.integration.test_relay import post

pytestmark = pytest.mark.faults

ROUNDS = int(os.environ.get("TAGFEED_FAULT_ROUNDS", "10"))


async def _post(url: str, count: int, seed: int) -> int:
    store = store_from_settings(Settings(database_url=url))
    await store.open()
    try:
        await post(store, count, seed=seed, per_unit=50)
        return await store.head()
    finally:
        await store.close()


def test_a_relay_killed_ten_times_under_load_relays_every_event_once(
    backend: tuple[str, str], tmp_path: Path
) -> None:
    _, url = backend
    stream = unique_stream()
    env = {
        **os.environ,
        "TAGFEED_DATABASE_URL": url,
        "TAGFEED_LOG_LEVEL": "warning",
        "TAGFEED_REDUCER_LEASE_SECONDS": "1",  # SQLite: take over from the killed at once
        "TAGFEED_NATS_STREAM": stream.name,
        "TAGFEED_NATS_SUBJECT_PREFIX": stream.subject_prefix,
    }
    rng = random.Random(9)
    head = asyncio.run(_post(url, 20_000, 0))

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "tagfeed", "relay", "--batch-size", str(rng.choice([50, 500]))],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    try:
        for round_ in range(ROUNDS):
            relay = start()
            try:
                time.sleep(0.8)  # interpreter start
                head = asyncio.run(_post(url, rng.randrange(500, 3000), round_ + 1))
                time.sleep(rng.uniform(0.3, 1.5))
            finally:
                relay.send_signal(signal.SIGKILL)
                relay.wait(timeout=30)
        relay = start()
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                relayed = asyncio.run(read_back(stream))
                if relayed and relayed[-1].position >= head:
                    break
                time.sleep(1)
        finally:
            relay.send_signal(signal.SIGTERM)
            relay.wait(timeout=30)
        relayed = asyncio.run(read_back(stream))
        assert [r.position for r in relayed] == list(range(1, head + 1))
        assert len({r.msg_id for r in relayed}) == head
        assert [r.seq for r in relayed] == list(range(1, head + 1))
    finally:
        asyncio.run(delete_stream(stream.name))
