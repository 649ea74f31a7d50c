"""Locks held from outside the service, to make its database hang or refuse on purpose."""

import asyncio
import sqlite3
from typing import Protocol

import asyncpg

from tagfeed.store.sqlite import sqlite_path


class HeldLock(Protocol):
    async def release(self) -> None:
        """Let go; a second call does nothing."""


class SQLiteLock:
    """``writes``: BEGIN IMMEDIATE, the one write lock (WAL readers go on reading).
    Otherwise ``locking_mode=EXCLUSIVE`` plus a write: nobody else may even read."""

    def __init__(self, url: str, *, writes_only: bool) -> None:
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            sqlite_path(url), isolation_level=None, timeout=10, check_same_thread=False
        )
        if not writes_only:
            self._conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        self._conn.execute("BEGIN EXCLUSIVE")
        if not writes_only:
            self._conn.execute("DELETE FROM messages WHERE 0")  # touch the file: lock it
            self._conn.execute("SELECT count(*) FROM messages").fetchall()

    async def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.to_thread(self._close, conn)

    @staticmethod
    def _close(conn: sqlite3.Connection) -> None:
        conn.rollback()
        conn.close()  # an exclusive locking mode holds its lock until the connection ends


async def sqlite_lock(url: str, *, writes_only: bool = True) -> SQLiteLock:
    return await asyncio.to_thread(SQLiteLock, url, writes_only=writes_only)


class PostgresLock:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn: asyncpg.Connection | None = conn

    async def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()  # ends the transaction, and with it the lock


async def postgres_lock(url: str, mode: str = "EXCLUSIVE") -> PostgresLock:
    """LOCK TABLE messages IN ``mode`` MODE, held in an open transaction. EXCLUSIVE blocks
    writers only; ACCESS EXCLUSIVE blocks readers too."""
    conn = await asyncpg.connect(url, timeout=10)
    await conn.execute(f"BEGIN; LOCK TABLE messages IN {mode} MODE")
    return PostgresLock(conn)


async def hold_lock(backend: str, url: str) -> HeldLock:
    """The write lock of either backend."""
    if backend == "sqlite":
        return await sqlite_lock(url)
    return await postgres_lock(url)
