"""Storage exceptions. Adapters translate driver errors into these at their boundary
(``raise StoreUnavailable(...) from exc``), so nothing above them sees a driver type.

    StoreError             a backend fault we cannot attribute to availability (-> 500)
    └── StoreUnavailable   unreachable, refusing connections, locked or busy (-> 503)
        └── StoreTimeout   did not answer within the configured timeout (-> 503)
"""


class StoreError(Exception):
    """The database failed in a way a retry is unlikely to fix."""


class StoreUnavailable(StoreError):
    """The database is down, unreachable, locked or overloaded; retrying later may work."""


class StoreTimeout(StoreUnavailable):
    """The database did not answer within the configured timeout."""
