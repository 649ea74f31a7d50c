"""PostgreSQL: appending events with what the inline reducers make of them, in one
statement, and the group commit that puts the plain posts of one moment in one append.

The idempotent writes (``PostgresStore.apply`` with a claim) call ``append`` inside their
own transaction; plain posts queue on ``GroupCommit``: while one append runs, the posts
that arrive wait, and go together in the next one — one statement, one commit, each
post still answered only after that commit (appends are serialised through the head's
row lock anyway, so nothing is lost by not running them side by side).
"""

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache, partial
from typing import Protocol

import asyncpg

from tagfeed.domain.events import MESSAGE_POSTED, MESSAGE_POSTED_VERSION, MessagePosted
from tagfeed.domain.ids import from_epoch_micros
from tagfeed.metrics import Metrics
from tagfeed.reducers import counts, messages
from tagfeed.store.codec import message_payload
from tagfeed.store.errors import StoreTimeout
from tagfeed.store.port import UnitOfWork

# One statement, so one round trip and an implicit transaction: the events, the messages
# view and the counters that count them commit together or not at all.
#
# Positions: ``head`` takes the row lock of ``event_head`` first (every other part reads
# from it, and the final SELECT runs it before them) and holds it until commit, so
# appends are serialised and commit in position order: a position never becomes visible
# after a higher one (docs/architecture.md, "The event log"). Counter keys arrive sorted,
# so concurrent writers lock counter rows in the same order and cannot deadlock.
# NOTIFY is delivered at commit, in commit order, to whoever LISTENs.
APPEND = """
WITH head AS (
    UPDATE event_head SET position = position + $11 WHERE id = 1
    RETURNING position - $11 AS base
), appended AS (
    INSERT INTO events (position, event_id, type, version, payload, recorded_at)
    SELECT head.base + e.ord, e.id, $13, $14, e.payload::json, clock_timestamp()
    FROM head, unnest($1::uuid[], $12::text[]) WITH ORDINALITY AS e (id, payload, ord)
), stored AS (
    INSERT INTO messages (id, text, tag, user_id, created_at)
    SELECT m.* FROM head,
        unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS m
), counted AS (
    INSERT INTO message_counts AS c (tag, span, start, slot, n)
    SELECT k.* FROM head,
        unnest($6::text[], $7::int[], $8::timestamptz[], $9::smallint[], $10::bigint[]) AS k
    ON CONFLICT (tag, span, start, slot) DO UPDATE SET n = c.n + excluded.n
)
SELECT base, pg_notify('tagfeed_events', (base + $11)::text) FROM head
"""

# Writers pick one of these rows per counter at random, so posts to one hot tag do not
# all queue on one row lock; readers sum over them.
COUNTER_SLOTS = 8

# The most posts one append statement carries.
MAX_BATCH = 512

# A call on a pooled connection, bounded by the store's timeout (``PostgresStore._bounded``).
Bounded = Callable[[Callable[[asyncpg.Connection], Awaitable[int]]], Awaitable[int]]


def _settle(future: "asyncio.Future[None]", error: BaseException | None) -> None:
    if future.done():  # the waiter gave up (timeout or cancellation)
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


# Counter starts recur from post to post: convert each once.
_instant = lru_cache(maxsize=4096)(from_epoch_micros)


class Appendable(Protocol):
    """What ``append`` reads and sets: a unit of work (the benchmark's floor passes its
    own, ``bench/floor_pg.py``)."""

    events: list[MessagePosted]
    positions: list[int]


async def append(conn: asyncpg.Connection, works: Sequence[Appendable]) -> int:
    """Append the events of ``works`` with one statement, in their order; set their
    positions; return the last."""
    posted = [event for work in works for event in work.events]
    rows = messages.fold(posted)
    slot = random.randrange(COUNTER_SLOTS)  # noqa: S311 -- spreading load, not a secret
    increments = sorted(counts.fold(posted))
    base: int = await conn.fetchval(
        APPEND,
        [m.id for m in rows],
        [m.text for m in rows],
        [m.tag for m in rows],
        [m.user_id for m in rows],
        [m.created_at for m in rows],
        [tag for tag, _, _, _ in increments],
        [span for _, span, _, _ in increments],
        [_instant(start) for _, _, start, _ in increments],
        [slot] * len(increments),
        [n for _, _, _, n in increments],
        len(posted),
        [message_payload(e.message).decode() for e in posted],
        MESSAGE_POSTED,
        MESSAGE_POSTED_VERSION,
    )
    for work in works:
        work.positions = list(range(base + 1, base + 1 + len(work.events)))
        base += len(work.events)
    return base


class GroupCommit:
    """The queue of plain posts and the one task (at most) that appends them, batch
    after batch. ``appended`` hears each batch's last position once it is committed."""

    def __init__(
        self,
        bounded: Bounded,
        *,
        timeout: float,
        appended: Callable[[int], None],
        metrics: Metrics | None,
    ) -> None:
        self._bounded = bounded
        self._timeout = timeout
        self._appended = appended
        self._metrics = metrics
        self._queued: list[tuple[UnitOfWork, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def append(self, work: UnitOfWork) -> None:
        """Append ``work`` in the next batch; return once it is committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append((work, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        try:
            # Each append is bounded by the timeout; the batch before this one may be
            # running too.
            async with asyncio.timeout(2 * self._timeout):
                await future
        except TimeoutError:
            raise StoreTimeout("PostgreSQL did not commit within the timeout") from None

    async def drain(self) -> None:
        """Let the queued posts go in (up to the timeout): the store is closing."""
        if self._flusher is not None:
            await asyncio.wait([self._flusher], timeout=self._timeout)

    async def _append(self, works: list[UnitOfWork]) -> None:
        self._appended(await self._bounded(partial(append, works=works)))

    async def _flush(self) -> None:
        while self._queued:
            batch = [(w, f) for w, f in self._queued[:MAX_BATCH] if not f.done()]
            del self._queued[:MAX_BATCH]
            if not batch:
                continue
            if self._metrics is not None:
                self._metrics.writer_batch(len(batch), len(self._queued))
            try:
                await self._append([w for w, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exc)
                    continue
                # One unit may have failed them all (an id taken): each on its own.
                for work, future in batch:
                    try:
                        await self._append([work])
                    except Exception as one:
                        _settle(future, one)
                    else:
                        _settle(future, None)
            else:
                for _, future in batch:
                    _settle(future, None)
