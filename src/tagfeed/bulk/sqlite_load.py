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
from datetime import UTC, datetime

import msgspec

from tagfeed.bulk.batches import DUPLICATE_ID, Batch, Rejections, duplicate_indexes
from tagfeed.bulk.prefetch import read_ahead
from tagfeed.domain.events import MessagePosted
from tagfeed.domain.model import Message
from tagfeed.store import sqlite_log
from tagfeed.store.errors import StoreUnavailable
from tagfeed.store.sqlite import sqlite_path, translate_error

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
    """A batch as the statement takes it (``sqlite_log.prepare``), made on the reader
    thread so that the loading thread does nothing but run SQL."""

    batch: Batch
    prepared: tuple[bytes, bytes, bytes]


def _ready(batch: Batch, now: datetime) -> _Ready:
    posted = [MessagePosted(Message(*fields)) for fields in batch.rows]
    return _Ready(batch, sqlite_log.prepare(posted, now))


def _duplicates(conn: sqlite3.Connection, batch: Batch) -> set[int]:
    """Indexes of the rows whose id is already stored or appears earlier in the batch."""
    ids = [row[0] for row in batch.rows]
    return duplicate_indexes(ids, {found for (found,) in conn.execute(_EXISTING, (_encode(ids),))})


def _store(
    conn: sqlite3.Connection, ready: _Ready, head: int, now: datetime, rejections: Rejections
) -> int:
    """Append a batch's events after ``head`` with their messages and counters; return
    how many were appended. A duplicate id fails the statement (SQLite undoes just
    that statement): the duplicates are found, rejected, and the rest appended again."""
    while ready.batch.rows:
        try:
            conn.execute(sqlite_log.APPLY, (head, *ready.prepared))
        except sqlite3.IntegrityError:
            dropped = _duplicates(conn, ready.batch)
            if not dropped:
                raise
            for index in sorted(dropped):
                rejections.reject(ready.batch.numbers[index], DUPLICATE_ID)
            ready = _ready(ready.batch.without(dropped), now)
        else:
            return len(ready.batch.rows)
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
        for statement in sqlite_log.APPLY_SETUP:
            conn.execute(statement)
        conn.execute("BEGIN IMMEDIATE")
        head = sqlite_log.head(conn)
        now = datetime.now(UTC)
        stored = 0
        try:
            with read_ahead(_ready(batch, now) for batch in batches) as ready:
                for each in ready:
                    appended = _store(conn, each, head + stored, now, rejections)
                    stored += appended
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
