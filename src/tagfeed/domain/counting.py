"""Exact counts from a read model of hourly and daily counters.

A period [start, end) splits into at most five pieces: the partial hours at each edge,
counted from the messages themselves (at most an hour of rows each), whole hours up to
the first and from the last midnight, and whole days in between, read from counters.
So the cost of a count depends on the length of the period in days, not on how many
messages it holds.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.ids import EPOCH
from tagfeed.domain.timerange import TimeRange

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
DEFAULT_SERIES_WINDOW = timedelta(days=7)
MAX_BUCKETS = 10_080  # a week of minutes: the default window always fits
# Open ends of a period, as instants every backend can store.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


class Granularity(Enum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"

    @property
    def step(self) -> timedelta:
        return _STEPS[self.value]


_STEPS = {"minute": timedelta(minutes=1), "hour": HOUR, "day": DAY}


def parse_granularity(raw: str | None) -> Granularity | None:
    if raw is None:
        return None
    try:
        return Granularity(raw)
    except ValueError:
        raise InvalidInput("granularity", f"must be minute, hour or day, got {raw!r}") from None


def floor_to(instant: datetime, step: timedelta) -> datetime:
    return instant - (instant - EPOCH) % step


def ceil_to(instant: datetime, step: timedelta) -> datetime:
    floored = floor_to(instant, step)
    return floored if floored == instant else floored + step


@dataclass(frozen=True, slots=True)
class Piece:
    """Count the messages in [start, end): from counters of ``span`` (HOUR or DAY), or
    from the messages themselves when ``span`` is None."""

    start: datetime
    end: datetime
    span: timedelta | None


def bounds(period: TimeRange) -> tuple[datetime, datetime]:
    return (period.start or EARLIEST, period.end or LATEST)


def pieces_of(period: TimeRange) -> list[Piece]:
    """Split ``period`` into pieces whose counts add up to the exact count."""
    start, end = bounds(period)
    if start >= end:
        return []
    first_hour, last_hour = ceil_to(start, HOUR), floor_to(end, HOUR)
    if first_hour >= last_hour:
        return [Piece(start, end, None)]
    pieces = []
    if start < first_hour:
        pieces.append(Piece(start, first_hour, None))
    first_day, last_day = ceil_to(first_hour, DAY), floor_to(last_hour, DAY)
    if first_day < last_day:
        if first_hour < first_day:
            pieces.append(Piece(first_hour, first_day, HOUR))
        pieces.append(Piece(first_day, last_day, DAY))
        if last_day < last_hour:
            pieces.append(Piece(last_day, last_hour, HOUR))
    else:
        pieces.append(Piece(first_hour, last_hour, HOUR))
    if last_hour < end:
        pieces.append(Piece(last_hour, end, None))
    return pieces


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime
    end: datetime
    count: int


def check_bucket_count(period: TimeRange, granularity: Granularity) -> None:
    """Raises InvalidInput (field granularity) when the period holds over MAX_BUCKETS."""
    start, end = bounds(period)
    step = granularity.step
    count = (ceil_to(end, step) - floor_to(start, step)) // step
    if count > MAX_BUCKETS:
        raise InvalidInput(
            "granularity",
            f"the period holds {count} {granularity.value} buckets; at most {MAX_BUCKETS}",
        )


def series_period(period: TimeRange, granularity: Granularity, now: datetime) -> TimeRange:
    """The period a bucketed count covers, its open sides filled in like Twitter's counts
    endpoint: the end defaults to ``now``; the start to DEFAULT_SERIES_WINDOW of whole
    buckets up to and including the one that holds the end (7 day buckets, 168 hour
    buckets, 10,080 minute buckets, the last one still open when the end is now).

    An aligned default start repeats for every request within one bucket, which is what
    lets the service cache the sealed buckets of the default window.

    Raises InvalidInput (field dateStart) when the start is after the end, whether the
    end was given or defaulted to now: a ``dateStart`` in the future with no ``dateEnd``
    is the same mistake as one after ``dateEnd``.
    """
    end = period.end or now
    if period.start is None:
        return TimeRange(ceil_to(end, granularity.step) - DEFAULT_SERIES_WINDOW, end)
    if period.start > end:
        raise InvalidInput(
            "dateStart", "must not be after now (the end of the period when dateEnd is absent)"
        )
    return TimeRange(period.start, end)


def last_bucket_end_by(period: TimeRange, granularity: Granularity, instant: datetime) -> datetime:
    """The end of the last bucket of ``period`` that ends at or before ``instant``, or the
    period's start when none does; bucket_edges of the two sides of it split the buckets."""
    start, end = bounds(period)
    if end <= instant:
        return end
    boundary = floor_to(instant, granularity.step)
    return boundary if boundary > start else start


def bucket_edges(period: TimeRange, granularity: Granularity) -> list[tuple[datetime, datetime]]:
    """Buckets aligned to UTC minutes, hours or days, the first and last clipped to the
    period. Raises InvalidInput past MAX_BUCKETS."""
    start, end = bounds(period)
    step = granularity.step
    if start >= end:
        return []
    check_bucket_count(period, granularity)
    edges = []
    cursor = start
    while cursor < end:
        following = min(floor_to(cursor, step) + step, end)
        edges.append((cursor, following))
        cursor = following
    return edges


ALL_TAGS = ""  # the counters' tag for "every tag"; no normalised tag is empty
