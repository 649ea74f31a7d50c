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
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from functools import lru_cache, partial
from time import perf_counter
from typing import Any, TypeVar

import asyncpg

from tagfeed.domain.counting import ALL_TAGS, Piece
from tagfeed.domain.events import (
    MESSAGE_POSTED,
    MESSAGE_POSTED_VERSION,
    StoredEvent,
)
from tagfeed.domain.idempotency import RequestInFlight
from tagfeed.domain.ids import from_epoch_micros
from tagfeed.domain.model import Message
from tagfeed.domain.pagination import PageRequest
from tagfeed.domain.queries import MessageFilter
from tagfeed.domain.trends import Trend
from tagfeed.metrics import Metrics
from tagfeed.reducers import Reducer, Tagged, counts, messages
from tagfeed.store import postgres_bulk, postgres_rebuild, trending_views
from tagfeed.store.codec import check_types, message_payload, tagged_of
from tagfeed.store.errors import StoreError, StoreTimeout, StoreUnavailable
from tagfeed.store.head import HeadWatch
from tagfeed.store.metered import timed
from tagfeed.store.port import (
    IdempotencyRecord,
    ImportBatch,
    ReducerSession,
    UnitOfWork,
    known_head_view,
)
from tagfeed.store.postgres_views import PostgresReducerSession, numbered, session_settings
from tagfeed.store.urls import parse_database_url

T = TypeVar("T")

_COLUMNS = "id::text, text, tag, user_id, created_at"
GET_QUERY = f"SELECT {_COLUMNS} FROM messages WHERE id = $1::uuid"
# One statement, so one round trip and an implicit transaction: the events, the messages
# view and the counters that count them commit together or not at all.
#
# Positions: ``head`` takes the row lock of ``event_head`` first (every other part reads
# from it, and the final SELECT runs it before them) and holds it until commit, so
# appends are serialised and commit in position order: a position never becomes visible
# after a higher one (docs/architecture.md, "The event log"). Counter keys arrive sorted,
# so concurrent writers lock counter rows in the same order and cannot deadlock.
# NOTIFY is delivered at commit, in commit order, to whoever LISTENs.
_APPEND = """
WITH head AS (
    UPDATE event_head SET position = position + $11 WHERE id = 1
    RETURNING position - $11 AS base
), appended AS (
    INSERT INTO events (position, event_id, type, version, payload, recorded_at)
    SELECT head.base + e.ord, e.id, $13, $14, e.payload::json, clock_timestamp()
    FROM head, unnest($1::uuid[], $12::text[]) WITH ORDINALITY AS e (id, payload, ord)
), stored AS (
    INSERT INTO messages (id, text, tag, user_id, created_at)
    SELECT m.* FROM head,
        unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS m
), counted AS (
    INSERT INTO message_counts AS c (tag, span, start, slot, n)
    SELECT k.* FROM head,
        unnest($6::text[], $7::int[], $8::timestamptz[], $9::smallint[], $10::bigint[]) AS k
    ON CONFLICT (tag, span, start, slot) DO UPDATE SET n = c.n + excluded.n
)
SELECT base, pg_notify('tagfeed_events', (base + $11)::text) FROM head
"""
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
# Writers pick one of these rows per counter at random, so posts to one hot tag do not
# all queue on one row lock; readers sum over them.
COUNTER_SLOTS = 8

# The most posts one append statement carries.
MAX_BATCH = 512
# A read waiting on a replica for a position polls its head (a standby delivers no
# NOTIFY), from every 5 ms up to every 50 ms: a replica applies within milliseconds.
REPLICA_POLL_FIRST = 0.005
REPLICA_POLL_MAX = 0.05


def _settle(future: "asyncio.Future[None]", error: BaseException | None) -> None:
    if future.done():  # the waiter gave up (timeout or cancellation)
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


# Counter starts recur from post to post: convert each once.
_instant = lru_cache(maxsize=4096)(from_epoch_micros)

# Errors after which the same request may succeed later: the server is down, restarting,
# refusing connections, or cancelled our statement for taking too long.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.QueryCanceledError,
    # A pooled connection whose server just shut down may still look open while asyncpg
    # consumes the server's farewell error; using it then fails with this.
    asyncpg.InternalClientError,
    # A write reached a server that is not (or no longer, or not yet) the primary: during
    # a failover the router may send a connection to the standby Patroni just chose while
    # its promotion is still running (its /primary answers 200 from the moment it holds
    # the leader key). A moment later the same write succeeds: 503, not 500.
    asyncpg.ReadOnlySQLTransactionError,
)


def _to_message(row: asyncpg.Record) -> Message:
    return Message(row[0], row[1], row[2], row[3], row[4])


def _where(where: MessageFilter) -> tuple[list[str], list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if where.tag is not None:
        params.append(where.tag)
        clauses.append(f"tag = ${len(params)}")
    if where.period.start is not None:
        params.append(where.period.start)
        clauses.append(f"created_at >= ${len(params)}")
    if where.period.end is not None:
        params.append(where.period.end)
        clauses.append(f"created_at < ${len(params)}")
    return clauses, params


def page_query(where: MessageFilter, page: PageRequest) -> tuple[str, list[object]]:
    clauses, params = _where(where)
    if page.after is not None:
        params += [page.after.created_at, page.after.id]
        clauses.append(f"(created_at, id) < (${len(params) - 1}, ${len(params)}::uuid)")
    sql = f"SELECT {_COLUMNS} FROM messages"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    params.append(page.limit)
    # Qualified: a bare "id" would name the id::text output column and defeat the index.
    return (
        sql + f" ORDER BY messages.created_at DESC, messages.id DESC LIMIT ${len(params)}",
        params,
    )


def pieces_query(tag: str | None, pieces: Sequence[Piece]) -> tuple[str, list[object]]:
    """One statement summing every piece: raw pieces count messages, others sum counters."""
    parts: list[str] = []
    params: list[object] = []
    for piece in pieces:
        if piece.span is None:
            where = f"created_at >= ${len(params) + 1} AND created_at < ${len(params) + 2}"
            params += [piece.start, piece.end]
            if tag is not None:
                params.append(tag)
                where += f" AND tag = ${len(params)}"
            parts.append(f"(SELECT count(*) FROM messages WHERE {where})")
        else:
            n = len(params)
            parts.append(
                "(SELECT coalesce(sum(n), 0) FROM message_counts"
                f" WHERE tag = ${n + 1} AND span = ${n + 2} AND start >= ${n + 3}"
                f" AND start < ${n + 4})"
            )
            params += [
                ALL_TAGS if tag is None else tag,
                int(piece.span.total_seconds()),
                piece.start,
                piece.end,
            ]
    return "SELECT (" + (" + ".join(parts) or "0") + ")::bigint", params


def series_query(
    tag: str | None, step: timedelta, start: datetime, end: datetime
) -> tuple[str, list[object]]:
    if step >= timedelta(hours=1):
        return (
            "SELECT start, sum(n)::bigint FROM message_counts"
            " WHERE tag = $1 AND span = $2 AND start >= $3 AND start < $4 GROUP BY start",
            [ALL_TAGS if tag is None else tag, int(step.total_seconds()), start, end],
        )
    where = "created_at >= $2 AND created_at < $3" + (" AND tag = $4" if tag else "")
    return (
        "SELECT date_bin($1::interval, created_at, timestamptz 'epoch') AS bucket, count(*)"
        f" FROM messages WHERE {where} GROUP BY bucket",
        [step, start, end, *([tag] if tag else [])],
    )


def _server_timeout(seconds: float) -> dict[str, str]:
    """``statement_timeout`` one second past the client's own timeout (module docstring:
    the client gives up first, and a COMMIT it gave up on is not acknowledged)."""
    return {"statement_timeout": str(int(seconds * 1000) + 1000)}


@asynccontextmanager
async def _translated(seconds: float) -> AsyncIterator[None]:
    """The block bounded by ``seconds``, asyncpg's errors turned into the store's."""
    async with _store_errors(), asyncio.timeout(seconds):
        yield


@asynccontextmanager
async def _store_errors() -> AsyncIterator[None]:
    """asyncpg's errors (and a timeout) raised in the block, as the store's."""
    try:
        yield
    except TimeoutError:
        raise StoreTimeout("PostgreSQL did not answer within the timeout") from None
    except _UNAVAILABLE as exc:
        raise StoreUnavailable(f"PostgreSQL unavailable: {type(exc).__name__}") from exc
    except asyncpg.PostgresError as exc:
        raise StoreError(f"PostgreSQL error: {type(exc).__name__}") from exc


async def _acquire(pool: asyncpg.Pool) -> asyncpg.Connection:
    try:
        return await pool.acquire()
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreUnavailable(f"cannot connect: {exc}") from exc


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
        # Plain posts waiting for the next append (``_append_batched``).
        self._queued: list[tuple[UnitOfWork, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

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
        if self._flusher is not None:
            await asyncio.wait([self._flusher], timeout=self._timeout)  # queued posts go in
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
        async with _translated(self._timeout):
            connection = await _acquire(pool)
            try:
                yield connection
            finally:
                await pool.release(connection)

    async def _bounded(self, call: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        pinned = self._pinned.get()
        if pinned is not None:  # inside a ``reading`` block on a replica
            async with _translated(self._timeout):
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
                await self._append_batched(work)
                return
            started = perf_counter()
            try:
                await self._append_batched(work)
            except StoreError:
                metrics.observe_db_call("apply", perf_counter() - started, False)
                raise
            metrics.observe_db_call("apply", perf_counter() - started, True)
            return

        async def append(conn: asyncpg.Connection) -> None:
            await self._append(conn, [work])

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
                    await append(conn)
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

    async def _append(self, conn: asyncpg.Connection, works: list[UnitOfWork]) -> None:
        """Append the events of ``works`` with one statement, in their order; set their
        positions."""
        posted = [event for work in works for event in work.events]
        rows = messages.fold(posted)
        slot = random.randrange(COUNTER_SLOTS)  # noqa: S311 -- spreading load, not a secret
        increments = sorted(counts.fold(posted))
        base: int = await conn.fetchval(
            _APPEND,
            [m.id for m in rows],
            [m.text for m in rows],
            [m.tag for m in rows],
            [m.user_id for m in rows],
            [m.created_at for m in rows],
            [tag for tag, _, _, _ in increments],
            [span for _, span, _, _ in increments],
            [_instant(start) for _, _, start, _ in increments],
            [slot] * len(increments),
            [n for _, _, _, n in increments],
            len(posted),
            [message_payload(e.message).decode() for e in posted],
            MESSAGE_POSTED,
            MESSAGE_POSTED_VERSION,
        )
        for work in works:
            work.positions = list(range(base + 1, base + 1 + len(work.events)))
            base += len(work.events)
        self._watch.advance(base)

    async def _append_batched(self, work: UnitOfWork) -> None:
        """Group commit: appends are serialised through the head's lock anyway, so the
        plain posts that arrive while one append runs go together in the next one —
        one statement, one commit for all of them."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append((work, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        try:
            # Each append is bounded by the timeout; the batch before this one may be
            # running too.
            async with asyncio.timeout(2 * self._timeout):
                await future
        except TimeoutError:
            raise StoreTimeout("PostgreSQL did not commit within the timeout") from None

    async def _flush(self) -> None:
        while self._queued:
            batch = [(w, f) for w, f in self._queued[:MAX_BATCH] if not f.done()]
            del self._queued[:MAX_BATCH]
            if not batch:
                continue
            if self._metrics is not None:
                self._metrics.writer_batch(len(batch), len(self._queued))
            try:
                await self._bounded(partial(self._append, works=[w for w, _ in batch]))
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exc)
                    continue
                # One unit may have failed them all (an id taken): each on its own.
                for work, future in batch:
                    try:
                        await self._bounded(partial(self._append, works=[work]))
                    except Exception as one:
                        _settle(future, one)
                    else:
                        _settle(future, None)
            else:
                for _, future in batch:
                    _settle(future, None)

    async def get(self, message_id: str) -> Message | None:
        row = await self._run("get", lambda conn: conn.fetchrow(GET_QUERY, message_id))
        return None if row is None else _to_message(row)

    async def page(self, where: MessageFilter, page: PageRequest) -> list[Message]:
        sql, params = page_query(where, page)
        rows: list[Any] = await self._run("page", lambda conn: conn.fetch(sql, *params))
        return [_to_message(row) for row in rows]

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
            except (*_UNAVAILABLE, asyncpg.PostgresError) as exc:
                raise StoreUnavailable(f"cannot connect: {type(exc).__name__}") from exc
            try:
                writer, reader = connections
                position = await postgres_rebuild.rebuild(
                    writer, reader, reducer, checkpointed=checkpointed, batch=batch
                )
            except _UNAVAILABLE as exc:
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
        async with _translated(self._timeout):
            conn = await _acquire(pool)
        try:
            async with _translated(within + self._timeout):
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
            except (*_UNAVAILABLE, asyncpg.PostgresError) as exc:
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
        except (*_UNAVAILABLE, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(f"cannot connect: {type(exc).__name__}") from exc
        try:
            session = PostgresReducerSession(conn, name)
            async with _store_errors():
                await session.acquire()
                yield session
        finally:
            await conn.close(timeout=self._timeout)  # and with it the advisory lock
