"""The PostgreSQL adapter: asyncpg with a connection pool.

The pool starts empty (``min_size=0``) so the service starts, and answers 503, while
the database is down, and reconnects by itself when it is back. Every call is bounded
twice: by ``asyncio.timeout`` around pool acquisition and query, and by the server's
``statement_timeout``, so a stuck query is cancelled on the server too. The server's is a
second longer (``_server_timeout``): a COMMIT whose wait for the synchronous standby is
cancelled on the server is committed locally and reported as a success (a WARNING only),
so the server must never be the one to give up first, or a post not yet on the standby
would be acknowledged.

With a read URL (replicas), a second pool serves the reads of ``reading`` blocks: the
block holds one replica connection, reads the log head that replica has applied (and
waits there for a wanted position), and every read inside it runs on that connection,
so what the block says it reflects is what its reads saw (``docs/deployment.md``,
"Reads from replicas").
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from time import perf_counter
from typing import Any, TypeVar

import asyncpg

from tagfeed.domain.counting import Piece
from tagfeed.domain.events import (
    MESSAGE_POSTED,
    MESSAGE_POSTED_VERSION,
    StoredEvent,
)
from tagfeed.domain.idempotency import RequestInFlight
from tagfeed.domain.model import Message
from tagfeed.domain.pagination import PageRequest
from tagfeed.domain.queries import MessageFilter
from tagfeed.domain.trends import Trend
from tagfeed.metrics import Metrics
from tagfeed.reducers import Reducer, Tagged
from tagfeed.store import postgres_bulk, postgres_rebuild, trending_views
from tagfeed.store.codec import check_types, tagged_of
from tagfeed.store.errors import StoreError, StoreUnavailable
from tagfeed.store.head import HeadWatch
from tagfeed.store.metered import timed
from tagfeed.store.port import (
    IdempotencyRecord,
    ImportBatch,
    ReducerSession,
    UnitOfWork,
    known_head_view,
)
from tagfeed.store.postgres_append import GroupCommit, append
from tagfeed.store.postgres_errors import UNAVAILABLE, acquire, store_errors, translated
from tagfeed.store.postgres_queries import (
    GET_QUERY,
    page_query,
    pieces_query,
    series_query,
    to_message,
)
from tagfeed.store.postgres_views import PostgresReducerSession, numbered, session_settings
from tagfeed.store.urls import parse_database_url

T = TypeVar("T")

HEAD_QUERY = "SELECT position FROM event_head WHERE id = 1"
CHECKPOINT_QUERY = "SELECT position FROM reducer_checkpoints WHERE name = $1"
TRENDING = trending_views.TABLE
_TOP_TRENDING = numbered(trending_views.top_query())
READ_EVENTS = """
SELECT position, event_id::text, type, version, payload::text, recorded_at FROM events
WHERE position > $1 ORDER BY position LIMIT $2
"""
NOTIFY_CHANNEL = "tagfeed_events"
_LOCK_KEY = "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))"
_FIND_KEY = (
    "SELECT fingerprint, status, location, body, created_at FROM idempotency_keys"
    " WHERE user_id = $1 AND key = $2"
)
# Replaces an expired record of the same key (a live one was ruled out just before).
_SAVE_KEY = """
INSERT INTO idempotency_keys VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = excluded.fingerprint,
    status = excluded.status, location = excluded.location, body = excluded.body,
    created_at = excluded.created_at
"""
_PURGE_KEYS = """
DELETE FROM idempotency_keys WHERE ctid IN
    (SELECT ctid FROM idempotency_keys WHERE created_at < $1 LIMIT $2)
"""
# A read waiting on a replica for a position polls its head (a standby delivers no
# NOTIFY), from every 5 ms up to every 50 ms: a replica applies within milliseconds.
REPLICA_POLL_FIRST = 0.005
REPLICA_POLL_MAX = 0.05


def _server_timeout(seconds: float) -> dict[str, str]:
    """``statement_timeout`` one second past the client's own timeout (module docstring:
    the client gives up first, and a COMMIT it gave up on is not acknowledged)."""
    return {"statement_timeout": str(int(seconds * 1000) + 1000)}


def asyncpg_dsn(url: str) -> str:
    return parse_database_url(url).asyncpg_dsn


async def _keep_session(connection: asyncpg.Connection) -> None:
    """How the pool takes a connection back: as it is. asyncpg's default sends one more
    query on every release (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL``), a round trip per request, a fifth of a POST's time under load. This pool's
    connections never change their session: no SET, no cursors, no LISTEN (a live stream
    will need a connection of its own), only transaction-scoped advisory locks, which
    COMMIT and ROLLBACK release. asyncpg still rolls back a transaction left open before
    calling this, and closes a connection that failed."""


class PostgresStore:
    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        pool_size: int = 10,
        metrics: Metrics | None = None,
        read_url: str | None = None,
    ) -> None:
        self._dsn = asyncpg_dsn(url)
        self._read_dsn = None if read_url is None else asyncpg_dsn(read_url)
        self._read_pool: asyncpg.Pool | None = None
        # The replica connection of the ``reading`` block the current task is in.
        self._pinned: ContextVar[asyncpg.Connection | None] = ContextVar(
            f"tagfeed_read_{id(self)}", default=None
        )
        self._metrics = metrics  # None: metrics off, nothing recorded
        self._timeout = timeout
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._watch = HeadWatch()
        self._listener: asyncpg.Connection | None = None
        self._listening = asyncio.Lock()  # one listener, however many wait at once
        # Plain posts, appended together (``postgres_append``).
        self._group = GroupCommit(
            self._bounded, timeout=timeout, appended=self._watch.advance, metrics=metrics
        )

    def _new_pool(self, dsn: str) -> asyncpg.Pool:
        return asyncpg.create_pool(
            dsn,
            min_size=0,
            max_size=self._pool_size,
            timeout=self._timeout,  # connect timeout
            command_timeout=self._timeout,
            server_settings=_server_timeout(self._timeout),
            reset=_keep_session,
        )

    async def open(self) -> None:
        self._pool = self._new_pool(self._dsn)
        await self._pool  # with min_size=0 this connects to nothing
        if self._metrics is not None:  # the primary's pool, where writes go
            pool = self._pool
            self._metrics.watch_pool(
                lambda: pool.get_size() - pool.get_idle_size(), pool.get_max_size
            )
        if self._read_dsn is not None:
            self._read_pool = self._new_pool(self._read_dsn)
            await self._read_pool

    async def close(self) -> None:
        await self._group.drain()  # queued posts go in
        if self._listener is not None:
            await self._listener.close(timeout=self._timeout)
            self._listener = None
        for pool in (self._pool, self._read_pool):
            if pool is not None:
                try:
                    await asyncio.wait_for(pool.close(), self._timeout)
                except TimeoutError:
                    pool.terminate()
        self._pool = self._read_pool = None
        if self._metrics is not None:
            self._metrics.forget_pool()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection, the whole use bounded by the timeout. Any failure to get
        one (down, restarting, wrong database, too many clients) is StoreUnavailable."""
        pool = self._pool
        if pool is None:
            raise StoreUnavailable("the PostgreSQL store is not open")
        async with translated(self._timeout):
            connection = await acquire(pool)
            try:
                yield connection
            finally:
                await pool.release(connection)

    async def _bounded(self, call: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        pinned = self._pinned.get()
        if pinned is not None:  # inside a ``reading`` block on a replica
            async with translated(self._timeout):
                return await call(pinned)
        async with self._connection() as conn:
            return await call(conn)

    async def _run(self, op: str, call: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """One call of the port named ``op``: bounded, and timed from before the pool
        is asked for a connection, so waiting for one counts (``store/metered.py``)."""
        metrics = self._metrics
        if metrics is None:
            return await self._bounded(call)
        started = perf_counter()
        try:
            result = await self._bounded(call)
        except StoreError:
            metrics.observe_db_call(op, perf_counter() - started, False)
            raise
        metrics.observe_db_call(op, perf_counter() - started, True)
        return result

    async def apply(self, work: UnitOfWork) -> None:
        if not work.events and work.claim is None:
            return
        claim = work.claim
        if claim is None:
            # Timed from the queue to the commit, so the wait for the batch counts.
            metrics = self._metrics
            if metrics is None:
                await self._group.append(work)
                return
            started = perf_counter()
            try:
                await self._group.append(work)
            except StoreError:
                metrics.observe_db_call("apply", perf_counter() - started, False)
                raise
            metrics.observe_db_call("apply", perf_counter() - started, True)
            return

        async def write_once(conn: asyncpg.Connection) -> None:
            record = claim.record
            async with conn.transaction():
                # Held until commit: a concurrent request with the same key is in flight.
                if not await conn.fetchval(_LOCK_KEY, f"{record.user_id}\n{record.key}"):
                    raise RequestInFlight(record.key)
                row = await conn.fetchrow(_FIND_KEY, record.user_id, record.key)
                if row is not None and row["created_at"] >= claim.not_before:
                    work.held_by = IdempotencyRecord(record.user_id, record.key, **dict(row))
                    # The record may be committed here but not yet on the synchronous
                    # standby (its first request timed out in the wait: PostgreSQL commits
                    # locally and shows it to everyone at once). A transaction id makes
                    # this COMMIT wait for the standby too, and WAL is replicated in
                    # order: the replay is answered only once the record is replicated.
                    await conn.fetchval("SELECT pg_current_xact_id()")
                    # The replay reflects the log at least as far as the head now.
                    self._watch.advance(await conn.fetchval(HEAD_QUERY))
                    return
                if work.events:
                    self._watch.advance(await append(conn, [work]))
                await conn.execute(
                    _SAVE_KEY,
                    record.user_id,
                    record.key,
                    record.fingerprint,
                    record.status,
                    record.location,
                    record.body,
                    record.created_at,
                )

        await self._run("apply", write_once)

    async def get(self, message_id: str) -> Message | None:
        row = await self._run("get", lambda conn: conn.fetchrow(GET_QUERY, message_id))
        return None if row is None else to_message(row)

    async def page(self, where: MessageFilter, page: PageRequest) -> list[Message]:
        sql, params = page_query(where, page)
        rows: list[Any] = await self._run("page", lambda conn: conn.fetch(sql, *params))
        return [to_message(row) for row in rows]

    async def count_pieces(self, tag: str | None, pieces: Sequence[Piece]) -> int:
        sql, params = pieces_query(tag, pieces)
        return int(await self._run("count_pieces", lambda conn: conn.fetchval(sql, *params)))

    async def series(
        self, tag: str | None, step: timedelta, start: datetime, end: datetime
    ) -> dict[datetime, int]:
        sql, params = series_query(tag, step, start, end)
        rows: list[Any] = await self._run("series", lambda conn: conn.fetch(sql, *params))
        return {row[0]: int(row[1]) for row in rows}

    async def trending(self, window_hours: int, limit: int) -> tuple[int | None, list[Trend]]:
        async def query(conn: asyncpg.Connection) -> tuple[int | None, list[Trend]]:
            clock = await conn.fetchval(trending_views.READ_CLOCK.format(table=TRENDING))
            rows = await conn.fetch(_TOP_TRENDING, window_hours, limit)
            return (None if clock is None else int(clock)), [Trend(*row) for row in rows]

        return await self._run("trending", query)

    async def counters_generation(self) -> int:
        generation = await self._run(
            "counters_generation",
            lambda conn: conn.fetchval(
                "SELECT coalesce(max(generation), 0) FROM counter_generation"
            ),
        )
        return int(generation)

    # -- bulk (tagfeed import / export) ------------------------------------------------

    async def import_messages(
        self, batches: Iterable[ImportBatch], on_duplicate: Callable[[int], None]
    ) -> int:
        return await timed(
            self._metrics,
            "import_messages",
            postgres_bulk.load(self._dsn, batches, on_duplicate, connect_timeout=self._timeout),
        )

    async def export_messages(
        self, tag: str | None, write: Callable[[list[Message]], None], batch_size: int
    ) -> int:
        return await timed(
            self._metrics,
            "export_messages",
            postgres_bulk.export(self._dsn, tag, write, batch_size, connect_timeout=self._timeout),
        )

    async def rebuild_view(self, reducer: Reducer[Any], *, checkpointed: bool, batch: int) -> int:
        return await timed(
            self._metrics,
            "rebuild_view",
            self._rebuild_view(reducer, checkpointed=checkpointed, batch=batch),
        )

    async def _rebuild_view(self, reducer: Reducer[Any], *, checkpointed: bool, batch: int) -> int:
        connections: list[asyncpg.Connection] = []
        try:
            try:
                for _ in range(2):  # one writes the fresh table, the other reads the log
                    connections.append(await asyncpg.connect(self._dsn, timeout=self._timeout))
            except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
                raise StoreUnavailable(f"cannot connect: {type(exc).__name__}") from exc
            try:
                writer, reader = connections
                position = await postgres_rebuild.rebuild(
                    writer, reader, reducer, checkpointed=checkpointed, batch=batch
                )
            except UNAVAILABLE as exc:
                raise StoreUnavailable(f"PostgreSQL unavailable: {type(exc).__name__}") from exc
            except asyncpg.PostgresError as exc:
                raise StoreError(f"PostgreSQL error: {exc}") from exc
        finally:
            for conn in connections:
                await conn.close()
        self._watch.advance(position)
        return position

    async def purge_idempotency_keys(self, before: datetime, limit: int) -> int:
        status: str = await self._run(
            "purge_idempotency_keys", lambda conn: conn.execute(_PURGE_KEYS, before, limit)
        )
        return int(status.rpartition(" ")[2])  # "DELETE n"

    async def ping(self) -> None:
        # With replicas, where reads go: an instance that can serve reads is ready (a
        # gateway keeps it while the primary is being replaced; posts answer 503 then).
        async with self.reading(None, 0):
            await self._run("ping", lambda conn: conn.fetchval("SELECT 1 FROM messages LIMIT 0"))

    # -- the log -------------------------------------------------------------------------

    async def head(self) -> int:
        position = int(await self._run("head", lambda conn: conn.fetchval(HEAD_QUERY)))
        self._watch.advance(position)
        return position

    async def read_events(self, after: int, limit: int) -> list[StoredEvent]:
        rows: list[Any] = await self._run(
            "read_events", lambda conn: conn.fetch(READ_EVENTS, after, limit)
        )
        events = [
            StoredEvent(row[0], row[1], row[2], row[3], row[4].encode(), row[5]) for row in rows
        ]
        if events:
            self._watch.advance(events[-1].position)
        return events

    async def read_tagged(self, after: int, limit: int) -> tuple[int, list[Tagged]]:
        unknown, payloads, last = await self._run(
            "read_tagged",
            lambda conn: conn.fetchrow(
                postgres_rebuild.READ_CHUNK,
                after,
                after + limit,
                MESSAGE_POSTED,
                MESSAGE_POSTED_VERSION,
            ),
        )
        if payloads is None:
            return after, []
        check_types(unknown, after, last)
        self._watch.advance(last)
        return last, tagged_of(payloads)

    async def reducer_checkpoint(self, name: str) -> int:
        position = await self._run(
            "reducer_checkpoint", lambda conn: conn.fetchval(CHECKPOINT_QUERY, name)
        )
        return 0 if position is None else int(position)

    def seen_head(self) -> int:
        return self._watch.seen

    async def wait_for_head(self, after: int, within: float) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        await self._listen()
        if self._watch.seen <= after:
            await self.head()  # appended before we listened, or by anyone while we did not
        remaining = deadline - loop.time()
        if self._watch.seen <= after and remaining > 0:
            await self._watch.wait_beyond(after, remaining)
        return self._watch.seen

    def reading(self, at_least: int | None, within: float) -> AbstractAsyncContextManager[int]:
        if self._read_pool is None:
            return known_head_view(self, at_least, within)
        return self._replica_view(self._read_pool, at_least, within)

    @asynccontextmanager
    async def _replica_view(
        self, pool: asyncpg.Pool, at_least: int | None, within: float
    ) -> AsyncIterator[int]:
        """One replica connection for the block, and the head it has applied (waited
        for up to ``within`` when short of ``at_least``). Not ``seen_head``: a position
        committed on the primary may not be applied here yet. Each read inside is
        bounded by the timeout on its own, as on the primary."""
        async with translated(self._timeout):
            conn = await acquire(pool)
        try:
            async with translated(within + self._timeout):
                loop = asyncio.get_running_loop()
                deadline = loop.time() + within
                pause = REPLICA_POLL_FIRST
                while True:
                    position = int(await conn.fetchval(HEAD_QUERY))
                    left = deadline - loop.time()
                    if at_least is None or position >= at_least or left <= 0:
                        break
                    await asyncio.sleep(min(pause, left))
                    pause = min(2 * pause, REPLICA_POLL_MAX)
            token = self._pinned.set(conn)
            try:
                yield position
            finally:
                self._pinned.reset(token)
        finally:
            await pool.release(connection=conn)

    def _notified(self, connection: object, pid: int, channel: str, payload: str) -> None:
        self._watch.advance(int(payload))

    async def _listen(self) -> None:
        """A connection of its own, outside the pool, LISTENing for appends (made on
        first use; made again if it was lost)."""
        if self._listener is not None and not self._listener.is_closed():
            return
        # Several waiters (the stream follower, each reducer) start at once: without the
        # lock each made a listener and all but the last were left open, unreferenced.
        async with self._listening:
            if self._listener is not None and not self._listener.is_closed():
                return
            try:
                self._listener = await asyncpg.connect(self._dsn, timeout=self._timeout)
                await self._listener.add_listener(NOTIFY_CHANNEL, self._notified)
            except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
                self._listener = None
                raise StoreUnavailable(f"cannot listen: {type(exc).__name__}") from exc

    @asynccontextmanager
    async def reducer_session(self, name: str) -> AsyncIterator[ReducerSession]:
        try:
            conn = await asyncpg.connect(
                self._dsn,
                timeout=self._timeout,
                command_timeout=self._timeout,
                server_settings={**_server_timeout(self._timeout), **session_settings(name)},
            )
        except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(f"cannot connect: {type(exc).__name__}") from exc
        try:
            session = PostgresReducerSession(conn, name)
            async with store_errors():
                await session.acquire()
                yield session
        finally:
            await conn.close(timeout=self._timeout)  # and with it the advisory lock
