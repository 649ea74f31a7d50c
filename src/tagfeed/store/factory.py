"""Choose the adapter from the database URL.

What it reads of the settings is declared here (``StoreSettings``), not imported from
``tagfeed.config``: the configuration stands above the store (it parses database URLs
with ``store/urls.py``), and ``Settings`` has these attributes, so it is one."""

from typing import Literal, Protocol

from tagfeed.metrics import METRICS
from tagfeed.store.port import Store
from tagfeed.store.urls import parse_database_url


class StoreSettings(Protocol):
    """The settings a store is made from (``tagfeed.config.Settings`` has them)."""

    @property
    def database_url(self) -> str: ...
    @property
    def database_read_url(self) -> str | None: ...
    @property
    def db_timeout(self) -> float: ...
    @property
    def db_pool_size(self) -> int: ...
    @property
    def sqlite_synchronous(self) -> Literal["NORMAL", "FULL", "EXTRA"]: ...
    @property
    def reducer_lease_seconds(self) -> float: ...
    @property
    def metrics(self) -> bool: ...


def store_from_settings(settings: StoreSettings) -> Store:
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
