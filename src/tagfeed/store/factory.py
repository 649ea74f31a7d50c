"""Choose the adapter from the database URL."""

from tagfeed.config import Settings
from tagfeed.metrics import METRICS
from tagfeed.store.port import Store
from tagfeed.store.urls import parse_database_url


def store_from_settings(settings: Settings) -> Store:
    url = parse_database_url(settings.database_url)
    metrics = METRICS if settings.metrics else None  # off: the store records nothing
    if url.backend == "sqlite":
        from tagfeed.store.sqlite import SQLiteStore

        return SQLiteStore(
            url.url,
            timeout=settings.db_timeout,
            synchronous=settings.sqlite_synchronous,
            lease_seconds=settings.reducer_lease_seconds,
            metrics=metrics,
        )
    from tagfeed.store.postgres import PostgresStore

    return PostgresStore(
        url.url,
        timeout=settings.db_timeout,
        pool_size=settings.db_pool_size,
        metrics=metrics,
        read_url=settings.database_read_url,
    )
