"""The service caches the sum of the sealed hours of a count (SEALED_AFTER); the answer
must stay exact whatever was posted since, and an import must be seen."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagfeed.api.schemas import render_buckets
from tagfeed.domain.counting import Granularity, Piece, bucket_edges, floor_to
from tagfeed.domain.ids import new_message_id
from tagfeed.domain.model import Message
from tagfeed.domain.queries import MessageFilter
from tagfeed.domain.timerange import TimeRange
from tagfeed.instants import format_utc
from tagfeed.service.messages import SEALED_AFTER, CountSeries, MessageService
from tagfeed.store.memory import MemoryStore

NOW = datetime(2026, 11, 28, 15, 37, tzinfo=UTC)


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.counted: list[tuple[datetime, datetime]] = []  # the span of each count_pieces

    async def count_pieces(self, tag: str | None, pieces: Sequence[Piece]) -> int:
        if pieces:
            self.counted.append((pieces[0].start, pieces[-1].end))
        return await super().count_pieces(tag, pieces)


def post(store: MemoryStore, when: datetime, tag: str = "t") -> None:
    message = Message(new_message_id(when), "x", tag, "u", when)
    store.messages[message.id] = message


async def test_sealed_hours_are_summed_once_and_the_recent_tail_every_time() -> None:
    store = CountingStore()
    service = MessageService(store, clock=lambda: NOW)
    post(store, datetime(2026, 11, 20, 9, tzinfo=UTC))
    where = MessageFilter("t", TimeRange(datetime(2026, 11, 1, tzinfo=UTC), None))
    assert await service.count(where) == 1
    post(store, NOW - timedelta(minutes=1))  # a post lands in the unsealed tail
    assert await service.count(where) == 2
    cut = datetime(2026, 11, 28, 15, tzinfo=UTC)  # the hour before NOW - SEALED_AFTER
    assert store.counted == [
        (datetime(2026, 11, 1, tzinfo=UTC), cut),  # once
        (cut, datetime(9999, 12, 30, tzinfo=UTC)),
        (cut, datetime(9999, 12, 30, tzinfo=UTC)),
    ]


async def test_a_period_that_ended_long_ago_is_read_once() -> None:
    store = CountingStore()
    service = MessageService(store, clock=lambda: NOW)
    post(store, datetime(2026, 3, 1, tzinfo=UTC))
    where = MessageFilter(None, TimeRange(datetime(2026, 1, 1, tzinfo=UTC), NOW - SEALED_AFTER * 7))
    assert [await service.count(where) for _ in range(3)] == [1, 1, 1]
    assert len(store.counted) == 1


async def test_an_import_into_sealed_hours_is_seen_through_the_generation() -> None:
    store = MemoryStore()
    service = MessageService(store, clock=lambda: NOW)
    where = MessageFilter("t", TimeRange(datetime(2026, 11, 26, tzinfo=UTC), None))
    assert await service.count(where) == 0
    post(store, datetime(2026, 11, 26, 3, tzinfo=UTC))
    assert await service.count(where) == 0  # cached: no post can land there...
    store.generation += 1  # ...but an import can, and bumps the generation
    assert await service.count(where) == 1


minutes = st.integers(min_value=-3 * 24 * 60, max_value=60)


@settings(max_examples=200)
@given(
    st.lists(minutes, max_size=30),
    st.one_of(st.none(), minutes),
    st.one_of(st.none(), minutes),
    st.integers(min_value=0, max_value=600),
    st.lists(minutes, max_size=5),
)
async def test_counts_stay_exact_across_the_cut_as_time_passes(
    posted: list[int],
    start: int | None,
    end: int | None,
    later: int,
    posted_later: list[int],
) -> None:
    clock = [NOW]
    store = MemoryStore()
    service = MessageService(store, clock=lambda: clock[0])
    for m in posted:
        post(store, NOW + timedelta(minutes=m, seconds=7))
    period = TimeRange(
        None if start is None else NOW + timedelta(minutes=start),
        None if end is None else NOW + timedelta(minutes=end),
    )
    where = MessageFilter("t", period)

    def exact() -> int:
        return sum(1 for m in store.messages.values() if period.contains(m.created_at))

    assert await service.count(where) == exact()
    # Time passes; posts land only after the clock minus SEALED_AFTER, as they do.
    clock[0] = NOW + timedelta(minutes=later)
    for m in posted_later:
        when = clock[0] - SEALED_AFTER + timedelta(seconds=1) + abs(m) * timedelta(seconds=3)
        post(store, min(when, clock[0]))
    assert await service.count(where) == exact()


# -- counts with a granularity and no dates: the default window -------------------------


class SeriesCountingStore(MemoryStore):
    """Records the span of each ``series`` read (the counters behind whole buckets)."""

    def __init__(self) -> None:
        super().__init__()
        self.series_reads: list[tuple[datetime, datetime]] = []

    async def series(
        self, tag: str | None, step: timedelta, start: datetime, end: datetime
    ) -> dict[datetime, int]:
        self.series_reads.append((start, end))
        return await super().series(tag, step, start, end)


def spans(buckets: bytes) -> list[tuple[str, str, int]]:
    return [(b["start"], b["end"], b["count"]) for b in json.loads(b"[" + buckets + b"]")]


def exact_buckets(
    store: MemoryStore, tag: str, edges: list[tuple[datetime, datetime]]
) -> list[tuple[str, str, int]]:
    return [
        (
            format_utc(start),
            format_utc(end),
            sum(1 for m in store.messages.values() if m.tag == tag and start <= m.created_at < end),
        )
        for start, end in edges
    ]


@pytest.mark.parametrize("granularity", list(Granularity))
async def test_the_default_window_is_cached_and_stays_exact_as_the_clock_moves(
    granularity: Granularity,
) -> None:
    step = granularity.step
    clock = [datetime(2026, 11, 28, 15, 37, 21, 123456, tzinfo=UTC)]
    store = SeriesCountingStore()
    service = MessageService(store, clock=lambda: clock[0])
    where = MessageFilter("t", TimeRange())  # no dateStart, no dateEnd
    post(store, clock[0] - timedelta(days=3, seconds=5))  # sealed for every granularity

    async def check() -> CountSeries:
        series = await service.count_series(where, granularity, render_buckets)
        buckets = spans(series.sealed) + spans(series.live)
        period = TimeRange(floor_to(clock[0], step) + step - timedelta(days=7), clock[0])
        assert buckets == exact_buckets(store, "t", bucket_edges(period, granularity))
        assert len(buckets) == timedelta(days=7) // step  # 7 days, 168 hours, 10,080 minutes
        assert series.total == sum(count for _, _, count in buckets)
        return series

    first = await check()
    reads = len(store.series_reads)
    # A moment later, in the same bucket, with a new post: the sealed buckets come from
    # the cache (no read of the counters reaches before the sealed end), the rest is fresh.
    clock[0] += min(step, SEALED_AFTER) / 7
    post(store, clock[0] - timedelta(seconds=1))
    second = await check()
    assert second.sealed is first.sealed  # the very rendering cached by the first call
    sealed_end = floor_to(clock[0] - SEALED_AFTER, step)
    assert all(start >= sealed_end for start, _ in store.series_reads[reads:])
    assert second.total == first.total + 1
    # The clock crosses a bucket boundary and more posts land: still exact.
    clock[0] = floor_to(clock[0], step) + step + timedelta(seconds=2)
    post(store, clock[0] - timedelta(seconds=1))
    post(store, clock[0] - timedelta(seconds=3))
    third = await check()
    assert third.total == second.total + 2
