"""Splitting periods into counter pieces and buckets."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagfeed.domain.counting import (
    DAY,
    HOUR,
    MAX_BUCKETS,
    Granularity,
    bounds,
    bucket_edges,
    floor_to,
    parse_granularity,
    pieces_of,
)
from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.model import Message
from tagfeed.domain.timerange import TimeRange

instants = st.datetimes(
    min_value=datetime(1960, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(instants, instants)
def test_pieces_tile_the_period_exactly(a: datetime, b: datetime) -> None:
    start, end = sorted((a, b))
    pieces = pieces_of(TimeRange(start, end))
    if start == end:
        assert pieces == []
        return
    assert pieces[0].start == start
    assert pieces[-1].end == end
    for before, after in itertools.pairwise(pieces):
        assert before.end == after.start
    for piece in pieces:
        assert piece.start < piece.end
        if piece.span is None:
            assert piece.end - piece.start < HOUR  # raw pieces stay small
        else:
            assert floor_to(piece.start, piece.span) == piece.start
            assert floor_to(piece.end, piece.span) == piece.end
    assert len(pieces) <= 5


def test_open_periods_use_the_widest_bounds() -> None:
    start, end = bounds(TimeRange())
    assert start.year == 1
    assert end.year == 9999
    assert [p.span for p in pieces_of(TimeRange())] == [DAY]


@given(instants, st.integers(min_value=0, max_value=5000), st.sampled_from(list(Granularity)))
def test_buckets_cover_the_period_aligned_and_clipped(
    start: datetime, minutes: int, granularity: Granularity
) -> None:
    end = start + timedelta(minutes=minutes, seconds=7)
    edges = bucket_edges(TimeRange(start, end), granularity)
    assert edges[0][0] == start
    assert edges[-1][1] == end
    for (_, first_end), (second_start, _) in itertools.pairwise(edges):
        assert first_end == second_start
        assert floor_to(first_end, granularity.step) == first_end


def test_too_many_buckets_is_refused_naming_granularity() -> None:
    period = TimeRange(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    assert len(bucket_edges(period, Granularity.HOUR)) == 59 * 24
    with pytest.raises(InvalidInput) as raised:
        bucket_edges(period, Granularity.MINUTE)
    assert raised.value.field == "granularity"
    assert str(MAX_BUCKETS) in raised.value.detail


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, None), ("day", Granularity.DAY), ("minute", Granularity.MINUTE)]
)
def test_parse_granularity(raw: str | None, expected: Granularity | None) -> None:
    assert parse_granularity(raw) == expected


@pytest.mark.parametrize("raw", ["Day", "week", "", "1h"])
def test_parse_granularity_refuses_others(raw: str) -> None:
    with pytest.raises(InvalidInput):
        parse_granularity(raw)


def test_floor_before_the_epoch_goes_down() -> None:
    assert floor_to(datetime(1969, 12, 31, 23, 30, tzinfo=UTC), HOUR) == datetime(
        1969, 12, 31, 23, tzinfo=UTC
    )


# -- the service's cache of sealed buckets ---------------------------------------------

from collections.abc import Sequence  # noqa: E402
from datetime import datetime as _dt  # noqa: E402

from tagfeed.domain.counting import Bucket  # noqa: E402
from tagfeed.domain.ids import new_message_id  # noqa: E402
from tagfeed.domain.queries import MessageFilter  # noqa: E402
from tagfeed.service.messages import MessageService  # noqa: E402
from tagfeed.store.memory import MemoryStore  # noqa: E402


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.series_calls: list[tuple[_dt, _dt]] = []

    async def series(
        self, tag: str | None, step: timedelta, start: _dt, end: _dt
    ) -> dict[_dt, int]:
        self.series_calls.append((start, end))
        return await super().series(tag, step, start, end)


def render(buckets: Sequence[Bucket]) -> bytes:
    return ",".join(f"{b.start:%m-%d}={b.count}" for b in buckets).encode()


def stored(store: MemoryStore, when: _dt, tag: str = "t") -> None:
    message = Message(new_message_id(when), "x", tag, "u", when)
    store.messages[message.id] = message


async def test_sealed_days_are_counted_once_and_open_ones_every_time() -> None:
    now = datetime(2026, 11, 28, 15, tzinfo=UTC)
    store = CountingStore()
    service = MessageService(store, clock=lambda: now)
    stored(store, datetime(2026, 11, 25, 9, tzinfo=UTC))
    where = MessageFilter("t", TimeRange(datetime(2026, 11, 24, tzinfo=UTC), None))
    first = await service.count_series(where, Granularity.DAY, render)
    assert first.sealed == b"11-24=0,11-25=1,11-26=0,11-27=0"
    assert first.live == b"11-28=0"
    assert first.total == 1
    stored(store, now - timedelta(minutes=1))  # a post: only the open day changes
    second = await service.count_series(where, Granularity.DAY, render)
    assert second.sealed == first.sealed
    assert second.live == b"11-28=1"
    assert second.total == 2
    # The sealed days were read from the counters once; the open day, clipped at now,
    # is counted piece by piece on every call.
    assert store.series_calls == [
        (datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 28, tzinfo=UTC))
    ]


async def test_an_import_into_sealed_days_is_seen_through_the_generation() -> None:
    now = datetime(2026, 11, 28, 15, tzinfo=UTC)
    store = MemoryStore()
    service = MessageService(store, clock=lambda: now)
    where = MessageFilter("t", TimeRange(datetime(2026, 11, 26, tzinfo=UTC), None))
    assert (await service.count_series(where, Granularity.DAY, render)).total == 0
    stored(store, datetime(2026, 11, 26, 3, tzinfo=UTC))
    store.generation += 1  # what a bulk import does in its transaction
    again = await service.count_series(where, Granularity.DAY, render)
    assert again.sealed == b"11-26=1,11-27=0"
    assert again.total == 1


@given(
    instants,
    st.integers(min_value=1, max_value=3000),
    st.integers(min_value=-4000, max_value=4000),
    st.sampled_from(list(Granularity)),
)
def test_splitting_at_the_sealed_end_keeps_the_same_buckets(
    start: datetime, minutes: int, offset: int, granularity: Granularity
) -> None:
    from tagfeed.domain.counting import last_bucket_end_by

    period = TimeRange(start, start + timedelta(minutes=minutes, seconds=13))
    split = last_bucket_end_by(period, granularity, start + timedelta(minutes=offset))
    before = bucket_edges(TimeRange(start, split), granularity)
    after = bucket_edges(TimeRange(split, period.end), granularity)
    assert before + after == bucket_edges(period, granularity)
    assert all(end <= start + timedelta(minutes=offset) for _, end in before)


def test_a_future_date_start_without_an_end_is_refused_like_a_start_after_the_end() -> None:
    from tagfeed.domain.counting import series_period

    now = datetime(2026, 11, 28, 15, 37, tzinfo=UTC)
    with pytest.raises(InvalidInput) as refused:
        series_period(TimeRange(now + timedelta(seconds=1), None), Granularity.HOUR, now)
    assert refused.value.field == "dateStart"
    assert "after now" in refused.value.detail
    # Starting exactly now is an empty period, like two equal instants.
    assert series_period(TimeRange(now, None), Granularity.HOUR, now) == TimeRange(now, now)


@pytest.mark.parametrize("granularity", list(Granularity))
def test_an_open_start_is_seven_days_of_whole_buckets_up_to_the_end(
    granularity: Granularity,
) -> None:
    from tagfeed.domain.counting import series_period

    now = datetime(2026, 11, 28, 15, 37, 21, 5, tzinfo=UTC)
    period = series_period(TimeRange(), granularity, now)
    edges = bucket_edges(period, granularity)
    assert len(edges) == timedelta(days=7) // granularity.step <= MAX_BUCKETS
    assert edges[0][0] == floor_to(edges[0][0], granularity.step)  # the first one is whole
    assert edges[-1][1] == now  # the last one is the open one, up to now
    # An explicit end on a boundary: exactly the 7 days before it.
    end = datetime(2026, 11, 29, tzinfo=UTC)
    assert series_period(TimeRange(None, end), granularity, now).start == end - timedelta(days=7)
