"""The PostgreSQL adapter: asyncpg with a connection pool.

The pool starts empty (``min_size=0``) so the service starts, and answers 503, while
the database is down, and reconnects by itself when it is back. Every call is bounded
twice: by ``asyncio.timeout`` around pool acquisition and query, and by the server's
``statement_timeout``, so a stuck query is cancelled on the server too.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg

from tagfeed.domain.model import Message
from tagfeed.domain.pagination import PageRequest
from tagfeed.domain.queries import MessageFilter
from tagfeed.store.errors import StoreError, StoreTimeout, StoreUnavailable
from tagfeed.store.port import UnitOfWork

T = TypeVar("T")

_COLUMNS = "id::text, text, tag, user_id, created_at"
GET_QUERY = f"SELECT {_COLUMNS} FROM messages WHERE id = $1::uuid"
_INSERT = "INSERT INTO messages (id, text, tag, user_id, created_at) VALUES ($1, $2, $3, $4, $5)"

# Errors after which the same request may succeed later: the server is down, restarting,
# refusing connections, or cancelled our statement for taking too long.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.QueryCanceledError,
)


def _to_message(row: asyncpg.Record) -> Message:
    return Message(row[0], row[1], row[2], row[3], row[4])


def _where(where: MessageFilter) -> tuple[list[str], list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if where.tag is not None:
        params.append(where.tag)
        clauses.append(f"tag = ${len(params)}")
    if where.period.start is not None:
        params.append(where.period.start)
        clauses.append(f"created_at >= ${len(params)}")
    if where.period.end is not None:
        params.append(where.period.end)
        clauses.append(f"created_at < ${len(params)}")
    return clauses, params


def page_query(where: MessageFilter, page: PageRequest) -> tuple[str, list[object]]:
    clauses, params = _where(where)
    if page.after is not None:
        params += [page.after.created_at, page.after.id]
        clauses.append(f"(created_at, id) < (${len(params) - 1}, ${len(params)}::uuid)")
    sql = f"SELECT {_COLUMNS} FROM messages"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    params.append(page.limit)
    # Qualified: a bare "id" would name the id::text output column and defeat the index.
    return (
        sql + f" ORDER BY messages.created_at DESC, messages.id DESC LIMIT ${len(params)}",
        params,
    )


def count_query(where: MessageFilter) -> tuple[str, list[object]]:
    clauses, params = _where(where)
    sql = "SELECT count(*) FROM messages"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return sql, params


def asyncpg_dsn(url: str) -> str:
    """asyncpg takes ``postgresql://`` and ``postgres://``; strip a SQLAlchemy driver suffix."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+')[0]}{sep}{rest}"


class PostgresStore:
    def __init__(self, url: str, *, timeout: float, pool_size: int = 10) -> None:
        self._dsn = asyncpg_dsn(url)
        self._timeout = timeout
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self._pool = asyncpg.create_pool(
            self._dsn,
            min_size=0,
            max_size=self._pool_size,
            timeout=self._timeout,  # connect timeout
            command_timeout=self._timeout,
            server_settings={"statement_timeout": str(int(self._timeout * 1000))},
        )
        await self._pool  # with min_size=0 this connects to nothing

    async def close(self) -> None:
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), self._timeout)
            except TimeoutError:
                self._pool.terminate()
            self._pool = None

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection, the whole use bounded by the timeout. Any failure to get
        one (down, restarting, wrong database, too many clients) is StoreUnavailable."""
        if self._pool is None:
            raise StoreUnavailable("the PostgreSQL store is not open")
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    connection = await self._pool.acquire()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    raise StoreUnavailable(f"cannot connect: {type(exc).__name__}") from exc
                try:
                    yield connection
                finally:
                    await self._pool.release(connection)
        except TimeoutError:
            raise StoreTimeout("PostgreSQL did not answer within the timeout") from None
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"PostgreSQL unavailable: {type(exc).__name__}") from exc
        except asyncpg.PostgresError as exc:
            raise StoreError(f"PostgreSQL error: {type(exc).__name__}") from exc

    async def _run(self, call: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async with self._connection() as conn:
            return await call(conn)

    async def apply(self, work: UnitOfWork) -> None:
        rows = [(m.id, m.text, m.tag, m.user_id, m.created_at) for m in work.new_messages]

        async def write(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                await conn.executemany(_INSERT, rows)

        await self._run(write)

    async def get(self, message_id: str) -> Message | None:
        row = await self._run(lambda conn: conn.fetchrow(GET_QUERY, message_id))
        return None if row is None else _to_message(row)

    async def page(self, where: MessageFilter, page: PageRequest) -> list[Message]:
        sql, params = page_query(where, page)
        rows: list[Any] = await self._run(lambda conn: conn.fetch(sql, *params))
        return [_to_message(row) for row in rows]

    async def count(self, where: MessageFilter) -> int:
        sql, params = count_query(where)
        return int(await self._run(lambda conn: conn.fetchval(sql, *params)))

    async def ping(self) -> None:
        await self._run(lambda conn: conn.fetchval("SELECT 1 FROM messages LIMIT 0"))
