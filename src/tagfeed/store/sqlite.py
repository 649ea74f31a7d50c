"""The SQLite adapter: the embedded default.

One writer thread owns the only writing connection and commits concurrent units of work
together (group commit: ``sqlite_writer``). Reads that touch few rows run on the event
loop's own read-only connection, others on a small thread pool, each thread with its
own; WAL lets them proceed while the writer writes. A progress handler aborts any
statement that outlives the timeout.
"""

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, closing
from datetime import datetime, timedelta
from typing import Any, TypeVar

import msgspec

from tagfeed.domain.counting import ALL_TAGS, Piece
from tagfeed.domain.events import StoredEvent
from tagfeed.domain.ids import epoch_micros, from_epoch_micros
from tagfeed.domain.model import Message
from tagfeed.domain.pagination import Cursor, PageRequest
from tagfeed.domain.queries import MessageFilter
from tagfeed.domain.trends import Trend
from tagfeed.metrics import Metrics
from tagfeed.reducers import Reducer, Tagged
from tagfeed.store import sqlite_bulk, sqlite_log, sqlite_rebuild, trending_views
from tagfeed.store.errors import StoreError, StoreTimeout, StoreUnavailable
from tagfeed.store.head import HeadWatch
from tagfeed.store.metered import timed
from tagfeed.store.port import (
    ImportBatch,
    JsonPage,
    ReducerSession,
    UnitOfWork,
    known_head_view,
)
from tagfeed.store.sqlite_bell import Bell, BellWatch
from tagfeed.store.sqlite_errors import translate_error
from tagfeed.store.sqlite_views import SQLiteReducerSession
from tagfeed.store.sqlite_writer import Writer, WriterSession
from tagfeed.store.urls import parse_database_url

T = TypeVar("T")
TRENDING = trending_views.TABLE
Row = tuple[Any, ...]

_COLUMNS = "id, text, tag, user_id, created_at"
_NEWEST_FIRST = " ORDER BY created_at DESC, id DESC"
_PURGE_KEYS = (
    "DELETE FROM idempotency_keys WHERE (user_id, key) IN"
    " (SELECT user_id, key FROM idempotency_keys WHERE created_at < ? LIMIT ?)"
)
_CHECKPOINT = "SELECT position FROM reducer_checkpoints WHERE name = ?"
_GENERATION = "SELECT coalesce(max(generation), 0) FROM counter_generation"
_PROGRESS_STEPS = 1000  # VM instructions between deadline checks: microseconds of work
# How long a read on the event loop's own connection waits for a lock before it moves
# to the pool, which waits up to the timeout: the loop must not stall for longer.
_INLINE_BUSY_MS = 50
# How often a wait for the head also reads it from the file. Appends by other processes
# (``--workers``, an import, the server for a ``tagfeed reduce``) send no in-process
# signal: they ring the bell (``sqlite_bell``), and the re-read is a fallback, for writers
# that do not ring, or where the bell cannot be watched.
_HEAD_RECHECK_SECONDS = 5.0
_HEAD_RECHECK_WITHOUT_BELL = 0.5


def sqlite_path(url: str) -> str:
    """``sqlite:///relative.db`` or ``sqlite:////absolute.db`` -> the file path."""
    return parse_database_url(url).sqlite_path


def message_from_row(row: Row) -> Message:
    """The message of a ``messages`` row (its columns in ``_COLUMNS`` order)."""
    return Message(row[0], row[1], row[2], row[3], from_epoch_micros(row[4]))


def _where(where: MessageFilter) -> tuple[list[str], list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if where.tag is not None:
        clauses.append("tag = ?")
        params.append(where.tag)
    if where.period.start is not None:
        clauses.append("created_at >= ?")
        params.append(epoch_micros(where.period.start))
    if where.period.end is not None:
        clauses.append("created_at < ?")
        params.append(epoch_micros(where.period.end))
    return clauses, params


def page_query(where: MessageFilter, page: PageRequest) -> tuple[str, list[object]]:
    clauses, params = _where(where)
    if page.after is not None:
        clauses.append("(created_at, id) < (?, ?)")
        params += [epoch_micros(page.after.created_at), page.after.id]
    sql = f"SELECT {_COLUMNS} FROM messages"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return f"{sql}{_NEWEST_FIRST} LIMIT ?", [*params, page.limit]


GET_QUERY = f"SELECT {_COLUMNS} FROM messages WHERE id = ?"
# A page comes back as one row, a JSON array of the rows' arrays, in the order of the inner
# query (SQLite does not flatten a subquery with a LIMIT into an aggregate: it is read in
# order, row by row). sqlite3 lets the GIL go and takes it back around every step of a
# statement, and on the event loop's thread each of those is a wait for granian's thread
# to give it back: one step for the page instead of 52, and msgspec reads the rows.
# SQLite keeps a subquery's order inside an aggregate in practice, but says so only from
# 3.44 on, where an aggregate takes its own ORDER BY: used where the linked SQLite has it.
_ORDERED_AGGREGATES = sqlite3.sqlite_version_info >= (3, 44)


def page_as_json(columns: str, query: str, ordered: bool = _ORDERED_AGGREGATES) -> str:
    """The statement reading ``query``'s rows (ordered newest first) as one JSON array
    of arrays of ``columns``, in that order."""
    order = _NEWEST_FIRST if ordered else ""
    return f"SELECT json_group_array(json_array({columns}){order}) FROM ({query})"


_decode_page = msgspec.json.Decoder(list[tuple[str, str, str, str, int]]).decode

# ``created_at`` (epoch microseconds) as the API writes an instant (tagfeed.instants):
# ``YYYY-MM-DDTHH:MM:SS.ffffffZ``. The fraction is floored (SQLite's % truncates toward
# zero, which before 1970 would give a negative fraction).
_FRACTION = "((created_at % 1000000 + 1000000) % 1000000)"
_WIRE_INSTANT = (
    f"strftime('%Y-%m-%dT%H:%M:%S', (created_at - {_FRACTION}) / 1000000, 'unixepoch')"
    f" || printf('.%06dZ', {_FRACTION})"
)
# A message as the API writes it (MessageOut, keys in its order): SQLite's JSON strings
# escape exactly as msgspec's do (tests/integration/test_sqlite_page_json.py holds the
# two to the same bytes, odd texts included).
_WIRE_MESSAGE = (
    "json_object('id', id, 'text', text, 'tag', tag, 'user_id', user_id,"
    f" 'created_at', {_WIRE_INSTANT})"
)


def page_json_query(
    where: MessageFilter, page: PageRequest, ordered: bool = _ORDERED_AGGREGATES
) -> tuple[str, list[object]]:
    """One row: the API's JSON array (as a blob) of up to ``page.limit + 1`` messages,
    newest first, and how many there are (more than ``page.limit``: a next page)."""
    query, params = page_query(where, PageRequest(page.limit + 1, page.after))
    order = _NEWEST_FIRST if ordered else ""
    return (
        f"SELECT CAST(json_group_array({_WIRE_MESSAGE}{order}) AS BLOB), count(*) FROM ({query})",
        params,
    )


# Where each message of a page's JSON starts: a JSON string writes every quote in it as
# \", so an unescaped quote after a brace is never inside a text.
_NEXT_MESSAGE = b',{"id":"'


class _CursorFields(msgspec.Struct):
    id: str
    created_at: datetime


_decode_cursor = msgspec.json.Decoder(_CursorFields).decode


def page_json_of(array: bytes, matched: int, limit: int) -> JsonPage:
    """The page of ``page_json_query``'s row: with more than ``limit`` messages, the
    last is cut off and the cursor read from the one before it (one message decoded,
    not the page)."""
    if matched <= limit:
        return JsonPage(array, None)
    cut = array.rindex(_NEXT_MESSAGE)
    last = _decode_cursor(array[max(array.rfind(_NEXT_MESSAGE, 0, cut), 0) + 1 : cut])
    return JsonPage(array[:cut] + b"]", Cursor(last.created_at, last.id))


def _micros(span: timedelta) -> int:
    return span // timedelta(microseconds=1)


def _floor_sql(micros: str, step_us: int) -> str:
    """SQL flooring ``micros`` to a multiple of ``step_us`` (toward minus infinity, also
    before 1970: SQLite's % truncates toward zero)."""
    return f"{micros} - ({micros} % {step_us} + {step_us}) % {step_us}"


def pieces_query(tag: str | None, pieces: Sequence[Piece]) -> tuple[str, list[object]]:
    """One statement summing every piece: raw pieces count messages, others sum counters."""
    parts: list[str] = []
    params: list[object] = []
    for piece in pieces:
        bounds = [epoch_micros(piece.start), epoch_micros(piece.end)]
        if piece.span is None:
            where = "created_at >= ? AND created_at < ?"
            if tag is not None:
                where = "tag = ? AND " + where
                params.append(tag)
            parts.append(f"(SELECT count(*) FROM messages WHERE {where})")
            params += bounds
        else:
            parts.append(
                "(SELECT coalesce(sum(n), 0) FROM message_counts"
                " WHERE tag = ? AND span = ? AND start >= ? AND start < ?)"
            )
            params += [ALL_TAGS if tag is None else tag, int(piece.span.total_seconds()), *bounds]
    return "SELECT " + (" + ".join(parts) or "0"), params


def series_query(
    tag: str | None, step: timedelta, start: datetime, end: datetime
) -> tuple[str, list[object]]:
    bounds: list[object] = [epoch_micros(start), epoch_micros(end)]
    if step >= timedelta(hours=1):
        return (
            "SELECT start, sum(n) FROM message_counts"
            " WHERE tag = ? AND span = ? AND start >= ? AND start < ? GROUP BY start",
            [ALL_TAGS if tag is None else tag, int(step.total_seconds()), *bounds],
        )
    floor = _floor_sql("created_at", _micros(step))
    where = "created_at >= ? AND created_at < ?"
    params: list[object] = bounds
    if tag is not None:
        where = "tag = ? AND " + where
        params = [tag, *bounds]
    return f"SELECT {floor} AS bucket, count(*) FROM messages WHERE {where} GROUP BY bucket", params


class SQLiteStore:
    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        synchronous: str = "FULL",
        readers: int = 4,
        lease_seconds: float = 15.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._path = sqlite_path(url)
        self._metrics = metrics  # None: metrics off, nothing recorded
        self._timeout = timeout
        self._synchronous = synchronous
        self._reader_count = readers
        self._lease_seconds = lease_seconds  # a catch-up reducer's (sqlite_views.py)
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._inline_conn: sqlite3.Connection | None = None
        self._watch = HeadWatch()
        self._bell = Bell(self._path)  # rung by the writer thread after each append
        self._writer = Writer(
            lambda: self._connect(read_only=False),
            synchronous=synchronous,
            timeout=timeout,
            bell=self._bell,
            watch=self._watch,
            metrics=metrics,
        )
        self._bell_watch: BellWatch | None = None  # made by the first wait for the head
        self._recheck = _HEAD_RECHECK_WITHOUT_BELL
        self._waiting = 0  # waits for the head under way: a ring is news only to them
        self._rereading: asyncio.Task[None] | None = None
        self._rang = False

    # -- connections -------------------------------------------------------------------

    def _connect(self, *, read_only: bool, busy_ms: int | None = None) -> sqlite3.Connection:
        busy = int(self._timeout * 1000) if busy_ms is None else busy_ms
        # The first statement reads the schema, so it waits out a lock too: with the same
        # bound as later ones (an inline connection is made on the event loop's thread).
        conn = sqlite3.connect(
            self._path, timeout=busy / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute(f"PRAGMA busy_timeout={busy}")
        if read_only:
            conn.execute("PRAGMA query_only=1")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(read_only=True)
            self._local.conn = conn
        return conn

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        self._readers = ThreadPoolExecutor(self._reader_count, thread_name_prefix="sqlite-read")
        self._writer.start()

    async def close(self) -> None:
        await self._writer.stop()
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        if self._inline_conn is not None:
            self._inline_conn.close()
            self._inline_conn = None
        if self._bell_watch is not None:
            self._bell_watch.close()
            self._bell_watch = None
        self._bell.close()

    # -- writes --------------------------------------------------------------------------

    async def apply(self, work: UnitOfWork) -> None:
        """Queue the unit for the writer and wait for its commit."""
        await self._writer.apply(work)

    # -- reads ---------------------------------------------------------------------------

    def _query(self, conn: sqlite3.Connection, query: Callable[[sqlite3.Connection], T]) -> T:
        deadline = time.monotonic() + self._timeout
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_STEPS)
        try:
            return query(conn)
        except sqlite3.Error as exc:
            raise translate_error(exc) from exc

    async def _read(self, op: str, query: Callable[[sqlite3.Connection], T], *, inline: bool) -> T:
        """Run the read of port call ``op``, timed (``store/metered.py``)."""
        metrics = self._metrics
        if metrics is None:
            return await self._read_now(query, inline=inline)
        started = time.perf_counter()
        try:
            result = await self._read_now(query, inline=inline)
        except StoreError:
            metrics.observe_db_call(op, time.perf_counter() - started, False)
            raise
        metrics.observe_db_call(op, time.perf_counter() - started, True)
        return result

    async def _read_now(self, query: Callable[[sqlite3.Connection], T], *, inline: bool) -> T:
        """Run a read. ``inline`` reads touch few rows (a lookup by id, one page, a count
        from counters): they run on the event loop's thread, since a hop to the pool
        costs more than the query. If such a read finds the database locked (rare in WAL
        mode), it is retried on the pool, which may wait up to the timeout."""
        if self._readers is None:
            raise StoreUnavailable("the SQLite store is not open")
        if inline:
            try:
                if self._inline_conn is None:
                    self._inline_conn = self._connect(read_only=True, busy_ms=_INLINE_BUSY_MS)
                return self._query(self._inline_conn, query)
            except StoreTimeout:
                raise
            except (StoreUnavailable, sqlite3.OperationalError):
                pass  # locked or not openable now: let the pool wait for it
            except sqlite3.Error as exc:
                raise translate_error(exc) from exc
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout):
                return await loop.run_in_executor(
                    self._readers, lambda: self._query(self._reader(), query)
                )
        except sqlite3.Error as exc:
            raise translate_error(exc) from exc
        except TimeoutError:
            raise StoreTimeout("SQLite did not answer within the timeout") from None

    async def get(self, message_id: str) -> Message | None:
        def query(conn: sqlite3.Connection) -> Message | None:
            row = conn.execute(GET_QUERY, (message_id,)).fetchone()
            return None if row is None else message_from_row(row)

        return await self._read("get", query, inline=True)

    async def page(self, where: MessageFilter, page: PageRequest) -> list[Message]:
        query, params = page_query(where, page)
        sql = page_as_json(_COLUMNS, query)

        def rows(conn: sqlite3.Connection) -> list[Message]:
            (array,) = conn.execute(sql, params).fetchone()
            return [
                Message(i, text, tag, user, from_epoch_micros(at))
                for i, text, tag, user, at in _decode_page(array)
            ]

        return await self._read("page", rows, inline=True)

    async def page_json(self, where: MessageFilter, page: PageRequest) -> JsonPage:
        sql, params = page_json_query(where, page)

        def body(conn: sqlite3.Connection) -> JsonPage:
            array, matched = conn.execute(sql, params).fetchone()
            return page_json_of(array, matched, page.limit)

        return await self._read("page", body, inline=True)

    async def count_pieces(self, tag: str | None, pieces: Sequence[Piece]) -> int:
        sql, params = pieces_query(tag, pieces)
        return await self._read(
            "count_pieces", lambda conn: int(conn.execute(sql, params).fetchone()[0]), inline=True
        )

    async def series(
        self, tag: str | None, step: timedelta, start: datetime, end: datetime
    ) -> dict[datetime, int]:
        sql, params = series_query(tag, step, start, end)
        # Hours and days read at most 10,080 counter rows; minutes scan messages, possibly
        # many, so they go off the event loop.
        rows = await self._read(
            "series",
            lambda conn: conn.execute(sql, params).fetchall(),
            inline=step >= timedelta(hours=1),
        )
        return {from_epoch_micros(bucket): int(n) for bucket, n in rows}

    async def trending(self, window_hours: int, limit: int) -> tuple[int | None, list[Trend]]:
        def query(conn: sqlite3.Connection) -> tuple[int | None, list[Trend]]:
            clock = conn.execute(trending_views.READ_CLOCK.format(table=TRENDING)).fetchone()
            rows = conn.execute(trending_views.top_query(), (window_hours, limit)).fetchall()
            return (None if clock is None else int(clock[0])), [Trend(*row) for row in rows]

        return await self._read("trending", query, inline=True)

    async def counters_generation(self) -> int:
        return await self._read(
            "counters_generation",
            lambda conn: int(conn.execute(_GENERATION).fetchone()[0]),
            inline=True,
        )

    # -- bulk (tagfeed import / export) ------------------------------------------------

    async def import_messages(
        self, batches: Iterable[ImportBatch], on_duplicate: Callable[[int], None]
    ) -> int:
        try:
            return await self._import(batches, on_duplicate)
        finally:
            self._bell.ring()  # whatever part of it was committed

    async def _import(
        self, batches: Iterable[ImportBatch], on_duplicate: Callable[[int], None]
    ) -> int:
        return await timed(
            self._metrics,
            "import_messages",
            asyncio.to_thread(
                sqlite_bulk.load,
                self._path,
                batches,
                on_duplicate,
                timeout=self._timeout,
                synchronous=self._synchronous,
                translate=translate_error,
            ),
        )

    async def export_messages(
        self, tag: str | None, write: Callable[[list[Message]], None], batch_size: int
    ) -> int:
        return await timed(
            self._metrics,
            "export_messages",
            asyncio.to_thread(
                sqlite_bulk.export, self._path, tag, write, batch_size, translate_error
            ),
        )

    async def rebuild_view(self, reducer: Reducer[Any], *, checkpointed: bool, batch: int) -> int:
        position = await timed(
            self._metrics,
            "rebuild_view",
            asyncio.to_thread(
                sqlite_rebuild.rebuild,
                self._path,
                reducer,
                checkpointed=checkpointed,
                batch=batch,
                timeout=self._timeout,
                synchronous=self._synchronous,
                translate=translate_error,
            ),
        )
        self._watch.advance(position)
        return position

    async def purge_idempotency_keys(self, before: datetime, limit: int) -> int:
        # A connection of its own in a worker thread: the batch is small, so it holds the
        # write lock only briefly, and the group-committing writer waits at most that.
        def purge() -> int:
            try:
                with closing(self._connect(read_only=False)) as conn:
                    return conn.execute(_PURGE_KEYS, (epoch_micros(before), limit)).rowcount
            except sqlite3.Error as exc:
                raise translate_error(exc) from exc

        return await timed(self._metrics, "purge_idempotency_keys", asyncio.to_thread(purge))

    async def ping(self) -> None:
        await self._read(
            "ping",
            lambda conn: conn.execute("SELECT 1 FROM messages LIMIT 0").fetchall(),
            inline=False,
        )

    # -- the log -------------------------------------------------------------------------

    async def head(self) -> int:
        position = await self._read("head", sqlite_log.head, inline=True)
        self._watch.advance(position)
        return position

    async def read_events(self, after: int, limit: int) -> list[StoredEvent]:
        events = await self._read(
            "read_events",
            lambda conn: sqlite_log.read_events(conn, after, limit),
            inline=limit <= 1000,
        )
        if events:
            self._watch.advance(events[-1].position)
        return events

    async def read_tagged(self, after: int, limit: int) -> tuple[int, list[Tagged]]:
        last, tagged = await self._read(
            "read_tagged",
            lambda conn: sqlite_log.read_tagged(conn, after, limit),
            inline=limit <= 1000,
        )
        self._watch.advance(last)
        return last, tagged

    async def reducer_checkpoint(self, name: str) -> int:
        def query(conn: sqlite3.Connection) -> int:
            row = conn.execute(_CHECKPOINT, (name,)).fetchone()
            return 0 if row is None else int(row[0])

        return await self._read("reducer_checkpoint", query, inline=True)

    def seen_head(self) -> int:
        return self._watch.seen

    async def wait_for_head(self, after: int, within: float) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        if self._bell_watch is None:
            self._bell_watch = BellWatch(self._path, self._rung)
            if self._bell_watch.start():
                self._recheck = _HEAD_RECHECK_SECONDS
            self._rang = True  # an append before the watch began rang for nobody: read
        self._waiting += 1
        try:
            if self._rang and self._rereading is None:
                # It rang while nobody waited (the last append before a quiet spell):
                # the head it announced may not have been read yet.
                self._rang = False
                await self.head()
            while self._watch.seen <= after:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await self._watch.wait_beyond(after, min(remaining, self._recheck))
                if self._watch.seen <= after:
                    await self.head()  # appended by a writer that did not ring
        finally:
            self._waiting -= 1
        return self._watch.seen

    def _rung(self) -> None:
        """The bell rang (an append, perhaps by another process): read the head, once
        for any number of rings meanwhile, if anyone waits for it; else the next wait
        reads it first."""
        self._rang = True
        if self._waiting and self._rereading is None:
            self._rereading = asyncio.get_running_loop().create_task(self._reread_head())

    async def _reread_head(self) -> None:
        try:
            while self._rang:
                self._rang = False
                await self.head()  # advances the watch, which wakes the waiters
        except StoreError:
            pass  # the waiters read it themselves at their next re-read
        finally:
            self._rereading = None

    def reading(self, at_least: int | None, within: float) -> AbstractAsyncContextManager[int]:
        return known_head_view(self, at_least, within)

    @asynccontextmanager
    async def reducer_session(self, name: str) -> AsyncIterator[ReducerSession]:
        session = SQLiteReducerSession(name, self._lease_seconds)
        await self._writer.run(session.acquire)
        try:
            yield WriterSession(session, self._writer.run)
        finally:
            await self._writer.run(session.release)
