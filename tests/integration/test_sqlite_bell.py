"""SQLite's wake-up across processes (``store/sqlite_bell.py``): an append by another
process wakes a wait for the head at once, not at the fallback re-read of the head."""

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tagfeed.store.sqlite import SQLiteStore
from tests.integration.test_event_log import a_message, append

# Another process: opens the same database, appends one message per line it reads.
APPENDER = """
import asyncio, sys
from tests.integration.test_event_log import a_message, append
from tagfeed.store.sqlite import SQLiteStore
from tests.integration.test_event_log import a_message, append

async def main() -> None:
    store = SQLiteStore(sys.argv[1], timeout=5)
    await store.open()
    print("ready", flush=True)
    for n, _ in enumerate(sys.stdin):
        print(await append(store, a_message(n)), flush=True)
    await store.close()

asyncio.run(main())
"""
ROOT = Path(__file__).resolve().parents[2]  # so that the other process imports tests.*
# Well under the half-second re-read without a bell, let alone the 5 s with one.
PROMPT = 0.4


async def test_an_append_by_another_process_wakes_a_wait_for_the_head(sqlite_url: str) -> None:
    store = SQLiteStore(sqlite_url, timeout=5)
    await store.open()
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", APPENDER, sqlite_url,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )  # fmt: skip
    assert other.stdin is not None
    assert other.stdout is not None
    try:
        assert await asyncio.wait_for(other.stdout.readline(), 30) == b"ready\n"
        head = await store.head()
        for n in range(3):
            waiting = asyncio.create_task(store.wait_for_head(head, 10))
            await asyncio.sleep(0.05)  # the wait is under way (and the bell watched)
            asked = time.monotonic()
            other.stdin.write(b"append\n")
            assert await asyncio.wait_for(waiting, 10) == head + 1
            woken = time.monotonic() - asked
            assert woken < PROMPT, f"append {n}: woken after {woken:.3f} s"
            assert await other.stdout.readline() == b"[%d]\n" % (head + 1)
            head += 1
    finally:
        other.stdin.close()
        await asyncio.wait_for(other.wait(), 30)
        await store.close()


@asynccontextmanager
async def two_stores(url: str) -> AsyncIterator[tuple[SQLiteStore, SQLiteStore]]:
    """Two stores on one file, as two processes would hold it: the waiter and the writer."""
    store = SQLiteStore(url, timeout=5)
    await store.open()
    other = SQLiteStore(url, timeout=5)
    await other.open()
    try:
        yield store, other
    finally:
        await other.close()
        await store.close()


async def test_a_ring_while_nobody_waits_is_read_by_the_next_wait(sqlite_url: str) -> None:
    """The last append before a quiet spell rings while the reducer is busy applying:
    its next wait must read the head first, not sleep until the fallback re-read."""
    async with two_stores(sqlite_url) as (store, other):
        head = await store.wait_for_head(await store.head(), 0.01)  # the bell watched
        await append(other, a_message(1))
        await asyncio.sleep(0.2)  # the ring arrives, nobody waiting
        asked = time.monotonic()
        assert await store.wait_for_head(head, 10) == head + 1
        assert time.monotonic() - asked < PROMPT


async def test_the_first_wait_reads_what_was_appended_before_the_bell_was_watched(
    sqlite_url: str,
) -> None:
    async with two_stores(sqlite_url) as (store, other):
        head = await store.head()
        await append(other, a_message(1))  # rings before anyone here watches the bell
        asked = time.monotonic()
        assert await store.wait_for_head(head, 10) == head + 1
        assert time.monotonic() - asked < PROMPT
