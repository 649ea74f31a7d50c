"""SQLite's fast paths for ``tagfeed import`` and ``export`` (``Store.import_messages``,
``Store.export_messages``).

Import: one synchronous connection, one transaction, one statement per batch — the
append statement of the write path (``sqlite_log.APPLY``: events, messages, counters in
one sqlite3_step). Everything happens between ``BEGIN IMMEDIATE`` and ``COMMIT``: an
import that stops for any reason (a bad line under abort, a crash, Ctrl-C) leaves the
file as it was. The write lock is held for the whole import, so the server's writes
wait for it (up to their timeout) meanwhile; reads go on, as WAL allows.
"""

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from tagfeed.domain.ids import epoch_micros, from_epoch_micros
from tagfeed.domain.model import Message
from tagfeed.store import sqlite_log
from tagfeed.store.errors import StoreError, StoreUnavailable
from tagfeed.store.port import ImportBatch
from tagfeed.store.prefetch import read_ahead

_EXISTING = "SELECT id FROM messages WHERE id IN (SELECT value FROM json_each(?))"
BUMP_GENERATION = (
    "INSERT INTO counter_generation VALUES (1, 1)"
    " ON CONFLICT (id) DO UPDATE SET generation = generation + 1"
)
# Pages for this connection only (negative: KiB). Index pages of a large import stay in
# memory until COMMIT instead of spilling to the WAL mid-transaction.
_CACHE_KIB = 256 * 1024

_encode = msgspec.json.Encoder().encode
Translate = Callable[[sqlite3.Error], StoreError]


@dataclass(frozen=True, slots=True)
class _Ready:
    """A batch as the statement takes it (``sqlite_log.prepare``), made on the reader
    thread so that the loading thread does nothing but run SQL."""

    batch: ImportBatch
    prepared: tuple[bytes, bytes, bytes]


def _ready(batch: ImportBatch, now: datetime) -> _Ready:
    return _Ready(batch, sqlite_log.prepare_messages(batch.rows, now))


def _store(
    conn: sqlite3.Connection,
    ready: _Ready,
    head: int,
    now: datetime,
    on_duplicate: Callable[[int], None],
) -> int:
    """Append a batch's events after ``head`` with their messages and counters; return
    how many were appended. A duplicate id fails the statement (SQLite undoes just
    that statement): the duplicates are found, reported, and the rest appended again."""
    while ready.batch.rows:
        try:
            conn.execute(sqlite_log.APPLY, (head, *ready.prepared))
        except sqlite3.IntegrityError:
            ids = _encode([row[0] for row in ready.batch.rows])
            dropped = ready.batch.duplicates(
                {found for (found,) in conn.execute(_EXISTING, (ids,))}
            )
            if not dropped:
                raise
            for index in sorted(dropped):
                on_duplicate(ready.batch.numbers[index])
            ready = _ready(ready.batch.without(dropped), now)
        else:
            return len(ready.batch.rows)
    return 0


def load(
    path: str,
    batches: Iterable[ImportBatch],
    on_duplicate: Callable[[int], None],
    *,
    timeout: float,
    synchronous: str,
    translate: Translate,
) -> int:
    """Append every batch in one transaction; return how many messages. ``batches`` is
    read (and each batch readied) on a thread of its own. Whatever ``batches`` or
    ``on_duplicate`` raise propagates after rolling back; StoreUnavailable / StoreError
    for database failures."""
    try:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
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
                    stored += _store(conn, each, head + stored, now, on_duplicate)
            # Counts of closed periods changed: servers drop what they cached of them.
            conn.execute(BUMP_GENERATION)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back by itself (disk full)
                conn.execute("ROLLBACK")
            raise
        return stored
    except sqlite3.Error as exc:
        raise translate(exc) from exc
    finally:
        conn.close()


def export_query(tag: str | None, after: Message | None, limit: int) -> tuple[str, list[object]]:
    """The next keyset batch, oldest first; served by the (created_at, id) index read
    backwards, or for a tag by the table itself, kept in (tag, created_at, id) order."""
    clauses: list[str] = []
    params: list[object] = []
    if tag is not None:
        clauses.append("tag = ?")
        params.append(tag)
    if after is not None:
        clauses.append("(created_at, id) > (?, ?)")
        params += [epoch_micros(after.created_at), after.id]
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    sql = (
        "SELECT id, text, tag, user_id, created_at FROM messages"
        f"{where} ORDER BY created_at, id LIMIT ?"
    )
    return sql, [*params, limit]


def export(
    path: str,
    tag: str | None,
    write: Callable[[list[Message]], None],
    batch_size: int,
    translate: Translate,
) -> int:
    """Pass the messages to ``write`` in keyset batches, all read in one transaction
    (one snapshot, even while posts go on); return how many."""
    if not Path(path).is_file():  # connect() would create an empty one
        raise StoreUnavailable(f"no SQLite database at {path}")
    try:
        conn = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open SQLite database: {exc}") from exc
    try:
        conn.execute("PRAGMA query_only=1")
        written = 0
        last: Message | None = None
        conn.execute("BEGIN")  # one snapshot for every batch
        while True:
            sql, params = export_query(tag, last, batch_size)
            batch = [
                Message(row[0], row[1], row[2], row[3], from_epoch_micros(row[4]))
                for row in conn.execute(sql, params)
            ]
            if not batch:
                break
            write(batch)
            written += len(batch)
            last = batch[-1]
        conn.execute("COMMIT")
        return written
    except sqlite3.Error as exc:
        raise translate(exc) from exc
    finally:
        conn.close()
