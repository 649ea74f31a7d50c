"""SQLite's one writing connection, on a thread of its own.

It commits concurrent units of work together (group commit): it drains whatever is
queued and pays for one COMMIT (and with ``synchronous=FULL`` one fsync) per batch; a
unit that fails is rolled back alone (``Writer._write_batch``). A unit is acknowledged
only after that COMMIT returns. Each unit's events are appended to the log in that
transaction, with what the inline reducers (messages, counts) make of them. Between
batches it runs the catch-up reducers' transactions of this process (``WriterSession``).
"""

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from tagfeed.domain.ids import epoch_micros, from_epoch_micros
from tagfeed.metrics import Metrics
from tagfeed.store import sqlite_log
from tagfeed.store.errors import StoreError, StoreTimeout, StoreUnavailable
from tagfeed.store.head import HeadWatch
from tagfeed.store.port import IdempotencyRecord, UnitOfWork
from tagfeed.store.sqlite_bell import Bell
from tagfeed.store.sqlite_errors import translate_error
from tagfeed.store.sqlite_views import SQLiteReducerSession

# The most units of work one group commit takes from the queue.
MAX_BATCH = 512
_FIND_KEY = (
    "SELECT fingerprint, status, location, created_at, body FROM idempotency_keys"
    " WHERE user_id = ? AND key = ?"
)
# Replaces an expired record of the same key (a live one was ruled out just before).
_SAVE_KEY = "INSERT OR REPLACE INTO idempotency_keys VALUES (?, ?, ?, ?, ?, ?, ?)"


def _write_unit(conn: sqlite3.Connection, work: UnitOfWork, head: int, now: datetime) -> int:
    """Write one unit inside the caller's savepoint, its events after ``head``; return
    how many it appended. Unless its idempotency key is already held: then nothing is
    written and ``work.held_by`` tells by what. Units run one after another on the
    writer's connection, so a key claimed earlier in the same batch is seen here too."""
    claim = work.claim
    if claim is not None:
        record = claim.record
        row = conn.execute(_FIND_KEY, (record.user_id, record.key)).fetchone()
        if row is not None and row[3] >= epoch_micros(claim.not_before):
            work.held_by = IdempotencyRecord(
                record.user_id,
                record.key,
                row[0],
                row[1],
                row[2],
                row[4],
                from_epoch_micros(row[3]),
            )
            return 0
    conn.execute(sqlite_log.APPLY, sqlite_log.apply_params(head, work.events, now))
    if claim is not None:
        record = claim.record
        conn.execute(
            _SAVE_KEY,
            (
                record.user_id,
                record.key,
                record.fingerprint,
                record.status,
                record.location,
                record.body,
                epoch_micros(record.created_at),
            ),
        )
    return len(work.events)


# Work for the writer thread besides units of work: a catch-up reducer's transaction.
Task = Callable[[sqlite3.Connection], None]


@dataclass(slots=True)
class _Pending:
    work: UnitOfWork | Task
    future: "asyncio.Future[None]"
    loop: asyncio.AbstractEventLoop


Outcome = tuple[_Pending, BaseException | None]


def _unit(pending: _Pending) -> UnitOfWork:
    """The unit of work of a pending post (the writer sorts them from tasks first)."""
    return cast(UnitOfWork, pending.work)


def _settle(outcomes: list[Outcome], watch: HeadWatch, head: int) -> None:
    watch.advance(head)
    for pending, error in outcomes:
        if pending.future.done():  # the waiter gave up (timeout or cancellation)
            continue
        if error is None:
            pending.future.set_result(None)
        else:
            pending.future.set_exception(error)


def _give_positions(live: list[_Pending], head: int) -> int:
    """Number each unit's events from ``head`` on, in batch order; the new head."""
    for pending in live:
        work = _unit(pending)
        count = len(work.events)
        work.positions = list(range(head + 1, head + 1 + count))
        head += count
    return head


class Writer:
    """The thread that owns the only writing connection. Units of work queued while it
    commits go together into its next batch (``_write_batch``); a catch-up reducer's
    transaction (``run``) goes in between batches, on the same connection, so a reducer
    in the server never waits for the file's lock behind the write path (nor makes it
    wait). After each append it rings ``bell`` (other processes) and advances ``watch``
    on the waiters' event loops (this one)."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        synchronous: str,
        timeout: float,
        bell: Bell,
        watch: HeadWatch,
        metrics: Metrics | None,
    ) -> None:
        self._connect = connect  # a new writing connection (made on the thread)
        self._synchronous = synchronous
        self._timeout = timeout
        self._bell = bell
        self._watch = watch
        self._metrics = metrics  # None: metrics off, nothing recorded
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._head: int | None = None  # the last position appended; the thread's own

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sqlite-write", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Let the thread finish what is queued, then end it."""
        if self._thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    async def apply(self, work: UnitOfWork) -> None:
        """Queue the unit for the writer and wait for its commit; timed from the queue to
        the result, so the wait for the group commit counts."""
        metrics = self._metrics
        if metrics is None:
            await self._submit(work)
            return
        started = time.perf_counter()
        try:
            await self._submit(work)
        except StoreError:
            metrics.observe_db_call("apply", time.perf_counter() - started, False)
            raise
        metrics.observe_db_call("apply", time.perf_counter() - started, True)

    async def _submit(self, work: UnitOfWork | Task) -> None:
        """Queue ``work`` for the thread and wait, within the timeout, until it is done."""
        if self._thread is None:
            raise StoreUnavailable("the SQLite store is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Pending(work, future, loop))
        try:
            async with asyncio.timeout(self._timeout):
                await future
        except TimeoutError:
            raise StoreTimeout("SQLite did not commit within the timeout") from None

    def _wake(self, outcomes: list[Outcome], head: int) -> None:
        """Settle a batch's futures, and tell the loops the new head, with one wake-up
        per event loop: each call_soon_threadsafe costs a write to the loop's self-pipe."""
        by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].loop, []).append(outcome)
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_settle, settled, self._watch, head)

    def _loop(self) -> None:
        conn: sqlite3.Connection | None = None
        while True:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            stopping = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            units = [p for p in batch if isinstance(p.work, UnitOfWork)]
            if units and self._metrics is not None:  # thread-safe
                self._metrics.writer_batch(len(units), self._queue.qsize())
            try:
                if conn is None:
                    conn = self._connect()
                    for statement in sqlite_log.APPLY_SETUP:
                        conn.execute(statement)
                if units:
                    self._write_batch(conn, units)
            except Exception as exc:  # the thread must outlive any one batch
                self._head = None  # read it again: the batch may have failed on it
                error = (
                    translate_error(exc)
                    if isinstance(exc, sqlite3.Error)
                    else StoreError(f"SQLite writer failed: {exc!r}")
                )
                self._wake([(pending, error) for pending in batch], 0)
                conn = self._rolled_back(conn)
                if stopping:
                    break
                continue
            for pending in batch:
                if not isinstance(pending.work, UnitOfWork):
                    conn = self._run_task(conn, pending, pending.work)
            if stopping:
                break
        if conn is not None:
            conn.close()

    @staticmethod
    def _rolled_back(conn: sqlite3.Connection | None) -> sqlite3.Connection | None:
        """The connection after a failure, rolled back; None to reconnect."""
        try:
            if conn is not None and conn.in_transaction:
                conn.rollback()
        except sqlite3.Error:
            return None
        return conn

    def _run_task(
        self, conn: sqlite3.Connection | None, pending: _Pending, task: Task
    ) -> sqlite3.Connection | None:
        """Run a catch-up reducer's transaction on the writer's connection, without an
        fsync of its own: its effects and its checkpoint commit together, and the log
        can always give them again, so a power loss only makes it apply them once more."""
        error: BaseException | None = None
        try:
            if conn is None:
                raise StoreUnavailable("the SQLite writer has no connection")
            if pending.future.done():
                return conn
            conn.execute("PRAGMA synchronous=NORMAL")
            try:
                task(conn)
            finally:
                conn.execute(f"PRAGMA synchronous={self._synchronous}")
        except sqlite3.Error as exc:
            error = translate_error(exc)
            conn = self._rolled_back(conn)
        except Exception as exc:  # LeaseHeld, LeaseLost, an applier's bug: to the caller
            error = exc
            conn = self._rolled_back(conn)
        self._head = None  # a reducer never appends, but read it again to be sure
        self._wake([(pending, error)], 0)
        return conn

    async def run(self, task: Task) -> None:
        """Run ``task`` on the writer thread's connection, between its batches."""
        await self._submit(task)

    def _write_batch(self, conn: sqlite3.Connection, batch: list[_Pending]) -> None:
        """Plain posts (no key to claim) go in with one INSERT statement in autocommit
        mode, its own transaction (``sqlite_log.APPLY``: events, messages and counters
        in one sqlite3_step), so the writer takes the GIL back once per batch. The event
        loop holds the GIL while it is busy, and each retake can wait the switch
        interval: with BEGIN, INSERT, counters and COMMIT as four statements, the writer
        spent most of its time waiting for the GIL.

        Should the INSERT be refused (it then changes nothing), or should a unit claim
        an idempotency key, the batch runs in one transaction with a savepoint per unit,
        so a unit that fails is rolled back alone and the others still commit."""
        live = [p for p in batch if not p.future.done()]  # skip units whose waiter gave up
        if not live:
            return
        now = datetime.now(UTC)
        if all(_unit(p).claim is None for p in live):
            posted = [event for p in live for event in _unit(p).events]
            for _ in range(3):  # another process appended meanwhile: at most a few times
                if self._head is None:
                    self._head = sqlite_log.head(conn)
                try:
                    conn.execute(sqlite_log.APPLY, sqlite_log.apply_params(self._head, posted, now))
                except sqlite3.IntegrityError as exc:
                    if sqlite_log.STALE_HEAD not in str(exc):
                        break  # an id taken: find which unit, one by one below
                    self._head = None
                else:
                    self._head = _give_positions(live, self._head)
                    self._bell.ring()
                    self._wake([(pending, None) for pending in live], self._head)
                    return
        outcomes: list[BaseException | None] = []
        conn.execute("BEGIN IMMEDIATE")
        head = sqlite_log.head(conn)  # the write lock is ours: nobody appends meanwhile
        for pending in live:
            conn.execute("SAVEPOINT unit")
            try:
                appended = _write_unit(conn, _unit(pending), head, now)
            except sqlite3.IntegrityError as exc:
                conn.execute("ROLLBACK TO unit")
                outcomes.append(StoreError(f"unit rejected: {exc}"))
            else:
                _unit(pending).positions = list(range(head + 1, head + 1 + appended))
                head += appended
                outcomes.append(None)
            conn.execute("RELEASE unit")
        conn.execute("COMMIT")
        self._head = head
        self._bell.ring()
        self._wake(list(zip(live, outcomes, strict=True)), head)


class WriterSession:
    """A SQLite reducer session whose transactions run on the store's writer thread."""

    def __init__(
        self,
        session: SQLiteReducerSession,
        on_writer: Callable[[Task], Coroutine[Any, Any, None]],
    ) -> None:
        self._session = session
        self._on_writer = on_writer
        self.name = session.name

    @property
    def position(self) -> int:
        return self._session.position

    async def apply(self, changes: object, through: int) -> None:
        await self._on_writer(lambda conn: self._session.apply(conn, changes, through))

    async def keep(self) -> None:
        await self._on_writer(self._session.keep)
