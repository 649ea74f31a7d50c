"""Storage exceptions. Adapters translate driver errors into these at their boundary
(``raise StoreUnavailable(...) from exc``), so nothing above them sees a driver type.

    StoreError             a backend fault we cannot attribute to availability (-> 500)
    ├── StoreUnavailable   unreachable, refusing connections, locked or busy (-> 503)
    │   └── StoreTimeout   did not answer within the configured timeout (-> 503)
    └── LeaseHeld          another process runs this catch-up reducer
        └── LeaseLost      this process's hold on it ended mid-way
"""


class StoreError(Exception):
    """The database failed in a way a retry is unlikely to fix."""


class StoreUnavailable(StoreError):
    """The database is down, unreachable, locked or overloaded; retrying later may work."""


class StoreTimeout(StoreUnavailable):
    """The database did not answer within the configured timeout."""


class LeaseHeld(StoreError):
    """Another process runs this catch-up reducer; only one may apply its events."""


class LeaseLost(LeaseHeld):
    """This process's hold on a reducer ended (its checkpoint moved, its lease expired or
    its connection dropped): nothing of the batch was applied."""
