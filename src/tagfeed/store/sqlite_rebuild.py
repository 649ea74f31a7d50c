"""SQLite: rebuilding a view from the log (``Store.rebuild_view``, ``tagfeed rebuild``).

The fold goes into a fresh table, ``<table>__rebuild``, made from the live table's own
``CREATE`` statement, while the live one keeps serving: each batch is one statement in
autocommit mode, so the server's writer waits for the file's lock at most that long.
Then, in one ``BEGIN IMMEDIATE`` transaction (nobody can append meanwhile): the events
appended since are applied too, the live table is dropped, the fresh one renamed in its
place, its indexes created under their own names, and a catch-up view's checkpoint set.
Readers see the old view or the new one, never a mix. The index builds run under that
lock: posts wait for them (about a second per million messages).
"""

import re
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from tagfeed.domain.events import MessagePosted
from tagfeed.store import sqlite_log
from tagfeed.store.codec import decode
from tagfeed.store.errors import StoreError, StoreUnavailable
from tagfeed.store.sqlite_bulk import BUMP_GENERATION
from tagfeed.store.sqlite_views import APPLIERS, TABLES

Fold = Callable[[Sequence[MessagePosted]], Any]
_SET_CHECKPOINT = (
    "INSERT INTO reducer_checkpoints (name, position) VALUES (?, ?)"
    " ON CONFLICT (name) DO UPDATE SET position = excluded.position"
)


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


def _apply_after(
    conn: sqlite3.Connection, name: str, fold: Fold, fresh: str, position: int, batch: int
) -> int:
    """Apply the events after ``position`` to ``fresh``; return the last position."""
    while events := sqlite_log.read_events(conn, position, batch):
        APPLIERS[name](conn, fold([decode(e).event for e in events]), fresh)
        position = events[-1].position
    return position


def rebuild(
    path: str,
    name: str,
    fold: Fold,
    *,
    checkpointed: bool,
    batch: int,
    timeout: float,
    translate: Callable[[sqlite3.Error], StoreError],
) -> int:
    """Rebuild view ``name`` with ``fold``; return the position it reflects when swapped
    in. ``checkpointed``: a catch-up view, whose checkpoint moves to that position."""
    if name not in APPLIERS:
        raise ValueError(f"no view named {name!r}; known: {', '.join(sorted(APPLIERS))}")
    table = TABLES[name]
    fresh = f"{table}__rebuild"
    try:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open SQLite database: {exc}") from exc
    try:
        create, indexes = _schema(conn, table)
        conn.execute(f"DROP TABLE IF EXISTS {fresh}")  # left by a rebuild that was stopped
        conn.execute(_renamed(create, table, fresh))
        position = _apply_after(conn, name, fold, fresh, 0, batch)
        conn.execute("BEGIN IMMEDIATE")
        try:
            position = _apply_after(conn, name, fold, fresh, position, batch)
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
        conn.close()
