"""PostgreSQL: rebuilding a view from the log (``Store.rebuild_view``, ``tagfeed rebuild``).

The fold goes into a fresh table, ``<table>__rebuild`` (``LIKE`` the live one), while the
live one keeps serving; its indexes, named ``<index>__rebuild``, are built outside any
lock (the primary key first, for the upserts, the others after the first pass). The
swap is one transaction: ``LOCK event_head IN EXCLUSIVE MODE`` waits for appends in
flight and holds new ones at their first step (before they touch a view), the events
appended since are applied, the live table dropped, the fresh one and its indexes
renamed to the live names, and a catch-up view's checkpoint set. Queries that waited
see the new table: PostgreSQL re-plans them by name.
"""

import re
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from tagfeed.domain.events import MessagePosted, StoredEvent
from tagfeed.store.codec import decode
from tagfeed.store.errors import StoreError
from tagfeed.store.postgres_views import APPLIERS, TABLES

Fold = Callable[[Sequence[MessagePosted]], Any]
_READ_EVENTS = """
SELECT position, event_id::text, type, version, payload::text, recorded_at FROM events
WHERE position > $1 ORDER BY position LIMIT $2
"""
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


def _index_on_fresh(definition: str, index: str, fresh: str) -> str:
    renamed, count = re.subn(
        rf"^(CREATE (?:UNIQUE )?INDEX) {index} ON (?:\S+\.)?\S+ ",
        rf"\1 {index}__rebuild ON {fresh} ",
        definition,
    )
    if count != 1:
        raise StoreError(f"cannot read the definition of index {index}: {definition[:80]!r}")
    return renamed


async def _apply_after(
    conn: asyncpg.Connection, name: str, fold: Fold, fresh: str, position: int, batch: int
) -> int:
    while rows := await conn.fetch(_READ_EVENTS, position, batch):
        events = [StoredEvent(r[0], r[1], r[2], r[3], r[4].encode(), r[5]) for r in rows]
        async with conn.transaction():
            await APPLIERS[name](conn, fold([decode(e).event for e in events]), fresh)
        position = events[-1].position
    return position


async def rebuild(
    conn: asyncpg.Connection, name: str, fold: Fold, *, checkpointed: bool, batch: int
) -> int:
    """Rebuild view ``name`` with ``fold`` on ``conn`` (a connection of its own, without
    a statement timeout: the first pass takes as long as the log is long); return the
    position the view reflects when swapped in."""
    if name not in APPLIERS:
        raise ValueError(f"no view named {name!r}; known: {', '.join(sorted(APPLIERS))}")
    table = TABLES[name]
    fresh = f"{table}__rebuild"
    indexes = await conn.fetch(_INDEXES, table)
    primary_key = await conn.fetchval(_PRIMARY_KEY, table)
    await conn.execute(f"DROP TABLE IF EXISTS {fresh}")  # left by a rebuild that was stopped
    await conn.execute(
        f"CREATE TABLE {fresh} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    # The primary key first: the appliers' upserts need it. The other indexes after the
    # first pass, which is faster without them.
    for index, definition in indexes:
        if index == primary_key:
            await conn.execute(_index_on_fresh(definition, index, fresh))
            await conn.execute(
                f"ALTER TABLE {fresh} ADD CONSTRAINT {index}__rebuild"
                f" PRIMARY KEY USING INDEX {index}__rebuild"
            )
    position = await _apply_after(conn, name, fold, fresh, 0, batch)
    for index, definition in indexes:
        if index != primary_key:
            await conn.execute(_index_on_fresh(definition, index, fresh))
    async with conn.transaction():
        await conn.execute("LOCK TABLE event_head IN EXCLUSIVE MODE")
        position = await _apply_after(conn, name, fold, fresh, position, batch)
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
