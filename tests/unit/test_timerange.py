"""parse_time_range: dateStart / dateEnd as the contract reads them."""

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.timerange import TimeRange, parse_time_range

MICROSECOND = timedelta(microseconds=1)
fixed_offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def test_absent_bounds_leave_the_range_open() -> None:
    assert parse_time_range(None, None) == TimeRange(None, None)
    assert parse_time_range("", "") == TimeRange(None, None)


def test_date_only_start_is_midnight_utc_inclusive() -> None:
    period = parse_time_range("2026-11-28", None)
    assert period == TimeRange(utc(2026, 11, 28), None)
    assert period.contains(utc(2026, 11, 28))
    assert not period.contains(utc(2026, 11, 28) - MICROSECOND)


def test_date_only_end_covers_the_whole_day() -> None:
    period = parse_time_range(None, "2026-11-28")
    assert period == TimeRange(None, utc(2026, 11, 29))
    assert period.contains(utc(2026, 11, 28, 23, 59, 59, 999999))
    assert not period.contains(utc(2026, 11, 29))


@settings(max_examples=200)
@given(st.dates(max_value=date(9999, 12, 30)), st.times())
def test_date_only_end_contains_every_instant_of_that_day(day: date, moment: time) -> None:
    period = parse_time_range(None, day.isoformat())
    instant = datetime.combine(day, moment, tzinfo=UTC)
    next_midnight = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    assert period.contains(instant)
    assert period.contains(next_midnight - MICROSECOND)
    assert not period.contains(next_midnight)


@settings(max_examples=200)
@given(st.dates(), st.times())
def test_same_date_on_both_sides_is_exactly_that_day(day: date, moment: time) -> None:
    period = parse_time_range(day.isoformat(), day.isoformat())
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    assert period.contains(datetime.combine(day, moment, tzinfo=UTC))
    if day > date.min:
        assert not period.contains(midnight - MICROSECOND)
    if day < date.max:
        assert not period.contains(midnight + timedelta(days=1))


def test_last_representable_date_as_end_is_an_open_end() -> None:
    period = parse_time_range("9999-12-31", "9999-12-31")
    assert period.start == utc(9999, 12, 31)
    assert period.end is None
    assert period.contains(utc(9999, 12, 31, 23, 59, 59, 999999))
    assert parse_time_range(None, "9999-12-31") == TimeRange(None, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-28T15:46:08Z", utc(2026, 11, 28, 15, 46, 8)),
        ("2026-11-28t15:46:08z", utc(2026, 11, 28, 15, 46, 8)),
        ("2026-11-28 15:46:08Z", utc(2026, 11, 28, 15, 46, 8)),
        ("2026-11-28T15:46:08.123456Z", utc(2026, 11, 28, 15, 46, 8, 123456)),
        ("2026-11-28T15:46:08.5Z", utc(2026, 11, 28, 15, 46, 8, 500000)),
        ("2026-11-28T15:46:08.123456789Z", utc(2026, 11, 28, 15, 46, 8, 123456)),
        ("2026-11-28T17:46:08+02:00", utc(2026, 11, 28, 15, 46, 8)),
        ("2026-11-28T10:16:08-05:30", utc(2026, 11, 28, 15, 46, 8)),
        ("2026-11-29T01:00:00+09:00", utc(2026, 11, 28, 16)),  # crosses the date line
        ("2026-11-28T15:46:08-00:00", utc(2026, 11, 28, 15, 46, 8)),
    ],
)
def test_rfc3339_instants_are_converted_to_utc(raw: str, expected: datetime) -> None:
    start = parse_time_range(raw, None).start
    end = parse_time_range(None, raw).end
    assert start == expected
    assert end == expected
    assert start is not None
    assert start.utcoffset() == timedelta(0)


@settings(max_examples=200)
@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    fixed_offsets,
)
def test_any_isoformat_instant_with_an_offset_is_read_exactly(
    local: datetime, zone: timezone
) -> None:
    instant = local.replace(tzinfo=zone)
    start = parse_time_range(instant.isoformat(), None).start
    assert start == instant
    assert start is not None
    assert start.tzinfo == UTC


def test_instant_start_is_inclusive_and_instant_end_exclusive() -> None:
    period = parse_time_range("2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z")
    assert period.contains(utc(2026, 1, 1, 10))
    assert period.contains(utc(2026, 1, 1, 11) - MICROSECOND)
    assert not period.contains(utc(2026, 1, 1, 11))
    assert not period.contains(utc(2026, 1, 1, 10) - MICROSECOND)


def test_mixed_date_start_and_instant_end() -> None:
    period = parse_time_range("2026-01-01", "2026-01-01T00:00:01+00:00")
    assert period == TimeRange(utc(2026, 1, 1), utc(2026, 1, 1, 0, 0, 1))


BAD_VALUES = [
    "2026-01-01T00:00:00",  # naive: no zone
    "2026-01-01T00:00",
    "2026-01-01T00:00:00+0100",  # RFC 3339 offsets have a colon
    "2026-01-01T00:00:00.Z",
    "2026-01-01T00:00:00+24:00",
    "2026-01-01T00:00:00+23:60",
    "2026-06-30T23:59:60Z",  # leap second
    "2026-02-30",
    "2026-02-30T00:00:00Z",
    "2026-13-01",
    "2026-1-1",
    "20260101",
    "2026-W01-1",
    "\uff12\uff10\uff12\uff16-01-01",  # fullwidth digits match \\d but are no date
    "2026-01-01T25:00:00Z",
    "0001-01-01T00:00:00+01:00",  # before the first representable instant
    "9999-12-31T23:59:59-01:00",  # after the last
    "yesterday",
    "1735689600",
    " 2026-01-01",
    "2026-01-01 ",
    "2026-01-01\n",
    "2026-01-01T00:00:00Z\x00",
]


@pytest.mark.parametrize("raw", BAD_VALUES)
def test_malformed_start_names_date_start(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_time_range(raw, None)
    assert caught.value.field == "dateStart"


@pytest.mark.parametrize("raw", BAD_VALUES)
def test_malformed_end_names_date_end(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_time_range(None, raw)
    assert caught.value.field == "dateEnd"


def attempt(start: str, end: str) -> TimeRange | InvalidInput:
    try:
        return parse_time_range(start, end)
    except InvalidInput as exc:
        return exc


@given(st.text(max_size=40), st.text(max_size=40))
def test_arbitrary_text_raises_only_invalid_input(start: str, end: str) -> None:
    period = attempt(start, end)
    if isinstance(period, InvalidInput):
        assert period.field in {"dateStart", "dateEnd"}
        return
    for bound in (period.start, period.end):
        assert bound is None or bound.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-01-02", "2026-01-01"),
        ("2026-01-01T10:00:00Z", "2026-01-01T09:59:59.999999Z"),
        ("2026-01-02T00:00:00Z", "2026-01-01"),  # past the last instant the end date covers
        ("2026-01-02", "2026-01-01T23:59:59Z"),
        ("2026-01-01T12:00:00+00:00", "2026-01-01T13:00:00+02:00"),  # 11:00Z
    ],
)
def test_start_after_end_is_refused(start: str, end: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_time_range(start, end)
    assert caught.value.field == "dateStart"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z"),
        ("2026-01-01T12:00:00+02:00", "2026-01-01T10:00:00Z"),  # the same instant
    ],
)
def test_equal_instants_give_an_empty_range(start: str, end: str) -> None:
    period = parse_time_range(start, end)
    assert period.start == period.end
    assert not period.contains(utc(2026, 1, 1, 10))


def test_start_within_the_end_date_is_allowed() -> None:
    period = parse_time_range("2026-01-01T23:59:59.999999Z", "2026-01-01")
    assert period.contains(utc(2026, 1, 1, 23, 59, 59, 999999))
