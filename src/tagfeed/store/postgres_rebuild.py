"""PostgreSQL: rebuilding a view from the log (``Store.rebuild_view``, ``tagfeed rebuild``).

The fold goes into a fresh table, ``<table>__rebuild`` (``LIKE`` the live one, no index
yet), while the live one keeps serving. The log is read in chunks of consecutive
positions on a connection of its own, one chunk ahead of the fold: one query per chunk,
the server joining its payloads into one JSON array, decoded in one call.

- A view with a ``fold_tagged`` (counts, tags, trending) folds the log up to the head
  found at the start part by part (``rebuild_parts``: 2M events at a time with the
  command's chunks), on a worker thread that takes each chunk as the event loop fetches
  it, holding only a part's distinct keys, and writes each part.
- The messages view (its changes are its rows) is folded and written chunk by chunk.

Writing into the table before it has an index is a COPY (``FILLERS``); trending, which
has no filler, is written by its applier, whose upserts need the primary key, built
first. When the log makes more than one part, the first part's table becomes a table of
parts, every part is COPYed into it, and they are added up into the fresh table once,
with one ``GROUP BY`` (``MERGES``). The other indexes, named ``<index>__rebuild``, are
built after the first pass, outside any lock (``maintenance_work_mem`` raised for this
connection only). The swap is one
transaction: ``LOCK event_head IN EXCLUSIVE MODE`` waits for appends in flight and holds
new ones at their first step (before they touch a view), the events appended since are
applied, the live table dropped, the fresh one and its indexes renamed to the live
names, and a catch-up view's checkpoint set. Queries that waited see the new table:
PostgreSQL re-plans them by name.
"""

import asyncio
import inspect
import re
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

import asyncpg

from tagfeed.domain.events import MESSAGE_POSTED, MESSAGE_POSTED_VERSION, MessagePosted
from tagfeed.reducers import Reducer, Tagged
from tagfeed.store.codec import check_types, messages_of, tagged_of
from tagfeed.store.errors import StoreError
from tagfeed.store.postgres_views import APPLIERS, FILLERS, MERGES, TABLES
from tagfeed.store.rebuild_parts import fold_part

# The index builds' sort memory, and the parts' merge's (work_mem), this connection only.
MAINTENANCE_WORK_MEM = "256MB"
# Positions have no gaps, so a chunk is a range of them: the primary key's range scan,
# whatever the planner knows of the table (a LIMIT made it sort the rest of the log when
# the table had no statistics yet). The order within a chunk does not matter: the folds
# are sums, minimums and maximums, and the messages view is a heap.
# (events of unknown type or version, the payloads as one JSON array, the last position)
# of the range of positions after $1 up to $2: no gaps, so the events there.
READ_CHUNK = """
SELECT count(*) FILTER (WHERE type <> $3 OR version <> $4),
       '[' || string_agg(payload::text, ',') || ']', max(position)
FROM events WHERE position > $1 AND position <= $2
"""
_HEAD = "SELECT position FROM event_head WHERE id = 1"
_INDEXES = (
    "SELECT indexname, indexdef FROM pg_indexes"
    " WHERE schemaname = current_schema() AND tablename = $1"
)
_PRIMARY_KEY = "SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'"
_SET_CHECKPOINT = (
    "INSERT INTO reducer_checkpoints (name, position) VALUES ($1, $2)"
    " ON CONFLICT (name) DO UPDATE SET position = excluded.position"
)
_BUMP_GENERATION = """
INSERT INTO counter_generation AS g VALUES (1, 1)
ON CONFLICT (id) DO UPDATE SET generation = g.generation + 1
"""

Chunk = tuple[int, str]  # the last position, the payloads as one JSON array
Fetch = Callable[[int], Coroutine[Any, Any, Chunk | None]]
Write = Callable[[asyncpg.Connection, Any, str], Awaitable[None]]


def _index_on_fresh(definition: str, index: str, fresh: str) -> str:
    renamed, count = re.subn(
        rf"^(CREATE (?:UNIQUE )?INDEX) {index} ON (?:\S+\.)?\S+ ",
        rf"\1 {index}__rebuild ON {fresh} ",
        definition,
    )
    if count != 1:
        raise StoreError(f"cannot read the definition of index {index}: {definition[:80]!r}")
    return renamed


def _reading(conn: asyncpg.Connection, through: int, size: int) -> Fetch:
    """The chunk of the events after a position, up to ``size`` of them and up to
    ``through``; None past ``through``. Raises UnknownEvent for an event this code
    cannot fold."""

    async def fetch(after: int) -> Chunk | None:
        while after < through:
            upto = min(after + size, through)
            unknown, payloads, _ = await conn.fetchrow(
                READ_CHUNK, after, upto, MESSAGE_POSTED, MESSAGE_POSTED_VERSION
            )
            check_types(unknown, after, upto)
            if payloads is not None:
                return upto, str(payloads)
            after = upto  # none there (a gap would be a bug of the log): read on
        return None

    return fetch


def _tagged_on_thread(
    loop: asyncio.AbstractEventLoop, fetch: Fetch
) -> Generator[tuple[int, list[Tagged]]]:
    """The log's chunks (last position, its events as the counting folds take them),
    each fetched on ``loop`` while the one before is folded: to be advanced on a worker
    thread (``fold_part``), never on the loop's."""
    pending = asyncio.run_coroutine_threadsafe(fetch(0), loop)
    try:
        while (chunk := pending.result()) is not None:
            last, payloads = chunk
            pending = asyncio.run_coroutine_threadsafe(fetch(last), loop)
            yield last, tagged_of(payloads)
    finally:
        pending.cancel()  # still running if the fold failed


async def _write_chunks(
    conn: asyncpg.Connection,
    fetch: Fetch,
    reducer: Reducer[Any],
    write: Write,
    fresh: str,
    after: int,
    *,
    ahead: bool,
) -> int:
    """Fold each chunk and ``write`` it into ``fresh``; return the last position
    (``after`` if none). ``ahead``: ``fetch`` reads on another connection, so the next
    chunk is read while this one is written."""
    last = after
    pending = asyncio.ensure_future(fetch(after))
    try:
        while (chunk := await pending) is not None:
            last, payloads = chunk
            if ahead:
                pending = asyncio.ensure_future(fetch(last))
                await asyncio.sleep(0)  # let it send its query before decoding holds the loop
            changes = reducer.fold([MessagePosted(m) for m in messages_of(payloads)])
            async with conn.transaction():
                await write(conn, changes, fresh)
            if not ahead:
                pending = asyncio.ensure_future(fetch(last))
    finally:
        pending.cancel()
    return last


async def rebuild(
    conn: asyncpg.Connection,
    reader: asyncpg.Connection,
    reducer: Reducer[Any],
    *,
    checkpointed: bool,
    batch: int,
) -> int:
    """Rebuild view ``reducer.name`` on ``conn``, reading the log on ``reader`` (both
    connections of their own, without a statement timeout: the first pass takes as long
    as the log is long); return the position the view reflects when swapped in."""
    name = reducer.name
    if name not in APPLIERS:
        raise ValueError(f"no view named {name!r}; known: {', '.join(sorted(APPLIERS))}")
    table = TABLES[name]
    fresh = f"{table}__rebuild"
    indexes = await conn.fetch(_INDEXES, table)
    primary_key = await conn.fetchval(_PRIMARY_KEY, table)
    await conn.execute(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
    parts = f"{fresh}__parts"
    create = (
        f"CREATE TABLE {fresh} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
        " INCLUDING GENERATED)"  # trending's tier (migration 0010)
    )
    for stopped in (fresh, parts):  # left by a rebuild that was stopped
        await conn.execute(f"DROP TABLE IF EXISTS {stopped}")
    await conn.execute(create)
    built = set()

    async def build(index: str, definition: str) -> None:
        await conn.execute(_index_on_fresh(definition, index, fresh))
        if index == primary_key:
            await conn.execute(
                f"ALTER TABLE {fresh} ADD CONSTRAINT {index}__rebuild"
                f" PRIMARY KEY USING INDEX {index}__rebuild"
            )
        built.add(index)

    fill = FILLERS.get(name)
    if fill is None:  # the applier's upserts need the primary key
        for index, definition in indexes:
            if index == primary_key:
                await build(index, definition)
    write = fill or APPLIERS[name]
    fetch = _reading(reader, int(await conn.fetchval(_HEAD)), batch)
    if reducer.fold_tagged is not None:
        position, target = 0, fresh
        chunks = _tagged_on_thread(asyncio.get_running_loop(), fetch)
        try:
            while part := await asyncio.to_thread(fold_part, chunks, reducer.fold_tagged):
                if position and fill is not None and target == fresh:  # a second part:
                    # the parts go on by COPY, added up once at the end (MERGES)
                    await conn.execute(f"ALTER TABLE {fresh} RENAME TO {parts}")
                    await conn.execute(create)
                    target = parts
                position, changes = part
                async with conn.transaction():
                    await write(conn, changes, target)
                del part, changes
        finally:
            # A cancelled wait leaves its thread folding the part: not closable under it.
            if inspect.getgeneratorstate(chunks) != inspect.GEN_RUNNING:
                chunks.close()
        if target == parts:
            await conn.execute(f"SET work_mem = '{MAINTENANCE_WORK_MEM}'")
            await conn.execute(MERGES[name].format(table=fresh, parts=parts))
            await conn.execute(f"DROP TABLE {parts}")
    else:
        position = await _write_chunks(conn, fetch, reducer, write, fresh, 0, ahead=True)
    for index, definition in indexes:
        if index not in built:
            await build(index, definition)
    async with conn.transaction():
        await conn.execute("LOCK TABLE event_head IN EXCLUSIVE MODE")
        since = _reading(conn, int(await conn.fetchval(_HEAD)), batch)
        apply = APPLIERS[name]
        position = await _write_chunks(conn, since, reducer, apply, fresh, position, ahead=False)
        await conn.execute("SELECT tagfeed_catalogue(false)")  # its views bind to the table
        await conn.execute(f"DROP TABLE {table}")
        await conn.execute(f"ALTER TABLE {fresh} RENAME TO {table}")
        for index, _ in indexes:
            await conn.execute(f"ALTER INDEX {index}__rebuild RENAME TO {index}")
        await conn.execute("SELECT tagfeed_catalogue(true)")  # migration 0009
        if checkpointed:
            await conn.execute(_SET_CHECKPOINT, name, position)
        await conn.execute(_BUMP_GENERATION)  # cached counts of sealed periods may differ
    return position
