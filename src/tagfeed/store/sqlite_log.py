"""SQLite: appending events with what the inline reducers make of them, in one statement,
and reading the log back.

An append of a batch is one ``INSERT`` into a TEMP table whose ``BEFORE INSERT`` trigger
does the work and then drops the row (``RAISE(IGNORE)``): it checks the head, appends
the events at the positions after it, inserts the messages view's rows and adds the
counts view's increments. All of it runs inside one ``sqlite3_step``, so the writer
thread hands the GIL back to the event loop once per batch however many tables it
writes (docs/architecture.md, "SQLite"), and the statement is atomic: in autocommit
mode it is its own transaction. What to write comes from the reducers' folds
(``tagfeed.reducers``); the trigger only applies it.

Positions: SQLite lets one writer at a time into the file (several ``--workers``, an
import and the catch-up reducers all queue on its lock), so positions are given out in
commit order. The writer remembers the head it last wrote; the trigger refuses the
batch (``stale head``) if another connection appended meanwhile, and the writer reads
the head again and retries. So positions have no gaps and no reader ever skips one.
"""

import sqlite3
from collections.abc import Sequence
from datetime import datetime

import msgspec

from tagfeed.domain.events import MESSAGE_POSTED, MESSAGE_POSTED_VERSION, MessagePosted, StoredEvent
from tagfeed.domain.ids import epoch_micros, from_epoch_micros
from tagfeed.reducers import Tagged, counts, messages
from tagfeed.store.codec import check_types, message_payloads, tagged_of
from tagfeed.store.port import MessageFields
from tagfeed.store.sqlite_views import ADD_COUNTS, INSERT_MESSAGES, row_from_message

_encode = msgspec.json.Encoder().encode
STALE_HEAD = "tagfeed: stale head"


def _setup(table: str, messages_view: bool) -> list[str]:
    """The TEMP table ``table`` and its trigger appending a batch: events (each a
    ``MessagePosted`` v1, the one event posts and imports make; its id is its
    payload's), then (when ``messages_view``) the messages view's rows, then the counts
    view's increments."""
    insert_messages = (
        INSERT_MESSAGES.format(table="messages", rows="NEW.messages") + ";" if messages_view else ""
    )
    # Each event's payload travels as a JSON object, which SQLite renders back as the
    # same bytes (msgspec's compact form: strings copied as written) on the writer's
    # thread, without the GIL; the Python side, the busier one (the event loop, an
    # import's reader), encodes a batch's payloads in one call. Measured on an import's
    # 1M lines: the reader's time 5.05 s instead of 5.76 s with each payload encoded as
    # a string and the array of them encoded again.
    return [
        f"CREATE TEMP TABLE IF NOT EXISTS {table}"
        " (head INTEGER, recorded INTEGER, events TEXT, messages TEXT, counters TEXT)",
        f"""CREATE TEMP TRIGGER IF NOT EXISTS {table}_apply BEFORE INSERT ON {table} BEGIN
        SELECT RAISE(ABORT, '{STALE_HEAD}')
            WHERE (SELECT coalesce(max(position), 0) FROM main.events) != NEW.head;
        INSERT INTO events (position, event_id, type, version, payload, recorded_at)
            SELECT NEW.head + 1 + key, value->>'id', '{MESSAGE_POSTED}',
                   {MESSAGE_POSTED_VERSION}, value, NEW.recorded
            FROM json_each(NEW.events);
        {insert_messages}
        {ADD_COUNTS.format(table="message_counts", rows="NEW.counters")};
        SELECT RAISE(IGNORE);
    END""",
    ]


APPLY_SETUP = _setup("append_batch", messages_view=True)
# An import into an empty messages view appends the log and the counts only; it fills
# the view from the log at the end, sorted (sqlite_bulk).
APPLY_LOG_SETUP = _setup("append_log", messages_view=False)
APPLY_LOG = "INSERT INTO append_log VALUES (?, ?, ?, ?, ?)"
APPLY = "INSERT INTO append_batch VALUES (?, ?, ?, ?, ?)"
HEAD = "SELECT coalesce(max(position), 0) FROM events"
READ_EVENTS = (
    "SELECT position, event_id, type, version, CAST(payload AS BLOB), recorded_at"
    " FROM events WHERE position > ? ORDER BY position LIMIT ?"
)


# What ``APPLY`` takes after the head: the time the events are recorded (microseconds
# since the epoch), then the events' payloads, the messages view's rows and the counts
# view's increments, each a JSON array.
Prepared = tuple[int, bytes, bytes, bytes]


def prepare(posted: Sequence[MessagePosted], now: datetime) -> Prepared:
    """What ``APPLY`` appends for ``posted`` (after whatever head it is given).
    Independent of the head, so a bulk load can prepare it on another thread."""
    return prepare_messages(messages.fold(posted), now)


def prepare_messages(
    posted: Sequence[MessageFields], now: datetime, *, with_rows: bool = True
) -> Prepared:
    """``prepare`` for the MessagePosted events of ``posted`` messages, given as plain
    tuples (an import's lines): the messages view's fold of them is the messages.
    Without ``with_rows`` the view's rows are left out (``b"[]"``: ``APPLY_LOG``)."""
    rows = [row_from_message(m) for m in posted]
    increments = counts.fold_micros((row[2], row[4]) for row in rows)
    return (
        epoch_micros(now),
        message_payloads(posted),
        _encode(rows) if with_rows else b"[]",
        _encode(increments),
    )


def apply_params(head: int, posted: Sequence[MessagePosted], now: datetime) -> tuple[object, ...]:
    """The parameters of ``APPLY`` appending ``posted`` after ``head``."""
    return (head, *prepare(posted, now))


# Positions have no gaps, so a chunk is a range of them: (events of unknown type or
# version, the payloads as one JSON array, the last position). The order within a chunk
# does not matter: the folds are sums, minimums and maximums, and the messages are sorted.
READ_CHUNK = f"""
SELECT count(*) - count(CASE WHEN type = '{MESSAGE_POSTED}'
                             AND version = {MESSAGE_POSTED_VERSION} THEN 1 END),
       CAST('[' || group_concat(payload, ',') || ']' AS BLOB), max(position)
FROM events WHERE position > ? AND position <= ?
"""


def read_tagged(conn: sqlite3.Connection, after: int, limit: int) -> tuple[int, list[Tagged]]:
    """``Store.read_tagged``: one statement, the payloads decoded in one call."""
    unknown, payloads, last = conn.execute(READ_CHUNK, (after, after + limit)).fetchone()
    if payloads is None:
        return after, []
    check_types(unknown, after, last)
    return last, tagged_of(payloads)


def read_events(conn: sqlite3.Connection, after: int, limit: int) -> list[StoredEvent]:
    return [
        StoredEvent(row[0], row[1], row[2], row[3], row[4], from_epoch_micros(row[5]))
        for row in conn.execute(READ_EVENTS, (after, limit))
    ]


def head(conn: sqlite3.Connection) -> int:
    return int(conn.execute(HEAD).fetchone()[0])
