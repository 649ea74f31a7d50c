"""Timing the calls of the ``Store`` port (``tagfeed_db_call_duration_seconds`` and
``tagfeed_db_call_errors_total``, docs/metrics.md).

The adapters time their hot calls where they already funnel (PostgreSQL's ``_run``,
SQLite's ``_read``, each ``apply``) with the same few lines inline, so a call costs no
extra coroutine; ``timed`` is for the rare ones (imports, exports, rebuilds, purges).
A call counts as failed when it raised a ``StoreError`` (timeouts and unavailability
included); a call cut short by anything else (cancelled, a key in flight) is not recorded.
"""

from collections.abc import Awaitable
from time import perf_counter
from typing import TypeVar

from tagfeed.metrics import Metrics
from tagfeed.store.errors import StoreError

T = TypeVar("T")


async def timed(metrics: Metrics | None, op: str, call: Awaitable[T]) -> T:
    """Await ``call``, recorded as one store call named ``op`` (nothing when metrics are
    off)."""
    if metrics is None:
        return await call
    started = perf_counter()
    try:
        result = await call
    except StoreError:
        metrics.observe_db_call(op, perf_counter() - started, False)
        raise
    metrics.observe_db_call(op, perf_counter() - started, True)
    return result
