"""Alembic environment, driven by ``tagfeed.store.migrate`` (no alembic.ini needed).

PostgreSQL runs through SQLAlchemy's asyncpg dialect, so one driver serves both the
service and its migrations; an advisory lock lets several processes start at once
without racing to migrate.
"""

import asyncio

from alembic import context
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine

_MIGRATION_LOCK = 0x7461_6766  # "tagf": one advisory lock id for every tagfeed instance


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


def _sqlite(url: str) -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        # WAL is a property of the file: set once, every later connection gets it.
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        _run(connection)
        connection.commit()
    engine.dispose()


async def _postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.execute(text(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})"))
        try:
            await connection.run_sync(_run)
            await connection.commit()  # SQLAlchemy 2 began a transaction with the lock query
        finally:
            await connection.execute(text(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})"))
            await connection.commit()
    await engine.dispose()


database_url: str = context.config.attributes["database_url"]  # tagfeed.store.migrate
if context.config.attributes["backend"] == "sqlite":
    _sqlite(database_url)
else:
    asyncio.run(_postgres(database_url))
