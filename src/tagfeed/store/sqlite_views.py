"""SQLite: how the read models take the changes their reducers fold, and the session
of a catch-up reducer (its lease and checkpoint).

Each view's statement is written once here: the append's trigger (``sqlite_log``) uses
it on the live tables, catch-up and rebuild call it directly, rebuild on fresh tables.
"""

import secrets
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import msgspec

from tagfeed.domain.events import MESSAGE_POSTED, MESSAGE_POSTED_VERSION
from tagfeed.domain.ids import epoch_micros
from tagfeed.domain.model import Message
from tagfeed.reducers import counts, messages, tags, trending
from tagfeed.reducers.counts import CounterRow
from tagfeed.reducers.tags import TagChange
from tagfeed.store import trending_views
from tagfeed.store.errors import LeaseHeld, LeaseLost
from tagfeed.store.port import RELAY_CHECKPOINT

_encode = msgspec.json.Encoder().encode

StoredRow = tuple[str, str, str, str, int]  # a message as the messages table holds it

# The table each view lives in.
TABLES = {messages.NAME: "messages", counts.NAME: "message_counts", tags.NAME: "tag_stats"}
# The relay holds a checkpoint but no table: its effects are in JetStream.
TABLES[RELAY_CHECKPOINT] = ""
TABLES[trending.NAME] = trending_views.TABLE

# {table}: where to write; {rows}: the JSON array of changes (``?`` or ``NEW.column``).
# Messages go in sorted by (tag, created_at), the table's own order, so that consecutive
# inserts land on the same pages (measured: 10-20% less time).
INSERT_MESSAGES = (
    "INSERT INTO {table} (id, text, tag, user_id, created_at)"
    " SELECT value->>0, value->>1, value->>2, value->>3, value->>4 FROM json_each({rows})"
    " ORDER BY 3, 5"
)
ADD_COUNTS = (
    "INSERT INTO {table} (tag, span, start, slot, n)"
    " SELECT value->>0, value->>1, value->>2, 0, value->>3 FROM json_each({rows})"
    " WHERE true ORDER BY 1, 2, 3"  # WHERE: lets SQLite parse the ON CONFLICT below
    " ON CONFLICT (tag, span, start, slot) DO UPDATE SET n = n + excluded.n"
)
ADD_TAGS = (
    "INSERT INTO {table} (tag, messages, first_at, last_at)"
    " SELECT value->>0, value->>1, value->>2, value->>3 FROM json_each({rows}) WHERE true"
    " ON CONFLICT (tag) DO UPDATE SET messages = messages + excluded.messages,"
    " first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at)"
)


# The messages view's fold is the identity (reducers/messages.py: each MessagePosted adds
# its message), so on SQLite a rebuild runs it as SQL: SQLite decodes the v1 payloads
# itself (codec.py's format: the instant always ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, read
# back as microseconds since the epoch, exactly, before 1970 too) and sorts them into
# the table's order, (tag, created_at, id), with no Python per event.
_MICROS = "unixepoch(substr(at, 1, 19)) * 1000000 + CAST(substr(at, 21, 6) AS INTEGER)"
DECODE_MESSAGES = f"""
SELECT id, text, tag, user_id, {_MICROS} FROM (
    SELECT payload->>'id' AS id, payload->>'text' AS text, payload->>'tag' AS tag,
           payload->>'user_id' AS user_id, payload->>'created_at' AS at
    FROM events WHERE position > ? AND position <= ?
        AND type = '{MESSAGE_POSTED}' AND version = {MESSAGE_POSTED_VERSION})
"""


# SQLite's sorter (ORDER BY, CREATE INDEX) keeps runs of up to the main database's page
# cache in memory. With threads, each full run is sorted and written by a helper thread
# while the statement goes on reading, and the runs are merged at the end; a run as
# large as the whole input is sorted at the end on the statement's own thread. So the
# big sorts of a rebuild and of a first import (the messages view's rows, its indexes)
# run with a small cache: measured at 1M, sorting the view's rows took 1.7 s instead of
# 3.3 s, each index 0.5 s instead of 0.7 s (docs/performance.md, "SQLite's sorter in small runs").
SORTER_CACHE_KIB = 8 * 1024


def sort_in_runs(conn: sqlite3.Connection) -> None:
    """Set ``conn`` to sort in small runs on up to two helper threads (see above)."""
    conn.execute(f"PRAGMA cache_size=-{SORTER_CACHE_KIB}")
    conn.execute("PRAGMA threads=2")


def row_from_message(message: tuple[str, str, str, str, Any]) -> StoredRow:
    """A message (or the same five fields as a plain tuple) as the table holds it:
    ``created_at`` in microseconds since the epoch."""
    return (message[0], message[1], message[2], message[3], epoch_micros(message[4]))


def _messages(conn: sqlite3.Connection, rows: list[Message], table: str) -> None:
    sql = INSERT_MESSAGES.format(table=table, rows="?")
    conn.execute(sql, (_encode([row_from_message(m) for m in rows]),))


def _counts(conn: sqlite3.Connection, increments: list[CounterRow], table: str) -> None:
    conn.execute(ADD_COUNTS.format(table=table, rows="?"), (_encode(increments),))


def _tags(conn: sqlite3.Connection, changes: dict[str, TagChange], table: str) -> None:
    rows = [(tag, c.messages, c.first, c.last) for tag, c in changes.items()]
    conn.execute(ADD_TAGS.format(table=table, rows="?"), (_encode(rows),))


def _relayed(conn: sqlite3.Connection, changes: None, table: str) -> None:
    """The relay's batch moves only its checkpoint (the relay: ``relay/relaying.py``)."""


def _trending(conn: sqlite3.Connection, counts: trending.HourCounts, table: str) -> None:
    row = conn.execute(trending_views.READ_CLOCK.format(table=table)).fetchone()
    for step in trending_views.plan(table, None if row is None else int(row[0]), counts):
        if step.rows is None:
            conn.execute(step.sql, step.params)
        else:
            conn.execute(_with_rows(step.sql, step.rows), (_encode(step.rows.values),))


def _with_rows(sql: str, rows: trending_views.Rows) -> str:
    """``sql`` reading the rows as a table ``r`` from one JSON array parameter."""
    named = ", ".join(f"value->>{i} AS {name}" for i, (name, _) in enumerate(rows.columns))
    return sql.replace("{rows}", f"(SELECT {named} FROM json_each(?)) AS r")


# view name -> apply(connection, the fold's changes, table)
APPLIERS: dict[str, Callable[[sqlite3.Connection, Any, str], None]] = {
    messages.NAME: _messages,
    counts.NAME: _counts,
    tags.NAME: _tags,
    RELAY_CHECKPOINT: _relayed,
    trending.NAME: _trending,
}

_READ = "SELECT position, lease_owner, lease_until FROM reducer_checkpoints WHERE name = ?"
_CLAIM = (
    "INSERT INTO reducer_checkpoints (name, position, lease_owner, lease_until)"
    " VALUES (?, 0, ?, ?)"
    " ON CONFLICT (name) DO UPDATE SET lease_owner = excluded.lease_owner,"
    " lease_until = excluded.lease_until"
)
_ADVANCE = (
    "UPDATE reducer_checkpoints SET position = ?, lease_until = ?"
    " WHERE name = ? AND position = ? AND lease_owner = ?"
)
_RELEASE = "UPDATE reducer_checkpoints SET lease_until = 0 WHERE name = ? AND lease_owner = ?"


def _micros_now() -> int:
    return time.time_ns() // 1000


class SQLiteReducerSession:
    """The hold of one process on a catch-up reducer: a lease row (owner, expiry) in
    ``reducer_checkpoints``, taken if free or expired, and checked and extended in the
    same transaction as every batch of effects together with the checkpoint. Another
    process can take over only once the lease expired; then this one's next ``apply``
    finds another owner and raises LeaseLost, having written nothing.

    Each call runs its own transaction on the connection it is given: the store hands
    them to its writer thread, so a reducer in the server never waits for the file's
    lock behind the write path (nor makes it wait)."""

    def __init__(self, name: str, lease_seconds: float) -> None:
        if name not in APPLIERS:
            raise ValueError(f"no reducer named {name!r}; known: {', '.join(sorted(APPLIERS))}")
        self.name = name
        self._lease_us = int(lease_seconds * 1_000_000)
        self._owner = secrets.token_hex(8)
        self.position = 0

    def acquire(self, conn: sqlite3.Connection) -> None:
        """Raises LeaseHeld while another owner's lease runs."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(_READ, (self.name,)).fetchone()
            now = _micros_now()
            if row is not None and row[1] not in (None, self._owner) and row[2] > now:
                raise LeaseHeld(f"reducer {self.name} runs in another process")
            conn.execute(_CLAIM, (self.name, self._owner, now + self._lease_us))
            self.position = 0 if row is None else int(row[0])
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def apply(self, conn: sqlite3.Connection, changes: object, through: int) -> None:
        """Apply ``changes`` (the fold of the events after ``position`` up to
        ``through``) and move the checkpoint to ``through``, in one transaction."""
        self._advance(conn, through, lambda: APPLIERS[self.name](conn, changes, TABLES[self.name]))

    def keep(self, conn: sqlite3.Connection) -> None:
        """Extend the lease (while idle); raises LeaseLost if another took over."""
        self._advance(conn, self.position, lambda: None)

    def _advance(self, conn: sqlite3.Connection, through: int, effects: Callable[[], None]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            advanced = conn.execute(
                _ADVANCE,
                (through, _micros_now() + self._lease_us, self.name, self.position, self._owner),
            ).rowcount
            if advanced != 1:
                raise LeaseLost(f"reducer {self.name}: another process took over")
            effects()
            conn.execute("COMMIT")
            self.position = through
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def release(self, conn: sqlite3.Connection) -> None:
        """Let another process take over at once."""
        conn.execute(_RELEASE, (self.name, self._owner))
