"""Choose the adapter from the database URL."""

from tagfeed.config import Settings
from tagfeed.store.port import Store


def store_from_settings(settings: Settings) -> Store:
    url = settings.database_url
    if url.startswith("sqlite:///"):
        from tagfeed.store.sqlite import SQLiteStore

        return SQLiteStore(
            url,
            timeout=settings.db_timeout,
            synchronous=settings.sqlite_synchronous,
            lease_seconds=settings.reducer_lease_seconds,
        )
    from tagfeed.store.postgres import PostgresStore

    return PostgresStore(url, timeout=settings.db_timeout, pool_size=settings.db_pool_size)
