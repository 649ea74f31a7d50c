"""SQLite: rebuilding a view from the log (``Store.rebuild_view``, ``tagfeed rebuild``).

The fold goes into a fresh table, ``<table>__rebuild``, made from the live table's own
``CREATE`` statement (its secondary indexes come at the swap), while the live one keeps
serving. The log is read in chunks (``log_chunks``: one statement each, the payloads
joined into one JSON array, decoded in one call) on a thread and a connection of their
own, so that reading overlaps folding and writing (SQLite works without the GIL).

- A view with a ``fold_tagged`` (counts, tags, trending) folds the log up to the head
  found at the start in **one call**, holding only its distinct keys (counts: one entry
  per (tag, hour)), and writes the result with its applier once, in one transaction.
- The messages view (its changes are its rows) is gathered by tag into runs of up to
  ``RUN_MESSAGES`` rows; each run is written in the table's own order, (tag, created_at,
  id), ``batch`` rows a transaction (``FILL_MESSAGES``): the fresh table grows at its
  end, each page written about once per run. Memory: the run, ~400 bytes a message.

Every transaction of the first pass holds the file's lock while it runs; the server's
writer waits for it (one batch of messages; the counting views' single write, ~1-2 s
at 1M on a quiet machine). Then, in one ``BEGIN IMMEDIATE`` transaction (nobody can
append meanwhile): the events appended since are applied too, the live table is
dropped, the fresh one renamed in its place, its indexes created under their own names,
and a catch-up view's checkpoint set. Readers see the old view or the new one, never a
mix. The drop and the index builds run under that lock (SQLite cannot rename an index):
posts wait for them.

The rebuild's connection: ``synchronous=NORMAL`` while it fills the fresh table (no
fsync per commit: a crash loses only a table nobody reads yet; the swap commits with the
database's own setting), a page cache of up to ``CACHE_MIB``, sorts in memory with up to
two helper threads (the index builds, the counts' single write).
"""

import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any

from tagfeed.domain.events import MESSAGE_POSTED, MESSAGE_POSTED_VERSION, MessagePosted
from tagfeed.domain.model import Message
from tagfeed.reducers import Reducer, Tagged, messages
from tagfeed.store import sqlite_log
from tagfeed.store.codec import check_types, messages_of, tagged_of
from tagfeed.store.errors import StoreError, StoreUnavailable
from tagfeed.store.prefetch import read_ahead
from tagfeed.store.sqlite_bulk import BUMP_GENERATION
from tagfeed.store.sqlite_views import (
    APPLIERS,
    FILL_MESSAGES,
    TABLES,
    TableOrder,
)

CACHE_MIB = 256
RUN_MESSAGES = 1_000_000
_SET_CHECKPOINT = (
    "INSERT INTO reducer_checkpoints (name, position) VALUES (?, ?)"
    " ON CONFLICT (name) DO UPDATE SET position = excluded.position"
)
# Positions have no gaps, so a chunk is a range of them. The order within a chunk does
# not matter: the folds are sums, minimums and maximums, and the messages are sorted.
_READ_CHUNK = f"""
SELECT count(*) - count(CASE WHEN type = '{MESSAGE_POSTED}'
                             AND version = {MESSAGE_POSTED_VERSION} THEN 1 END),
       CAST('[' || group_concat(payload, ',') || ']' AS BLOB)
FROM events WHERE position > ? AND position <= ?
"""


def log_chunks(
    conn: sqlite3.Connection, after: int, through: int, size: int
) -> Iterator[tuple[int, bytes]]:
    """(last position, the payloads as one JSON array) of each chunk of up to ``size``
    events after ``after`` up to ``through``. Raises UnknownEvent for an event this
    code cannot fold."""
    while after < through:
        upto = min(after + size, through)
        unknown, payloads = conn.execute(_READ_CHUNK, (after, upto)).fetchone()
        check_types(unknown, after, upto)
        if payloads is not None:  # None: no event there (a gap would be a bug of the log)
            yield upto, payloads
        after = upto


def _schema(conn: sqlite3.Connection, table: str) -> tuple[str, list[str]]:
    """The table's CREATE statement and those of its named indexes."""
    rows = conn.execute(
        "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL", (table,)
    ).fetchall()
    create = [sql for kind, sql in rows if kind == "table"]
    if len(create) != 1:
        raise StoreError(f"no table {table}: is the database migrated?")
    return create[0], [sql for kind, sql in rows if kind == "index"]


def _renamed(create: str, table: str, fresh: str) -> str:
    # SQLite keeps the statement as written, or quoted after an ALTER TABLE RENAME.
    renamed, count = re.subn(rf'^CREATE TABLE\s+"?{table}"?', f"CREATE TABLE {fresh}", create)
    if count != 1:
        raise StoreError(f"cannot read the definition of {table}: {create[:80]!r}")
    return renamed


def _transaction(conn: sqlite3.Connection, work: Callable[[], object]) -> None:
    """``work`` in a transaction of its own, or in the one already open."""
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        work()
        if own:
            conn.execute("COMMIT")
    finally:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")


def _fold_whole(
    chunks: Iterator[tuple[int, list[Tagged]]], fold_tagged: Callable[[Iterable[Tagged]], Any]
) -> tuple[int, Any]:
    """The last position read and the fold of every chunk, in one ``fold_tagged`` call."""
    last = 0

    def lists() -> Iterator[list[Tagged]]:
        nonlocal last
        for position, chunk in chunks:
            last = position
            yield chunk

    changes = fold_tagged(chain.from_iterable(lists()))
    return last, changes


def _apply_chunks(
    conn: sqlite3.Connection,
    chunks: Iterator[tuple[int, list[Message]]],
    reducer: Reducer[Any],
    fresh: str,
    after: int,
) -> int:
    """Fold and apply each chunk to ``fresh``; return the last position (``after`` if
    there was none)."""
    apply = APPLIERS[reducer.name]
    last = after
    for last, chunk in chunks:  # noqa: B007 - the last one is returned
        changes = reducer.fold([MessagePosted(m) for m in chunk])
        _transaction(conn, lambda: apply(conn, changes, fresh))  # noqa: B023 - called at once
    return last


def _write_runs(
    conn: sqlite3.Connection,
    chunks: Iterator[tuple[int, list[Message]]],
    reducer: Reducer[list[Message]],
    fresh: str,
    batch: int,
) -> int:
    """The messages view: fold the chunks into runs and write each in the table's order,
    ``batch`` rows a transaction; return the last position."""
    fill = FILL_MESSAGES.format(table=fresh)
    run = TableOrder()

    def write() -> None:
        ordered = run.take()
        for start in range(0, len(ordered), batch):
            rows = ordered[start : start + batch]
            _transaction(conn, lambda: conn.executemany(fill, rows))  # noqa: B023 - called at once

    last = 0
    for last, chunk in chunks:  # noqa: B007 - the last one is returned
        run.add(reducer.fold([MessagePosted(m) for m in chunk]))
        if run.rows >= RUN_MESSAGES:
            write()
    write()
    return last


def _decoded(
    conn: sqlite3.Connection, decode: Callable[[bytes], Any], after: int, through: int, size: int
) -> Iterator[tuple[int, Any]]:
    return ((last, decode(payloads)) for last, payloads in log_chunks(conn, after, through, size))


def _connect(path: str, timeout: float) -> sqlite3.Connection:
    try:
        return sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open SQLite database: {exc}") from exc


def rebuild(
    path: str,
    reducer: Reducer[Any],
    *,
    checkpointed: bool,
    batch: int,
    timeout: float,
    synchronous: str,
    translate: Callable[[sqlite3.Error], StoreError],
) -> int:
    """Rebuild view ``reducer.name``; return the position it reflects when swapped in.
    ``checkpointed``: a catch-up view, whose checkpoint moves to that position."""
    name = reducer.name
    if name not in APPLIERS:
        raise ValueError(f"no view named {name!r}; known: {', '.join(sorted(APPLIERS))}")
    table = TABLES[name]
    fresh = f"{table}__rebuild"
    conn = _connect(path, timeout)
    reader: sqlite3.Connection | None = None
    try:
        for pragma in ("synchronous=NORMAL", f"cache_size=-{CACHE_MIB * 1024}", "threads=2"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("PRAGMA temp_store=MEMORY")
        create, indexes = _schema(conn, table)
        conn.execute(f"DROP TABLE IF EXISTS {fresh}")  # left by a rebuild that was stopped
        conn.execute(_renamed(create, table, fresh))
        through = sqlite_log.head(conn)
        reader = _connect(path, timeout)
        reader.execute("PRAGMA query_only=1")
        if reducer.fold_tagged is not None:
            with read_ahead(_decoded(reader, tagged_of, 0, through, batch)) as tagged:
                position, changes = _fold_whole(tagged, reducer.fold_tagged)
            _transaction(conn, lambda: APPLIERS[name](conn, changes, fresh))
            del changes
        else:
            with read_ahead(_decoded(reader, messages_of, 0, through, batch)) as chunks:
                if name == messages.NAME:
                    position = _write_runs(conn, chunks, reducer, fresh, batch)
                else:
                    position = _apply_chunks(conn, chunks, reducer, fresh, 0)
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            since = _decoded(conn, messages_of, position, sqlite_log.head(conn), batch)
            position = _apply_chunks(conn, since, reducer, fresh, position)
            conn.execute(f"DROP TABLE {table}")  # and its indexes, freeing their names
            conn.execute(f"ALTER TABLE {fresh} RENAME TO {table}")
            for index in indexes:
                conn.execute(index)
            if checkpointed:
                conn.execute(_SET_CHECKPOINT, (name, position))
            conn.execute(BUMP_GENERATION)  # cached counts of sealed periods may differ
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        return position
    except sqlite3.Error as exc:
        raise translate(exc) from exc
    finally:
        if reader is not None:
            reader.close()
        conn.close()
