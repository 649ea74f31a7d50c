"""Regressions found by the fault tests (``make faults``), kept here because they are cheap."""

import asyncio
import sqlite3
import time
from pathlib import Path

import asyncpg
import pytest

from tagfeed.metrics import Metrics
from tagfeed.store.errors import StoreUnavailable
from tagfeed.store.migrate import upgrade
from tagfeed.store.postgres import PostgresStore
from tagfeed.store.sqlite import SQLiteStore
from tests.integration.helpers import seed

SOME_ID = "0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f60"


TIMEOUT = 3.0


async def test_sqlite_locked_at_start_never_blocks_the_event_loop(tmp_path: Path) -> None:
    """Another process holds the file in exclusive locking mode when the store opens its
    event-loop reader: reads get StoreUnavailable within the timeout, and the event loop
    (every other request) waits at most the inline busy wait (50 ms), not the timeout."""
    path = tmp_path / "tagfeed.db"
    upgrade(f"sqlite:///{path}")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("SELECT count(*) FROM messages").fetchall()
    store = SQLiteStore(f"sqlite:///{path}", timeout=TIMEOUT)
    await store.open()
    gaps: list[float] = []

    async def tick() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    async def read() -> float:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.get(SOME_ID)
        return time.monotonic() - started

    ticker = asyncio.create_task(tick())
    try:
        durations = await asyncio.gather(*(read() for _ in range(3)))
    finally:
        ticker.cancel()
        holder.close()
        await store.close()
    # Time is the behaviour here, so the bounds are generous for a loaded 2-core machine.
    # A loop that waited the whole timeout inline would stall for 3 s at once, while the
    # inline busy wait is 50 ms: half the timeout leaves room for the scheduler and
    # still tells the two apart.
    assert len(gaps) > 10  # the ticker ran while the reads waited
    assert max(gaps) < TIMEOUT / 2
    # A read ends at its timeout, give or take scheduling (seconds at worst).
    assert max(durations) < TIMEOUT + 5


@pytest.mark.postgres
async def test_postgres_connection_failing_as_its_server_shuts_down_is_503(
    postgres_url: str,
) -> None:
    """A pooled connection whose server has just sent its shutdown error may fail with
    asyncpg's InternalClientError before the socket is seen closed: a 503, not a 500,
    counted as a failed call of its operation."""
    metrics = Metrics()
    store = PostgresStore(postgres_url, timeout=1.0, metrics=metrics)
    await store.open()

    async def farewell(conn: asyncpg.Connection) -> None:
        raise asyncpg.InternalClientError("cannot switch to state 15; another operation (2)")

    try:
        with pytest.raises(StoreUnavailable):
            await store._run("get", farewell)
        # The connection went back to the pool: none is lent out any more.
        assert metrics.registry.get_sample_value("tagfeed_postgres_pool_in_use") == 0
    finally:
        await store.close()
    errors = metrics.registry.get_sample_value("tagfeed_db_call_errors_total", {"op": "get"})
    assert errors == 1


@pytest.mark.postgres
async def test_postgres_write_to_a_server_not_yet_primary_is_503(postgres_url: str) -> None:
    """During a failover the router may hand out a connection to the standby being
    promoted before it accepts writes: the post is refused as unavailable (503, the
    client retries), not as a fault of ours (500). Read-only sessions stand for it."""
    # asyncpg passes an unknown DSN parameter on as a server setting.
    separator = "&" if "?" in postgres_url else "?"
    store = PostgresStore(
        f"{postgres_url}{separator}default_transaction_read_only=on", timeout=TIMEOUT
    )
    await store.open()
    try:
        with pytest.raises(StoreUnavailable):
            await seed(store, ("failover", "2026-12-01T12:00:00"))
    finally:
        await store.close()


@pytest.mark.postgres
async def test_postgres_gives_up_after_the_client(postgres_url: str) -> None:
    """The server's statement_timeout outlasts the client's: a COMMIT cancelled on the
    server while it waits for the synchronous standby would be reported committed (a
    WARNING only) and its post acknowledged before the standby had it; cancelled by the
    client, it is a 503 and the post is not acknowledged."""
    store = PostgresStore(postgres_url, timeout=TIMEOUT)
    await store.open()
    try:
        shown = await store._run("get", lambda conn: conn.fetchval("SHOW statement_timeout"))
    finally:
        await store.close()
    assert shown.endswith("s")
    assert not shown.endswith("ms")
    assert float(shown[:-1]) > TIMEOUT


async def test_sqlite_writer_survives_a_unit_that_breaks_it(tmp_path: Path) -> None:
    """A bug in one unit (here a message the adapter cannot convert) fails that batch
    with StoreError; the writer thread lives on and the next unit commits."""
    from datetime import UTC, datetime

    from tagfeed.domain.model import Message
    from tagfeed.store.errors import StoreError
    from tagfeed.store.port import unit_of_work

    url = f"sqlite:///{tmp_path / 'tagfeed.db'}"
    upgrade(url)
    store = SQLiteStore(url, timeout=2.0)
    await store.open()
    try:
        broken = Message(SOME_ID, "x", "t", "u", None)  # type: ignore[arg-type]
        async with unit_of_work(store) as work:
            work.add_message(broken)
            with pytest.raises(StoreError):
                await work.commit()
        fine = Message(SOME_ID, "x", "t", "u", datetime(2026, 1, 1, tzinfo=UTC))
        async with unit_of_work(store) as work:
            work.add_message(fine)
            await work.commit()
        assert await store.get(SOME_ID) == fine
    finally:
        await store.close()
