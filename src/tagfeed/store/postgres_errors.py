"""asyncpg's errors as tagfeed's StoreError family, and which of them mean "try again
later" (StoreUnavailable, a 503) rather than a fault of the request or the schema."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from tagfeed.store.errors import StoreError, StoreTimeout, StoreUnavailable

# Errors after which the same request may succeed later: the server is down, restarting,
# refusing connections, or cancelled our statement for taking too long.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.QueryCanceledError,
    # A pooled connection whose server just shut down may still look open while asyncpg
    # consumes the server's farewell error; using it then fails with this.
    asyncpg.InternalClientError,
    # A write reached a server that is not (or no longer, or not yet) the primary: during
    # a failover the router may send a connection to the standby Patroni just chose while
    # its promotion is still running (its /primary answers 200 from the moment it holds
    # the leader key). A moment later the same write succeeds: 503, not 500.
    asyncpg.ReadOnlySQLTransactionError,
)


@asynccontextmanager
async def translated(seconds: float) -> AsyncIterator[None]:
    """The block bounded by ``seconds``, asyncpg's errors turned into the store's."""
    async with store_errors(), asyncio.timeout(seconds):
        yield


@asynccontextmanager
async def store_errors() -> AsyncIterator[None]:
    """asyncpg's errors (and a timeout) raised in the block, as the store's."""
    try:
        yield
    except TimeoutError:
        raise StoreTimeout("PostgreSQL did not answer within the timeout") from None
    except UNAVAILABLE as exc:
        raise StoreUnavailable(f"PostgreSQL unavailable: {type(exc).__name__}") from exc
    except asyncpg.PostgresError as exc:
        raise StoreError(f"PostgreSQL error: {type(exc).__name__}") from exc


async def acquire(pool: asyncpg.Pool) -> asyncpg.Connection:
    try:
        return await pool.acquire()
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreUnavailable(f"cannot connect: {exc}") from exc
