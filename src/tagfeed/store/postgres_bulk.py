"""PostgreSQL's fast paths for ``tagfeed import`` and ``export``
(``Store.import_messages``, ``Store.export_messages``).

Import: binary COPY into ``messages`` inside one transaction.

Each batch is copied inside its own savepoint, so a duplicate id undoes that batch
only: the duplicates are found (one indexed query), rejected, and the rest copied again.
The batch's counter increments, aggregated in Python, are copied into a temporary table;
one statement at the end folds them into ``message_counts``, in key order. So the
counter rows are locked only for that last statement, in the order the server's own
writes lock them (no deadlock with posts arriving meanwhile), and the counters commit
with the messages. The events are staged too and appended at the end, after taking the
log's head lock: posts wait for the import only during that last part, and the import's
positions still commit in order. Nothing is visible to anyone before the final COMMIT.
"""

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import lru_cache

import asyncpg

from tagfeed.domain.events import MESSAGE_POSTED, MESSAGE_POSTED_VERSION
from tagfeed.domain.ids import epoch_micros, from_epoch_micros
from tagfeed.domain.model import Message
from tagfeed.reducers.counts import fold_micros
from tagfeed.store.codec import message_payload
from tagfeed.store.errors import StoreError, StoreUnavailable
from tagfeed.store.port import ImportBatch, MessageFields
from tagfeed.store.prefetch import read_ahead

_COLUMNS = ("id", "text", "tag", "user_id", "created_at")
_STAGE_COUNTS = """
CREATE TEMPORARY TABLE import_counts (
    tag text COLLATE "C" NOT NULL, span integer NOT NULL, start timestamptz NOT NULL,
    n bigint NOT NULL
) ON COMMIT DROP
"""
_STAGE_EVENTS = """
CREATE TEMPORARY TABLE import_events (
    ord bigserial, event_id uuid NOT NULL, payload text NOT NULL
) ON COMMIT DROP
"""
# Under the head's row lock until COMMIT, as every append (store/postgres_append.py).
_APPEND_EVENTS = """
WITH staged AS (SELECT count(*) AS n FROM import_events),
head AS (
    UPDATE event_head SET position = position + staged.n FROM staged WHERE id = 1
    RETURNING position - staged.n AS base
)
INSERT INTO events (position, event_id, type, version, payload, recorded_at)
SELECT head.base + row_number() OVER (ORDER BY ord), event_id, $1, $2, payload::json,
       clock_timestamp()
FROM head, import_events
"""
_NOTIFY = "SELECT pg_notify('tagfeed_events', position::text) FROM event_head WHERE id = 1"
_FOLD_COUNTS = """
INSERT INTO message_counts AS c (tag, span, start, slot, n)
SELECT tag, span, start, 0, sum(n) FROM import_counts
GROUP BY tag, span, start ORDER BY tag, span, start
ON CONFLICT (tag, span, start, slot) DO UPDATE SET n = c.n + excluded.n
"""
_EXISTING = "SELECT id::text FROM messages WHERE id = ANY($1::uuid[])"
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)

# Hours and days recur from batch to batch: convert each start once.
_instant = lru_cache(maxsize=65_536)(from_epoch_micros)


async def _duplicates(conn: asyncpg.Connection, batch: ImportBatch) -> set[int]:
    """Indexes of the messages whose id is already stored or appears earlier in the batch."""
    ids = [row[0] for row in batch.rows]
    return batch.duplicates({row[0] for row in await conn.fetch(_EXISTING, ids)})


CountRecord = tuple[str, int, datetime, int]  # a row of import_counts
EventRecord = tuple[str, str]  # a row of import_events: event id, payload


def _counts(rows: list[MessageFields]) -> list[CountRecord]:
    """The counter increments of ``rows``, as records for ``import_counts``. Run on the
    reader thread, so that the loading thread only talks to the server."""
    return [
        (tag, span, _instant(start), n)
        for tag, span, start, n in fold_micros((r[2], epoch_micros(r[4])) for r in rows)
    ]


def _events(rows: list[MessageFields]) -> list[EventRecord]:
    return [(r[0], message_payload(Message(*r)).decode()) for r in rows]


async def _store(
    conn: asyncpg.Connection,
    batch: ImportBatch,
    counts: list[CountRecord],
    events: list[EventRecord],
    on_duplicate: Callable[[int], None],
) -> int:
    """Copy the batch into ``messages`` and its counts into ``import_counts``; return how
    many messages were stored."""
    while batch.rows:
        try:
            async with conn.transaction():  # a savepoint: a duplicate undoes this batch only
                await conn.copy_records_to_table("messages", records=batch.rows, columns=_COLUMNS)
        except asyncpg.UniqueViolationError:
            dropped = await _duplicates(conn, batch)
            if not dropped:
                raise
            for index in sorted(dropped):
                on_duplicate(batch.numbers[index])
            batch = batch.without(dropped)
            counts = _counts(batch.rows)
            events = _events(batch.rows)
        else:
            await conn.copy_records_to_table("import_counts", records=counts)
            await conn.copy_records_to_table(
                "import_events", records=events, columns=("event_id", "payload")
            )
            return len(batch.rows)
    return 0


_BUMP_GENERATION = """
INSERT INTO counter_generation AS g VALUES (1, 1)
ON CONFLICT (id) DO UPDATE SET generation = g.generation + 1
"""


async def _load(
    conn: asyncpg.Connection, batches: Iterable[ImportBatch], on_duplicate: Callable[[int], None]
) -> int:
    stored = 0
    async with conn.transaction():
        await conn.execute(_STAGE_COUNTS)
        await conn.execute(_STAGE_EVENTS)
        # Parsing on the reader thread overlaps the server's work on the batch before.
        prepared = ((b, _counts(b.rows), _events(b.rows)) for b in batches)
        with read_ahead(prepared) as ready:
            for batch, counts, events in ready:
                stored += await _store(conn, batch, counts, events, on_duplicate)
        # Room to sort the staged rows in memory (a million messages stage about as many
        # rows; the default 4 MB would spill them to disk), and one sort serving both the
        # grouping and the key order instead of a hash aggregate followed by a sort.
        await conn.execute("SET LOCAL work_mem = '128MB'")
        await conn.execute("SET LOCAL enable_hashagg = off")
        await conn.execute(_FOLD_COUNTS)
        # Counts of closed periods changed: servers drop what they cached of them.
        await conn.execute(_BUMP_GENERATION)
        await conn.execute(_APPEND_EVENTS, MESSAGE_POSTED, MESSAGE_POSTED_VERSION)
        await conn.execute(_NOTIFY)
    return stored


async def load(
    dsn: str,
    batches: Iterable[ImportBatch],
    on_duplicate: Callable[[int], None],
    *,
    connect_timeout: float,
) -> int:
    """Append every batch in one transaction; return how many messages. ``batches`` is
    read on a thread of its own. Whatever ``batches`` or ``on_duplicate`` raise
    propagates after rolling back; StoreUnavailable / StoreError for database failures.
    ``connect_timeout`` bounds connecting only: an import legitimately runs for minutes."""
    try:
        conn = await asyncpg.connect(
            dsn,
            timeout=connect_timeout,
            # The staged counters live in temporary buffers, 8 MB by default: a large
            # import would write them to disk and read them back.
            server_settings={"temp_buffers": "256MB"},
        )
    except (*_UNAVAILABLE, asyncpg.PostgresError) as exc:
        raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
    try:
        return await _load(conn, batches, on_duplicate)
    except _UNAVAILABLE as exc:
        raise StoreUnavailable(f"PostgreSQL unavailable: {exc}") from exc
    except asyncpg.PostgresError as exc:
        raise StoreError(f"PostgreSQL error: {exc}") from exc
    finally:
        await conn.close()


def export_query(tag: str | None, after: Message | None, limit: int) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if tag is not None:
        params.append(tag)
        clauses.append(f"tag = ${len(params)}")
    if after is not None:
        params += [after.created_at, after.id]
        clauses.append(f"(created_at, id) > (${len(params) - 1}, ${len(params)}::uuid)")
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    params.append(limit)
    # Qualified: a bare "id" would name the id::text output column and defeat the index.
    order = "ORDER BY messages.created_at, messages.id"
    columns = "id::text, text, tag, user_id, created_at"
    return f"SELECT {columns} FROM messages{where} {order} LIMIT ${len(params)}", params


async def export(
    dsn: str,
    tag: str | None,
    write: Callable[[list[Message]], None],
    batch_size: int,
    *,
    connect_timeout: float,
) -> int:
    """Pass the messages to ``write`` in keyset batches, all read in one repeatable-read
    transaction (one snapshot); return how many. ``connect_timeout`` bounds connecting."""
    try:
        conn = await asyncpg.connect(dsn, timeout=connect_timeout)
    except (*_UNAVAILABLE, asyncpg.PostgresError) as exc:
        raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
    try:
        written = 0
        last: Message | None = None
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            while True:
                sql, params = export_query(tag, last, batch_size)
                batch = [Message(*row) for row in await conn.fetch(sql, *params)]
                if not batch:
                    break
                write(batch)
                written += len(batch)
                last = batch[-1]
        return written
    except _UNAVAILABLE as exc:
        raise StoreUnavailable(f"PostgreSQL unavailable: {exc}") from exc
    except asyncpg.PostgresError as exc:
        raise StoreError(f"PostgreSQL error: {exc}") from exc
    finally:
        await conn.close()
