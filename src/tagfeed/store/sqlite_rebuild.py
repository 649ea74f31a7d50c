"""SQLite: rebuilding a view from the log (``Store.rebuild_view``, ``tagfeed rebuild``).

The fold goes into a fresh table, ``<table>__rebuild``, made from the live table's own
``CREATE`` statement (its secondary indexes come at the swap), while the live one keeps
serving. The log is read in chunks (``log_chunks``: one statement each, the payloads
joined into one JSON array, decoded in one call) on a thread and a connection of their
own, so that reading overlaps folding and writing (SQLite works without the GIL).

- A view with a ``fold_tagged`` (counts, tags, trending) folds the log up to the head
  found at the start part by part (``rebuild_parts``: 2M events at a time with the
  command's chunks), holding only a part's distinct keys (counts: one entry per (tag,
  hour)), and writes each part with its applier, in one transaction.
- The messages view, whose fold is the identity (each MessagePosted adds its message),
  is filled by SQLite alone (``_fill_messages``): one statement decodes every v1 payload
  (``sqlite_views.DECODE_MESSAGES``, tested against the codec) and sorts the rows into the table's
  order, (tag, created_at, id), into a TEMP table (a file: memory stays within the page
  cache), then ``batch`` rows a transaction are appended to the fresh table. No Python
  object per event: a fifth less CPU and half the memory of folding the log in Python
  and sorting runs of it (docs/performance.md, "Rebuild"). A reducer that only
  carries the name (a test's) goes through the generic path: fold and apply by chunks.

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
database's own setting), no ``secure_delete``, and sorts in small runs on up to two
helper threads (``sqlite_views.sort_in_runs``: the messages view's rows and index builds,
the counting views' single write; in memory but for the messages).
"""

import re
import sqlite3
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from tagfeed.domain.events import MessagePosted
from tagfeed.domain.model import Message
from tagfeed.reducers import Reducer, messages
from tagfeed.store import sqlite_log
from tagfeed.store.codec import check_types, messages_of, tagged_of
from tagfeed.store.errors import StoreError, StoreUnavailable
from tagfeed.store.prefetch import read_ahead
from tagfeed.store.rebuild_parts import fold_part
from tagfeed.store.sqlite_bulk import BUMP_GENERATION
from tagfeed.store.sqlite_views import (
    APPLIERS,
    DECODE_MESSAGES,
    TABLES,
    sort_in_runs,
)

_SET_CHECKPOINT = (
    "INSERT INTO reducer_checkpoints (name, position) VALUES (?, ?)"
    " ON CONFLICT (name) DO UPDATE SET position = excluded.position"
)


def log_chunks(
    conn: sqlite3.Connection, after: int, through: int, size: int
) -> Iterator[tuple[int, bytes]]:
    """(last position, the payloads as one JSON array) of each chunk of up to ``size``
    events after ``after`` up to ``through``. Raises UnknownEvent for an event this
    code cannot fold."""
    while after < through:
        upto = min(after + size, through)
        unknown, payloads, _ = conn.execute(sqlite_log.READ_CHUNK, (after, upto)).fetchone()
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


_STAGE = f"CREATE TEMP TABLE {{stage}} AS {DECODE_MESSAGES} ORDER BY 3, 5, 1"
_COPY = (
    "INSERT INTO {table} (id, text, tag, user_id, created_at)"
    " SELECT * FROM temp.{stage} WHERE rowid > ? AND rowid <= ?"
)
_STAGED = "rebuild_messages"


def _unknown_events(conn: sqlite3.Connection, after: int, through: int, batch: int) -> None:
    """Raises UnknownEvent naming the first chunk of ``batch`` positions that holds an
    event the messages fold cannot read."""
    for _ in log_chunks(conn, after, through, batch):
        pass
    raise StoreError(f"events after position {after} up to {through}: fewer messages than events")


def _fill_messages(
    conn: sqlite3.Connection, table: str, after: int, through: int, batch: int
) -> int:
    """The messages view's rows of the events after ``after`` up to ``through``, decoded and
    sorted by SQLite into a TEMP table (no lock on the database file), then appended to
    ``table`` in its order, ``batch`` rows a transaction (each holds the file's lock as
    briefly as a batch of posts). Returns ``through``; raises UnknownEvent for an event
    it cannot read, having written nothing to ``table``."""
    conn.execute(f"DROP TABLE IF EXISTS temp.{_STAGED}")
    try:
        conn.execute(_STAGE.format(stage=_STAGED), (after, through))
        staged = conn.execute(f"SELECT count(*) FROM temp.{_STAGED}").fetchone()[0]
        if staged != through - after:  # positions have no gaps: one message per event
            _unknown_events(conn, after, through, batch)
        copy = _COPY.format(table=table, stage=_STAGED)
        for start in range(0, staged, batch):
            bounds = (start, min(start + batch, staged))
            _transaction(conn, lambda: conn.execute(copy, bounds))  # noqa: B023 - called at once
    finally:
        conn.execute(f"DROP TABLE IF EXISTS temp.{_STAGED}")
    return through


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
        # secure_delete (on in Debian's SQLite) would zero every page of the old table
        # as it is dropped, reading and writing each: the rows are still in the log, so
        # that protects nothing, and it took 0.5 s of the drop and 0.6 s of the commit
        # at 1M.
        for pragma in ("synchronous=NORMAL", "secure_delete=OFF"):
            conn.execute(f"PRAGMA {pragma}")
        # Each view's big writes are sorts: the messages view's rows and its indexes, the
        # counting views' single upsert.
        sort_in_runs(conn)
        # The messages view stages its rows, the size of the view, in a file (memory stays
        # bounded); the others sort only keys.
        temp_store = "FILE" if reducer is messages.REDUCER else "MEMORY"
        conn.execute(f"PRAGMA temp_store={temp_store}")
        create, indexes = _schema(conn, table)
        conn.execute(f"DROP TABLE IF EXISTS {fresh}")  # left by a rebuild that was stopped
        conn.execute(_renamed(create, table, fresh))
        through = sqlite_log.head(conn)
        reader = _connect(path, timeout)
        reader.execute("PRAGMA query_only=1")
        if reducer.fold_tagged is not None:
            position, write = 0, APPLIERS[name]
            with read_ahead(_decoded(reader, tagged_of, 0, through, batch)) as tagged:
                while (part := fold_part(tagged, reducer.fold_tagged)) is not None:
                    position, changes = part
                    _transaction(conn, partial(write, conn, changes, fresh))
                    del part, changes
        elif reducer is messages.REDUCER:
            position = _fill_messages(conn, fresh, 0, through, batch)
        else:
            with read_ahead(_decoded(reader, messages_of, 0, through, batch)) as chunks:
                position = _apply_chunks(conn, chunks, reducer, fresh, 0)
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            head = sqlite_log.head(conn)
            if reducer is messages.REDUCER:
                position = _fill_messages(conn, fresh, position, head, batch)
            else:
                since = _decoded(conn, messages_of, position, head, batch)
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
