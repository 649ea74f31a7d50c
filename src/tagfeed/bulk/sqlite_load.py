"""The SQLite fast path: one synchronous connection, one transaction, one statement per
batch.

Everything happens between ``BEGIN IMMEDIATE`` and ``COMMIT``: an import that stops for
any reason (a bad line under abort, a crash, Ctrl-C) leaves the file as it was. The
write lock is held for the whole import, so the server's writes wait for it (up to
their timeout) meanwhile; reads go on, as WAL allows.
"""

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from tagfeed.bulk.batches import DUPLICATE_ID, Batch, Rejections, duplicate_indexes
from tagfeed.bulk.counting import counter_rows
from tagfeed.bulk.prefetch import read_ahead
from tagfeed.store.errors import StoreUnavailable
from tagfeed.store.sqlite import (
    BUMP_COUNTERS,
    INSERT_ROWS,
    StoredRow,
    row_from_message,
    sqlite_path,
    translate_error,
)

_EXISTING = "SELECT id FROM messages WHERE id IN (SELECT value FROM json_each(?))"
BUMP_GENERATION = (
    "INSERT INTO counter_generation VALUES (1, 1)"
    " ON CONFLICT (id) DO UPDATE SET generation = generation + 1"
)
# Pages for this connection only (negative: KiB). Index pages of a large import stay in
# memory until COMMIT instead of spilling to the WAL mid-transaction.
_CACHE_KIB = 256 * 1024

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class _Ready:
    """A batch as the statements take it, made on the reader thread so that the loading
    thread does nothing but run SQL."""

    batch: Batch
    rows: list[StoredRow]
    rows_json: bytes
    counters_json: bytes


def _ready(batch: Batch, rows: list[StoredRow] | None = None) -> _Ready:
    if rows is None:
        rows = [row_from_message(fields) for fields in batch.rows]
    counters = counter_rows((row[2], row[4]) for row in rows)
    return _Ready(batch, rows, _encode(rows), _encode(counters))


def _duplicates(conn: sqlite3.Connection, rows: list[StoredRow]) -> set[int]:
    """Indexes of the rows whose id is already stored or appears earlier in the batch."""
    ids = [row[0] for row in rows]
    return duplicate_indexes(ids, {found for (found,) in conn.execute(_EXISTING, (_encode(ids),))})


def _store(conn: sqlite3.Connection, ready: _Ready, rejections: Rejections) -> int:
    """Insert a batch and bump its counters; return how many messages were stored. A
    duplicate id fails the insert (SQLite undoes just that statement): the duplicates
    are found, rejected, and the rest inserted again."""
    while ready.rows:
        try:
            conn.execute(INSERT_ROWS, (ready.rows_json,))
        except sqlite3.IntegrityError:
            dropped = _duplicates(conn, ready.rows)
            if not dropped:
                raise
            for index in sorted(dropped):
                rejections.reject(ready.batch.numbers[index], DUPLICATE_ID)
            kept = [row for index, row in enumerate(ready.rows) if index not in dropped]
            ready = _ready(ready.batch.without(dropped), kept)
        else:
            conn.execute(BUMP_COUNTERS, (ready.counters_json,))
            return len(ready.rows)
    return 0


def load_sqlite(
    url: str, batches: Iterable[Batch], rejections: Rejections, *, timeout: float, synchronous: str
) -> int:
    """Store every batch and its counters in one transaction; return how many messages
    were stored. ``batches`` is read (and each batch readied) on a thread of its own.
    Raises ImportAborted (from ``batches`` or a duplicate id under abort) after rolling
    back, StoreUnavailable / StoreError for database failures."""
    try:
        conn = sqlite3.connect(sqlite_path(url), timeout=timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open SQLite database: {exc}") from exc
    try:
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        conn.execute("BEGIN IMMEDIATE")
        stored = 0
        try:
            with read_ahead(map(_ready, batches)) as ready:
                for each in ready:
                    stored += _store(conn, each, rejections)
            # Counts of closed periods changed: servers drop what they cached of them.
            conn.execute(BUMP_GENERATION)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back by itself (disk full)
                conn.execute("ROLLBACK")
            raise
        return stored
    except sqlite3.Error as exc:
        raise translate_error(exc) from exc
    finally:
        conn.close()
