from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagfeed.domain.timerange import parse_instant
from tagfeed.instants import format_utc


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


@pytest.mark.parametrize(
    ("instant", "text"),
    [
        (utc(2026, 11, 28, 15, 46, 8, 123), "2026-11-28T15:46:08.000123Z"),
        (utc(2026, 11, 28, 15, 46, 8, 120000), "2026-11-28T15:46:08.120000Z"),
        (utc(2026, 11, 28, 15, 46, 8), "2026-11-28T15:46:08.000000Z"),
        (utc(1, 1, 1), "0001-01-01T00:00:00.000000Z"),
        (utc(9999, 12, 31, 23, 59, 59, 999999), "9999-12-31T23:59:59.999999Z"),
        (
            datetime(2026, 11, 29, 1, 0, tzinfo=timezone(timedelta(hours=2))),
            "2026-11-28T23:00:00.000000Z",
        ),
    ],
)
def test_instants_are_written_in_utc_with_six_fraction_digits(instant: datetime, text: str) -> None:
    assert format_utc(instant) == text


@given(
    st.datetimes(
        min_value=datetime(2, 1, 1),
        max_value=datetime(9998, 12, 31),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7, minutes=-30))]),
    )
)
def test_any_instant_is_written_as_isoformat_would_and_reads_back(instant: datetime) -> None:
    text = format_utc(instant)
    expected = instant.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    assert text == expected + "Z"
    assert parse_instant("created_at", text) == instant
