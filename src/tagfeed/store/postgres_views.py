"""PostgreSQL: how the read models take the changes their reducers fold, and the session
of a catch-up reducer (an advisory lock and the checkpoint).

The write path applies the inline views inside its one append statement
(``postgres_append.APPEND``); catch-up and rebuild use the statements here, rebuild on fresh
tables.
"""

from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

import asyncpg

from tagfeed.domain.ids import from_epoch_micros
from tagfeed.domain.model import Message
from tagfeed.reducers import counts, messages, tags, trending
from tagfeed.reducers.counts import CounterRow
from tagfeed.reducers.tags import TagChange
from tagfeed.store import trending_views
from tagfeed.store.errors import LeaseHeld, LeaseLost
from tagfeed.store.port import RELAY_CHECKPOINT

TABLES = {messages.NAME: "messages", counts.NAME: "message_counts", tags.NAME: "tag_stats"}
# The relay holds a checkpoint but no table: its effects are in JetStream.
TABLES[RELAY_CHECKPOINT] = ""
TABLES[trending.NAME] = trending_views.TABLE

_instant = lru_cache(maxsize=65_536)(from_epoch_micros)


async def _messages(conn: asyncpg.Connection, rows: list[Message], table: str) -> None:
    await conn.execute(
        f"INSERT INTO {table} (id, text, tag, user_id, created_at) SELECT * FROM"
        " unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])",
        [m.id for m in rows],
        [m.text for m in rows],
        [m.tag for m in rows],
        [m.user_id for m in rows],
        [m.created_at for m in rows],
    )


async def _counts(conn: asyncpg.Connection, increments: list[CounterRow], table: str) -> None:
    ordered = sorted(increments)  # the order every writer locks counters in
    await conn.execute(
        f"INSERT INTO {table} AS c (tag, span, start, slot, n)"
        " SELECT tag, span, start, 0, n FROM"
        " unnest($1::text[], $2::int[], $3::timestamptz[], $4::bigint[]) AS k (tag, span, start, n)"
        " ON CONFLICT (tag, span, start, slot) DO UPDATE SET n = c.n + excluded.n",
        [r[0] for r in ordered],
        [r[1] for r in ordered],
        [_instant(r[2]) for r in ordered],
        [r[3] for r in ordered],
    )


async def _tags(conn: asyncpg.Connection, changes: dict[str, TagChange], table: str) -> None:
    ordered = sorted(changes.items())
    await conn.execute(
        f"INSERT INTO {table} AS t (tag, messages, first_at, last_at) SELECT * FROM"
        " unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::timestamptz[])"
        " ON CONFLICT (tag) DO UPDATE SET messages = t.messages + excluded.messages,"
        " first_at = least(t.first_at, excluded.first_at),"
        " last_at = greatest(t.last_at, excluded.last_at)",
        [tag for tag, _ in ordered],
        [c.messages for _, c in ordered],
        [from_epoch_micros(c.first) for _, c in ordered],
        [from_epoch_micros(c.last) for _, c in ordered],
    )


async def _relayed(conn: asyncpg.Connection, changes: None, table: str) -> None:
    """The relay's batch moves only its checkpoint (the relay: ``relay/relaying.py``)."""


def numbered(sql: str) -> str:
    """``?`` placeholders (the statements shared with SQLite) as ``$1``, ``$2``, ..."""
    parts = sql.split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


async def _trending(conn: asyncpg.Connection, counts: trending.HourCounts, table: str) -> None:
    clock = await conn.fetchval(trending_views.READ_CLOCK.format(table=table))
    for step in trending_views.plan(table, None if clock is None else int(clock), counts):
        if step.rows is None:
            await conn.execute(numbered(step.sql), *step.params)
        else:
            columns = [list(column) for column in zip(*step.rows.values, strict=True)]
            await conn.execute(_with_rows(step.sql, step.rows), *columns)


def _with_rows(sql: str, rows: trending_views.Rows) -> str:
    """``sql`` reading the rows as a table ``r`` from one array parameter per column."""
    arrays = ", ".join(f"${n}::{kind}[]" for n, (_, kind) in enumerate(rows.columns, 1))
    names = ", ".join(name for name, _ in rows.columns)
    return sql.replace("{rows}", f"unnest({arrays}) AS r ({names})")


# view name -> apply(connection, the fold's changes, table)
APPLIERS: dict[str, Callable[[asyncpg.Connection, Any, str], Awaitable[None]]] = {
    messages.NAME: _messages,
    counts.NAME: _counts,
    tags.NAME: _tags,
    RELAY_CHECKPOINT: _relayed,
    trending.NAME: _trending,
}


async def _fill_messages(conn: asyncpg.Connection, rows: list[Message], table: str) -> None:
    await conn.copy_records_to_table(table, records=rows, columns=Message._fields)


async def _fill_counts(conn: asyncpg.Connection, increments: list[CounterRow], table: str) -> None:
    await conn.copy_records_to_table(
        table,
        records=((tag, span, _instant(start), 0, n) for tag, span, start, n in increments),
        columns=("tag", "span", "start", "slot", "n"),
    )


async def _fill_tags(conn: asyncpg.Connection, changes: dict[str, TagChange], table: str) -> None:
    await conn.copy_records_to_table(
        table,
        records=(
            (tag, c.messages, from_epoch_micros(c.first), from_epoch_micros(c.last))
            for tag, c in changes.items()
        ),
        columns=("tag", "messages", "first_at", "last_at"),
    )


# view name -> fill(connection, the fold's changes, table): how a rebuild writes into its
# fresh table before it has any index, by COPY, the indexes built afterwards in one sort
# each (measured at 1M events, under load: the counts' 1.15M rows and their primary key
# in 2.6 s instead of 11.4 s of upserts; the messages in 3.3 s instead of 5.8 s). No
# upsert is needed: a fold's changes hold one row per key, and the table holds none of
# them yet. Trending has none: its applier works out the windows and scores.
FILLERS: dict[str, Callable[[asyncpg.Connection, Any, str], Awaitable[None]]] = {
    messages.NAME: _fill_messages,
    counts.NAME: _fill_counts,
    tags.NAME: _fill_tags,
}

# view name -> how the parts of a rebuild that folds the log in parts are added up: every
# part is COPYed into ``{parts}`` (the view's columns, no key), and this statement writes
# one row per key into ``{table}``, still without its indexes. COPY and one GROUP BY
# instead of an upsert per row for the parts after the first: at 10M events the counts
# rebuild took 60 s with upserts, 29 s folded whole (docs/performance.md).
MERGES: dict[str, str] = {
    counts.NAME: "INSERT INTO {table} (tag, span, start, slot, n)"
    " SELECT tag, span, start, slot, sum(n) FROM {parts} GROUP BY tag, span, start, slot",
    tags.NAME: "INSERT INTO {table} (tag, messages, first_at, last_at)"
    " SELECT tag, sum(messages), min(first_at), max(last_at) FROM {parts} GROUP BY tag",
}

# Two-key advisory locks: a space apart from the one-key locks of migrations and
# idempotency keys.
_LOCK_CLASS = 0x7461_6772  # "tagr"
_TRY_LOCK = "SELECT pg_try_advisory_lock($1, hashtext($2))"
_ENSURE = (
    "INSERT INTO reducer_checkpoints (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING"
)
_READ = "SELECT position FROM reducer_checkpoints WHERE name = $1"
# A view's batches commit without waiting for the WAL to be flushed (nor for the
# synchronous standby, in the cluster): the batch's effects and its checkpoint are in one
# transaction, so a crash that loses the last batches loses both, and the log gives them
# again at the next run: applied once all the same (the SQLite session's
# ``synchronous=NORMAL``). Measured: the flush was a fixed part of every batch, milliseconds
# to tens of them on a busy disk, and so of the lag (docs/performance.md, "Reducer lag,
# third pass"). The relay's effects are outside the database (JetStream): its checkpoint
# waits for the flush as every other commit does.
_VIEW_SESSION = {"synchronous_commit": "off"}


def session_settings(name: str) -> dict[str, str]:
    """The server settings of the connection of reducer ``name``'s session."""
    return _VIEW_SESSION if TABLES.get(name) else {}


_ADVANCE = "UPDATE reducer_checkpoints SET position = $3 WHERE name = $1 AND position = $2"


class PostgresReducerSession:
    """The hold of one process on a catch-up reducer: a session advisory lock on a
    connection of its own, which applies every batch of effects and moves the
    checkpoint in one transaction. The lock goes with the connection: if it drops,
    another process may take over, and this one's next ``apply`` fails with it. The
    checkpoint moves only from the position this session read (compare and set), so
    even then no batch is applied twice."""

    def __init__(self, conn: asyncpg.Connection, name: str) -> None:
        if name not in APPLIERS:
            raise ValueError(f"no reducer named {name!r}; known: {', '.join(sorted(APPLIERS))}")
        self._conn = conn
        self.name = name
        self.position = 0

    async def acquire(self) -> None:
        """Raises LeaseHeld while another process holds the lock."""
        if not await self._conn.fetchval(_TRY_LOCK, _LOCK_CLASS, self.name):
            raise LeaseHeld(f"reducer {self.name} runs in another process")
        await self._conn.execute(_ENSURE, self.name)
        self.position = int(await self._conn.fetchval(_READ, self.name))

    async def apply(self, changes: object, through: int) -> None:
        async with self._conn.transaction():
            status = await self._conn.execute(_ADVANCE, self.name, self.position, through)
            if status != "UPDATE 1":
                raise LeaseLost(f"reducer {self.name}: another process took over")
            await APPLIERS[self.name](self._conn, changes, TABLES[self.name])
        self.position = through

    async def keep(self) -> None:
        """Check the connection (and so the lock) is still there."""
        await self._conn.fetchval("SELECT 1")
