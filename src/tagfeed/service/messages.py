"""Use cases for messages. Knows the domain and the storage port; nothing of HTTP or SQL."""

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from tagfeed.domain.commands import PostMessage
from tagfeed.domain.counting import (
    HOUR,
    Bucket,
    Granularity,
    bounds,
    bucket_edges,
    check_bucket_count,
    floor_to,
    last_bucket_end_by,
    pieces_of,
    series_period,
)
from tagfeed.domain.errors import MessageNotFound
from tagfeed.domain.idempotency import IdempotencyKeyReused, RequestInFlight
from tagfeed.domain.ids import is_message_id
from tagfeed.domain.model import DEFAULT_MAX_TEXT_LENGTH, Message, new_message
from tagfeed.domain.pagination import Cursor, PageRequest
from tagfeed.domain.queries import MessageFilter
from tagfeed.domain.timerange import TimeRange
from tagfeed.store.port import IdempotencyRecord, JsonPage, PagesAsJson, Store, unit_of_work

Clock = Callable[[], datetime]
# How the caller will answer a created message: (status, Location, body). It is stored
# with the idempotency key, in the same transaction as the message, to be replayed.
Render = Callable[[Message], tuple[int, str, bytes]]
# A bucket that ended this long ago can only change through a bulk import: posts are
# stamped with the clock of the server that takes them, and commit within the timeout
# (the margin also covers clocks of several servers that disagree by minutes).
SEALED_AFTER = timedelta(minutes=10)
SEALED_CACHE_SIZE = 256
# Renders buckets as the caller will send them; cached with the buckets it rendered.
RenderBuckets = Callable[[Sequence[Bucket]], bytes]


V = TypeVar("V")


class _Lru(Generic[V]):
    """The ``size`` most recently used entries."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: Hashable, value: V) -> None:
        self._entries[key] = value
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)


@dataclass(frozen=True, slots=True)
class CountSeries:
    total: int
    sealed: bytes  # the rendering of the buckets no post can change any more
    live: bytes  # the rendering of the rest


DEFAULT_KEY_TTL = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Posted:
    """A stored message and the log position of its MessagePosted."""

    message: Message
    position: int


@dataclass(frozen=True, slots=True)
class Answer:
    """The response to a POST with an idempotency key; ``replayed`` when it is the
    stored response of an earlier request. ``position``: the new event's position, or
    for a replay the head known when the stored answer was found, at or past the
    position of the event that first answered."""

    record: IdempotencyRecord
    replayed: bool
    position: int


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Page:
    messages: list[Message]
    next: Cursor | None  # None on the last page


class MessageService:
    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = utc_now,
        max_text_length: int = DEFAULT_MAX_TEXT_LENGTH,
        key_ttl: timedelta = DEFAULT_KEY_TTL,
    ) -> None:
        self._store = store
        self._pages_as_json = store if isinstance(store, PagesAsJson) else None
        self._clock = clock
        self._max_text_length = max_text_length
        self._key_ttl = key_ttl
        # Keys being processed by this process: a concurrent retry is told at once.
        # Across processes the store detects it (or the retry waits and replays).
        self._in_flight: set[tuple[str, str]] = set()
        # Answers over periods that posts can no longer change (see SEALED_AFTER).
        self._sealed_series: _Lru[tuple[int, bytes]] = _Lru(SEALED_CACHE_SIZE)
        self._sealed_counts: _Lru[int] = _Lru(SEALED_CACHE_SIZE)

    def _new(self, command: PostMessage) -> Message:
        return new_message(
            text=command.text,
            tag=command.tag,
            user_id=command.user_id,
            now=self._clock(),
            max_text_length=self._max_text_length,
        )

    async def post(self, command: PostMessage) -> Posted:
        """Validate, append the MessagePosted durably, and return the message with its
        position. Raises InvalidInput before touching the store; StoreUnavailable if it
        could not be committed in time."""
        message = self._new(command)
        async with unit_of_work(self._store) as work:
            work.add_message(message)
            await work.commit()
        return Posted(message, work.positions[-1])

    async def post_once(
        self, command: PostMessage, key: str, fingerprint: str, render: Render
    ) -> Answer:
        """Post unless ``key`` was already used by this user within the key TTL: then
        return the stored answer (same fingerprint) or raise IdempotencyKeyReused.
        Raises RequestInFlight while another request with the key is being processed."""
        scope = (command.user_id, key)
        if scope in self._in_flight:
            raise RequestInFlight(key)
        self._in_flight.add(scope)
        try:
            message = self._new(command)
            status, location, body = render(message)
            record = IdempotencyRecord(
                command.user_id, key, fingerprint, status, location, body, message.created_at
            )
            async with unit_of_work(self._store) as work:
                work.add_message(message)
                work.claim_key(record, not_before=message.created_at - self._key_ttl)
                await work.commit()
        finally:
            self._in_flight.discard(scope)
        held = work.held_by
        if held is None:
            return Answer(record, replayed=False, position=work.positions[-1])
        if held.fingerprint != fingerprint:
            raise IdempotencyKeyReused(key)
        return Answer(held, replayed=True, position=self._store.seen_head())

    async def purge_expired_keys(self, batch: int = 1000) -> int:
        """Delete expired idempotency keys in small transactions; returns how many."""
        before = self._clock() - self._key_ttl
        total = 0
        while (deleted := await self._store.purge_idempotency_keys(before, batch)) > 0:
            total += deleted
            if deleted < batch:
                break
        return total

    async def get(self, message_id: str) -> Message:
        """Raises MessageNotFound for an unknown id, or one that cannot be an id at all."""
        message = await self._store.get(message_id) if is_message_id(message_id) else None
        if message is None:
            raise MessageNotFound(message_id)
        return message

    async def page(self, where: MessageFilter, request: PageRequest) -> Page:
        """One page, newest first; ``next`` is set only when more messages match."""
        rows = await self._store.page(where, PageRequest(request.limit + 1, request.after))
        if len(rows) <= request.limit:
            return Page(rows, None)
        last = rows[request.limit - 1]
        return Page(rows[: request.limit], Cursor(last.created_at, last.id))

    async def page_json(
        self,
        where: MessageFilter,
        request: PageRequest,
        encode: Callable[[Sequence[Message]], bytes],
    ) -> JsonPage:
        """As ``page``, the messages as the JSON array ``encode`` writes: written by the
        store itself when it can (the same bytes), else by ``encode``."""
        if self._pages_as_json is not None:
            return await self._pages_as_json.page_json(where, request)
        page = await self.page(where, request)
        return JsonPage(encode(page.messages), page.next)

    async def count(self, where: MessageFilter) -> int:
        """Exact, from the counters: the cost grows with the period's days, not its rows.

        The whole hours that ended SEALED_AFTER ago can no longer change through posts,
        so their sum is cached per process (keyed, like the sealed buckets of
        ``count_series``, by the generation a bulk import bumps); the rest of the period
        is counted on every call.
        """
        start, end = bounds(where.period)
        cut = min(max(floor_to(self._clock() - SEALED_AFTER, HOUR), start), end)
        if cut == start:  # nothing sealed: all of it is recent
            return await self._store.count_pieces(where.tag, pieces_of(where.period))
        key = (where.tag, start, cut, await self._store.counters_generation())
        sealed = self._sealed_counts.get(key)
        if sealed is None:
            sealed = await self._store.count_pieces(where.tag, pieces_of(TimeRange(start, cut)))
            self._sealed_counts.put(key, sealed)
        if cut == end:
            return sealed
        return sealed + await self._store.count_pieces(where.tag, pieces_of(TimeRange(cut, end)))

    async def count_series(
        self, where: MessageFilter, granularity: Granularity, render: RenderBuckets
    ) -> CountSeries:
        """One bucket per UTC minute, hour or day of the period, zeros included; the
        first and last are clipped to the period; open sides as ``series_period`` fills
        them (aligned to buckets, so the default window's key repeats).

        Buckets that ended SEALED_AFTER ago can no longer change through posts, so their
        rendering is cached per process, keyed by the counters' generation (which a bulk
        import bumps); only the still-open buckets are counted on every call.
        """
        now = self._clock()
        period = series_period(where.period, granularity, now)
        start, end = bounds(period)
        check_bucket_count(period, granularity)
        sealed_end = last_bucket_end_by(period, granularity, now - SEALED_AFTER)
        key = (where.tag, granularity, start, sealed_end, await self._store.counters_generation())
        cached = self._sealed_series.get(key)
        if cached is None:
            sealed_edges = bucket_edges(TimeRange(start, sealed_end), granularity)
            buckets = await self._count_buckets(where.tag, granularity, sealed_edges)
            cached = (sum(b.count for b in buckets), render(buckets))
            self._sealed_series.put(key, cached)
        live_edges = bucket_edges(TimeRange(sealed_end, end), granularity)
        live = await self._count_buckets(where.tag, granularity, live_edges)
        return CountSeries(cached[0] + sum(b.count for b in live), cached[1], render(live))

    async def _count_buckets(
        self, tag: str | None, granularity: Granularity, edges: list[tuple[datetime, datetime]]
    ) -> list[Bucket]:
        step = granularity.step
        whole = [(s, e) for s, e in edges if e - s == step]
        counts = await self._store.series(tag, step, whole[0][0], whole[-1][1]) if whole else {}
        buckets = []
        for bucket_start, bucket_end in edges:
            if bucket_end - bucket_start == step:
                n = counts.get(bucket_start, 0)
            else:  # a clipped edge bucket: count it exactly, piece by piece
                pieces = pieces_of(TimeRange(bucket_start, bucket_end))
                n = await self._store.count_pieces(tag, pieces)
            buckets.append(Bucket(bucket_start, bucket_end, n))
        return buckets

    def reading(self, at_least: int | None, within: float) -> AbstractAsyncContextManager[int]:
        """A view for the reads of the block (``Store.reading``): every read inside it
        reflects at least the position it gives, which is what a read's
        ``Tagfeed-Position`` says. With ``at_least`` it first waits, at most ``within``
        seconds, until the view reaches that position; the position given is below it
        when the wait ran out."""
        return self._store.reading(at_least, within)

    async def ready(self) -> None:
        """Raises a StoreError unless the database answers."""
        await self._store.ping()
