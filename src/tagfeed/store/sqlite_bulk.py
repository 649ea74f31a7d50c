"""SQLite's fast paths for ``tagfeed import`` and ``export`` (``Store.import_messages``,
``Store.export_messages``).

Import: one synchronous connection, one transaction, one statement per batch — the
append statement of the write path (``sqlite_log.APPLY``: events, messages, counters in
one sqlite3_step). Everything happens between ``BEGIN IMMEDIATE`` and ``COMMIT``: an
import that stops for any reason (a bad line under abort, a crash, Ctrl-C) leaves the
file as it was. The write lock is held for the whole import, so the server's writes
wait for it (up to their timeout) meanwhile; reads go on, as WAL allows.

A first import (the messages view empty) into a file no other connection has open runs
in rollback-journal mode instead, holding the file's exclusive lock from start to end
(``_alone``): SQLite journals only the pages the file had before, so the new pages are
written once, straight into the file, where WAL writes each twice (the log, then the
checkpoint). The file is switched back to WAL before the connection closes, whatever
happened; after a crash, SQLite rolls the hot journal back on the next open and the next
migration (``tagfeed serve``, ``migrate``, ``import``) sets WAL again.
"""

import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import structlog

from tagfeed.domain.ids import epoch_micros, from_epoch_micros
from tagfeed.domain.model import Message
from tagfeed.store import sqlite_log
from tagfeed.store.errors import StoreError, StoreUnavailable
from tagfeed.store.port import ImportBatch
from tagfeed.store.prefetch import read_ahead
from tagfeed.store.sqlite_views import DECODE_MESSAGES, sort_in_runs

_EXISTING = "SELECT id FROM messages WHERE id IN (SELECT value FROM json_each(?))"
# While the messages view is filled only at the end, the log's unique ``event_id`` (a
# MessagePosted's id is its message's id) is what refuses a duplicate.
_LOGGED = "SELECT event_id FROM events WHERE event_id IN (SELECT value FROM json_each(?))"
_EMPTY_VIEW = "SELECT NOT EXISTS (SELECT 1 FROM messages)"
_VIEW_INDEXES = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'"
_FILL = (
    f"INSERT INTO messages (id, text, tag, user_id, created_at) {DECODE_MESSAGES} ORDER BY 3, 5, 1"
)
BUMP_GENERATION = (
    "INSERT INTO counter_generation VALUES (1, 1)"
    " ON CONFLICT (id) DO UPDATE SET generation = generation + 1"
)
# Pages for this connection only (negative: KiB). Index pages of a large import stay in
# memory until COMMIT instead of spilling to the WAL mid-transaction.
_CACHE_KIB = 256 * 1024

log = structlog.get_logger("tagfeed.store")
_encode = msgspec.json.Encoder().encode
Translate = Callable[[sqlite3.Error], StoreError]


@dataclass(frozen=True, slots=True)
class _Ready:
    """A batch as the statement takes it (``sqlite_log.prepare``), made on the reader
    thread so that the loading thread does nothing but run SQL."""

    batch: ImportBatch
    prepared: sqlite_log.Prepared


def _ready(batch: ImportBatch, now: datetime, with_rows: bool) -> _Ready:
    return _Ready(batch, sqlite_log.prepare_messages(batch.rows, now, with_rows=with_rows))


def _store(
    conn: sqlite3.Connection,
    ready: _Ready,
    head: int,
    now: datetime,
    on_duplicate: Callable[[int], None],
    deferred: bool,
) -> int:
    """Append a batch's events after ``head`` with their counters, and their messages
    unless ``deferred``; return how many were appended. A duplicate id fails the
    statement (SQLite undoes just that statement): the duplicates are found, reported,
    and the rest appended again."""
    apply, existing = (sqlite_log.APPLY_LOG, _LOGGED) if deferred else (sqlite_log.APPLY, _EXISTING)
    while ready.batch.rows:
        try:
            conn.execute(apply, (head, *ready.prepared))
        except sqlite3.IntegrityError:
            ids = _encode([row[0] for row in ready.batch.rows])
            dropped = ready.batch.duplicates({found for (found,) in conn.execute(existing, (ids,))})
            if not dropped:
                raise
            for index in sorted(dropped):
                on_duplicate(ready.batch.numbers[index])
            ready = _ready(ready.batch.without(dropped), now, not deferred)
        else:
            return len(ready.batch.rows)
    return 0


def _defer_view(conn: sqlite3.Connection) -> list[str] | None:
    """When the messages view is empty (a first bulk load), drop its indexes (in the
    import's transaction: a rollback brings them back) and return their ``CREATE``
    statements: the view is then filled at the end (``_fill_view``). Else None."""
    if not conn.execute(_EMPTY_VIEW).fetchone()[0]:
        return None
    indexes = conn.execute(_VIEW_INDEXES).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in indexes if sql is not None]


def _fill_view(conn: sqlite3.Connection, after: int, through: int, indexes: list[str]) -> None:
    """The messages view's rows of the events just appended, decoded and sorted by SQLite
    into the table's order (each page written once, full), then its indexes built, both
    sorted in small runs on helper threads (``sort_in_runs``)."""
    sort_in_runs(conn)
    filled = conn.execute(_FILL, (after, through)).rowcount
    if filled != through - after:  # every event appended here is a v1 MessagePosted
        raise StoreError(f"import: {filled} messages for {through - after} events")
    for index in indexes:
        conn.execute(index)


def _open(path: str, timeout: float) -> sqlite3.Connection:
    try:
        return sqlite3.connect(path, timeout=timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open SQLite database: {exc}") from exc


def _alone(path: str, timeout: float) -> sqlite3.Connection | None:
    """A connection in rollback-journal mode that holds the file's exclusive lock until
    it is closed (no other connection can read or write meanwhile), when the messages
    view is empty and no other connection has the file open; else None.

    The switch out of WAL needs that exclusive lock, and a connection that has the file
    open in WAL mode (a running server, even idle) holds a shared lock on it as long as
    it stays open: so the switch is tried without waiting (``busy_timeout=0``) and its
    failure means "not alone". A file this process cannot write is left to the WAL
    path, which reports it as always."""
    if not os.access(path, os.W_OK):
        return None
    conn = _open(path, timeout)
    try:
        if conn.execute(_EMPTY_VIEW).fetchall() == [(1,)]:  # fetched: no read left open
            conn.execute("PRAGMA busy_timeout=0")
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            if conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete":
                conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
                return conn
    except sqlite3.OperationalError:  # busy: another connection has the file open
        pass
    except BaseException:
        conn.close()
        raise
    conn.close()
    return None


def _back_to_wal(conn: sqlite3.Connection) -> None:
    """WAL again, which the server relies on; should that fail (disk full), the import's
    outcome stands, and the next migration sets WAL."""
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:
        log.warning("import: could not switch back to WAL", error=str(exc))


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
    for database failures.

    Into an empty messages view, the batches append only the log and the counts; the
    view is filled from the log at the end, sorted, and its indexes built after (the
    same transaction: readers see all of it or none). If, besides, no other connection
    has the file open, all of it runs in rollback-journal mode, the file locked
    exclusively until the connection closes (``_alone``)."""
    try:
        conn = _alone(path, timeout)
    except sqlite3.Error as exc:
        raise translate(exc) from exc
    rollback_journal = conn is not None
    if conn is None:
        conn = _open(path, timeout)
    elif synchronous == "NORMAL":  # in rollback mode NORMAL may corrupt on power loss
        synchronous = "FULL"
    try:
        for pragma in (f"synchronous={synchronous}", f"cache_size=-{_CACHE_KIB}", "threads=2"):
            conn.execute(f"PRAGMA {pragma}")
        for statement in (*sqlite_log.APPLY_SETUP, *sqlite_log.APPLY_LOG_SETUP):
            conn.execute(statement)
        conn.execute("BEGIN IMMEDIATE")
        head = sqlite_log.head(conn)
        now = datetime.now(UTC)
        stored = 0
        try:
            indexes = _defer_view(conn)
            deferred = indexes is not None
            with read_ahead(_ready(batch, now, not deferred) for batch in batches) as ready:
                for each in ready:
                    stored += _store(conn, each, head + stored, now, on_duplicate, deferred)
            if indexes is not None:
                _fill_view(conn, head, head + stored, indexes)
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
        if rollback_journal:
            _back_to_wal(conn)
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
