"""``tagfeed export``: every message (or one tag's), oldest first, as JSON Lines.

Streaming in constant memory: rows are fetched in keyset batches ordered by
(created_at, id) — each batch starts strictly after the last row of the one before —
and written out as they come. All batches are read inside one read-only transaction,
so the export is one consistent snapshot even while messages are being posted.
"""

import asyncio
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import asyncpg

from tagfeed.bulk.lines import format_line
from tagfeed.config import Settings
from tagfeed.domain.ids import epoch_micros
from tagfeed.domain.model import Message
from tagfeed.store.errors import StoreError, StoreUnavailable
from tagfeed.store.postgres import asyncpg_dsn
from tagfeed.store.sqlite import message_from_row, sqlite_path, translate_error

BATCH_SIZE = 10_000
_SQLITE_COLUMNS = "id, text, tag, user_id, created_at"
_POSTGRES_COLUMNS = "id::text, text, tag, user_id, created_at"


def _write(out: BinaryIO, messages: Iterable[Message]) -> None:
    out.write(b"".join(map(format_line, messages)))


def sqlite_query(tag: str | None, after: Message | None, limit: int) -> tuple[str, list[object]]:
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
    sql = f"SELECT {_SQLITE_COLUMNS} FROM messages{where} ORDER BY created_at, id LIMIT ?"
    return sql, [*params, limit]


def export_sqlite(url: str, out: BinaryIO, *, tag: str | None, batch_size: int = BATCH_SIZE) -> int:
    """Write the messages to ``out``; return how many. Raises StoreUnavailable /
    StoreError when the database fails."""
    path = sqlite_path(url)
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
            sql, params = sqlite_query(tag, last, batch_size)
            batch = [message_from_row(row) for row in conn.execute(sql, params)]
            if not batch:
                break
            _write(out, batch)
            written += len(batch)
            last = batch[-1]
        conn.execute("COMMIT")
        return written
    except sqlite3.Error as exc:
        raise translate_error(exc) from exc
    finally:
        conn.close()


def postgres_query(tag: str | None, after: Message | None, limit: int) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if tag is not None:
        params.append(tag)
        clauses.append(f"tag = ${len(params)}")
    if after is not None:
        params += [after.created_at, after.id]
        clauses.append(f"(created_at, id) > (${len(params) - 1}, ${len(params)}::uuid)")
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    params.append(limit)
    # Qualified: a bare "id" would name the id::text output column and defeat the index.
    order = "ORDER BY messages.created_at, messages.id"
    return f"SELECT {_POSTGRES_COLUMNS} FROM messages{where} {order} LIMIT ${len(params)}", params


async def export_postgres(
    url: str,
    out: BinaryIO,
    *,
    tag: str | None,
    connect_timeout: float,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Write the messages to ``out``; return how many. Raises StoreUnavailable /
    StoreError when the database fails. ``connect_timeout`` bounds connecting only."""
    try:
        conn = await asyncpg.connect(asyncpg_dsn(url), timeout=connect_timeout)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
    try:
        written = 0
        last: Message | None = None
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            while True:
                sql, params = postgres_query(tag, last, batch_size)
                batch = [Message(*row) for row in await conn.fetch(sql, *params)]
                if not batch:
                    break
                _write(out, batch)
                written += len(batch)
                last = batch[-1]
        return written
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
        raise StoreUnavailable(f"PostgreSQL unavailable: {exc}") from exc
    except asyncpg.PostgresError as exc:
        raise StoreError(f"PostgreSQL error: {exc}") from exc
    finally:
        await conn.close()


def export_messages(
    settings: Settings, out: BinaryIO, *, tag: str | None, batch_size: int = BATCH_SIZE
) -> int:
    """Write the messages of the database of ``settings`` (only ``tag``'s, a normalised
    tag, when given) to ``out``; return how many."""
    if settings.database_url.startswith("sqlite:///"):
        return export_sqlite(settings.database_url, out, tag=tag, batch_size=batch_size)
    return asyncio.run(
        export_postgres(
            settings.database_url,
            out,
            tag=tag,
            connect_timeout=settings.db_timeout,
            batch_size=batch_size,
        )
    )
