"""The tagfeed exception for a sqlite3 error: one rule for the store, its writer and the
bulk loaders."""

import sqlite3

from tagfeed.store.errors import StoreError, StoreTimeout, StoreUnavailable


def translate_error(exc: sqlite3.Error) -> StoreError:
    """The tagfeed exception for a sqlite3 error (shared with the bulk loaders)."""
    text = str(exc).lower()
    if "interrupted" in text:
        return StoreTimeout("SQLite statement exceeded the timeout")
    if isinstance(exc, sqlite3.OperationalError):
        # locked/busy, disk I/O, unable to open: conditions that may pass
        return StoreUnavailable(f"SQLite unavailable: {exc}")
    return StoreError(f"SQLite error: {exc}")
