"""The catch-up runner: follows the log from a reducer's checkpoint and applies its fold,
batch by batch, each batch with its checkpoint in one transaction (``ReducerSession``).

    run(store, REDUCER)         follow for ever: catch up, then wait for new events
    catch_up(store, REDUCER)    apply everything up to the head as it is now; return it
    rebuild(store, NAME)        build a view afresh from position 0 and swap it in

A reducer is a name and a pure fold (``tagfeed.reducers.Reducer``); each store adapter
has an applier for that name. Adding a catch-up view: a fold in ``tagfeed.reducers``, a
table (a migration), an applier in ``store/sqlite_views.py`` and
``store/postgres_views.py``, and an entry in ``CATCH_UP`` below.
"""

import asyncio
import gc
from collections.abc import Sequence
from typing import Any

import structlog

from tagfeed.domain.events import MessagePosted, StoredEvent
from tagfeed.metrics import Metrics
from tagfeed.reducers import Reducer, counts, messages, tags, trending
from tagfeed.store.codec import decode
from tagfeed.store.errors import LeaseHeld, StoreError
from tagfeed.store.port import ReducerSession, Store

log = structlog.get_logger("tagfeed.reducers")

# The reducers that follow the log on their own (the inline ones, messages and counts,
# are applied by the write path in the append's transaction).
CATCH_UP: dict[str, Reducer[Any]] = {tags.NAME: tags.REDUCER, trending.NAME: trending.REDUCER}
# Every view, by name: what ``tagfeed rebuild`` can rebuild.
VIEWS: dict[str, Reducer[Any]] = {
    messages.NAME: messages.REDUCER,
    counts.NAME: counts.REDUCER,
    **CATCH_UP,
}
BATCH = 1000
# Events per read of the log in a rebuild (and per write of the messages view).
REBUILD_BATCH = 50_000
# How long an idle runner waits for new events before renewing its hold.
IDLE_SECONDS = 5.0
# The gather. A batch costs a fixed part (a read of the log, a transaction, a hop to the
# writer) and a part per event; applying each group commit of the write path on its own
# pays the fixed part hundreds of times a second (measured: on SQLite a large share of
# the write path's time). So, woken by new events, a runner that has just applied a
# batch waits until ``1 / DUTY`` times that batch's duration has passed since it began:
# it spends at most DUTY of its time applying, and under load each batch holds the
# events that came in meanwhile. A runner woken after a quiet spell (longer than that)
# applies at once: its lag is then one batch's duration, not a fixed wait.
#
# GATHER_SECONDS bounds what the wait adds to the lag: the next batch begins early
# enough to commit within GATHER_SECONDS of this one's read, if it takes as long as this
# one did. Without that bound the wait fed itself when the part per event dominates (a
# longer wait, a bigger batch, a longer batch, a longer wait...): trending on
# PostgreSQL, ~50 us an event with the server's share, at 5,000 events/s ran into the
# cap every time, its p99 lag two batches + 50 ms (docs/performance.md, "Reducer
# lag, third pass"). With it the wait shrinks as batches grow, and a runner whose batches take
# longer than GATHER_SECONDS / 2 does not wait at all.
DUTY = 0.25
GATHER_SECONDS = 0.05


def gather_delay(started: float, took: float, now: float) -> float:
    """How long a runner woken at ``now`` waits before its next batch, when the one
    before began at ``started`` and took ``took`` seconds (``loop.time()`` instants):
    until ``took / DUTY`` has passed since it began, but no later than
    ``GATHER_SECONDS - took`` after it began (so that the next batch, as long, commits
    within GATHER_SECONDS of this one's read); 0 when that has passed."""
    until = started + min(took / DUTY, GATHER_SECONDS - took)
    return max(until - now, 0.0)


def _events(stored: Sequence[StoredEvent]) -> list[MessagePosted]:
    return [decode(event).event for event in stored]


async def _step(store: Store, session: ReducerSession, reducer: Reducer[Any], batch: int) -> int:
    """Apply the next batch after the checkpoint; return how many events it held. A
    counting view reads only what its ``fold_tagged`` folds, the batch's payloads decoded
    in one call, as a rebuild does (``Store.read_tagged``), not an event object each."""
    if reducer.fold_tagged is not None:
        last, pairs = await store.read_tagged(session.position, batch)
        if pairs:
            await session.apply(reducer.fold_tagged(pairs), last)
        return len(pairs)
    stored = await store.read_events(session.position, batch)
    if stored:
        await session.apply(reducer.fold(_events(stored)), stored[-1].position)
    return len(stored)


async def catch_up(store: Store, reducer: Reducer[Any], *, batch: int = BATCH) -> int:
    """Apply every event up to the head as it is when called; return the checkpoint.
    Raises LeaseHeld if another process runs the reducer."""
    target = await store.head()
    async with store.reducer_session(reducer.name) as session:
        while session.position < target:
            await _step(store, session, reducer, batch)
        return session.position


async def run(
    store: Store,
    reducer: Reducer[Any],
    *,
    batch: int = BATCH,
    idle: float = IDLE_SECONDS,
    metrics: Metrics | None = None,
) -> None:
    """Follow the log for ever (until cancelled). Raises LeaseHeld if another process
    runs the reducer, LeaseLost if it takes over later, StoreError if the database fails.
    With ``metrics``, reports its position and the head after each batch it commits and
    each time it finds nothing new (so an idle reducer shows lag 0, not a stale lag)."""
    name = reducer.name
    loop = asyncio.get_running_loop()
    async with store.reducer_session(name) as session:
        log.info("reducer_started", reducer=name, position=session.position)
        while True:
            started = loop.time()
            applied = await _step(store, session, reducer, batch)
            took = loop.time() - started
            if applied and metrics is not None:
                # The head as this process last saw it: the read just made, or later.
                head = max(store.seen_head(), session.position)
                metrics.reducer_position(name, session.position, head)
            if applied < batch:
                moved = await store.wait_for_head(session.position, idle)
                if moved <= session.position:
                    if metrics is not None:
                        position = session.position
                        metrics.reducer_position(name, position, max(moved, position))
                    await session.keep()
                elif (delay := gather_delay(started, took, loop.time())) > 0:
                    # Let a few more commits land: one transaction for many of them.
                    await asyncio.sleep(delay)


async def keep_running(
    store: Store,
    reducer: Reducer[Any],
    *,
    every: float = IDLE_SECONDS,
    batch: int = BATCH,
    metrics: Metrics | None = None,
) -> None:
    """``run`` for ever, as ``tagfeed serve`` does: renew the hold every ``every``
    seconds while idle (less than the lease), and when another process holds the
    reducer, or the database fails, try again ``every`` seconds later."""
    while True:
        try:
            await run(store, reducer, batch=batch, idle=every, metrics=metrics)
        except LeaseHeld:
            pass  # another process applies it: stand by
        except StoreError as exc:
            log.warning("reducer_failed", reducer=reducer.name, error=repr(exc))
        await asyncio.sleep(every)


async def rebuild(store: Store, name: str, *, batch: int = REBUILD_BATCH) -> int:
    """Rebuild view ``name`` from the whole log into fresh tables while the old ones
    serve, then swap them in; return the position the view reflects. Raises ValueError
    for an unknown view. A catch-up reducer running meanwhile finds its checkpoint
    moved at its next batch (LeaseLost, nothing applied) and starts again from the
    rebuilt view's position."""
    reducer = VIEWS.get(name)
    if reducer is None:
        raise ValueError(f"no view named {name!r}; known: {', '.join(VIEWS)}")
    # Millions of short-lived objects, and a run of messages held at once, with no cycles
    # among them: the cyclic collector took a tenth of the time finding nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return await store.rebuild_view(reducer, checkpointed=name in CATCH_UP, batch=batch)
    finally:
        if collecting:
            gc.enable()
