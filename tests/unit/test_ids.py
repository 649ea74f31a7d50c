"""Message ids: canonical UUIDv7 strings that sort like their creation instant.

new_message_id puts the millisecond in the 48-bit timestamp and the sub-millisecond
microseconds, scaled by 4096/1000, in the 12-bit rand_a. The scale factor is above 1, so
distinct microseconds give distinct rand_a values: ids of instants at least 1 µs apart
(on or after the Unix epoch) always sort in the order of their instants.
"""

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagfeed.domain.ids import EPOCH, epoch_micros, from_epoch_micros, is_message_id, new_message_id

LAST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
MAX_US = 253_402_300_799_999_999  # epoch_micros(LAST)
MIN_US = -62_135_596_800_000_000  # epoch_micros(datetime.min in UTC)
instants = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)
).map(lambda naive: naive.replace(tzinfo=UTC))


def test_is_a_canonical_uuid_version_7_variant_rfc() -> None:
    created_at = datetime(2026, 11, 28, 15, 46, 8, 123456, tzinfo=UTC)
    message_id = new_message_id(created_at)
    parsed = uuid.UUID(message_id)
    assert str(parsed) == message_id
    assert message_id == message_id.lower()
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == epoch_micros(created_at) // 1000  # unix_ts_ms


@settings(max_examples=200)
@given(instants)
def test_embeds_the_millisecond_and_the_version_bits(created_at: datetime) -> None:
    parsed = uuid.UUID(new_message_id(created_at))
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == epoch_micros(created_at) // 1000


@settings(max_examples=300)
@given(
    st.integers(min_value=0, max_value=MAX_US),
    st.integers(min_value=1, max_value=999) | st.integers(min_value=1000, max_value=MAX_US),
)
def test_ids_sort_like_instants_at_least_1us_apart(start_us: int, gap_us: int) -> None:
    earlier_us = min(start_us, MAX_US - gap_us)
    earlier = from_epoch_micros(earlier_us)
    later = from_epoch_micros(earlier_us + gap_us)
    assert new_message_id(earlier) < new_message_id(later)


def test_every_microsecond_of_a_millisecond_sorts_in_order() -> None:
    base = datetime(2026, 1, 1, 12, 0, 0, 0, tzinfo=UTC)
    ids = [new_message_id(base + timedelta(microseconds=us)) for us in range(1000)]
    ids.append(new_message_id(base + timedelta(milliseconds=1)))
    assert ids == sorted(ids)
    assert len({i[:18] for i in ids}) == len(ids)  # ordered by time bits, not by luck


def test_ids_of_one_instant_are_distinct() -> None:
    created_at = datetime(2026, 1, 1, tzinfo=UTC)
    assert len({new_message_id(created_at) for _ in range(1000)}) == 1000


def test_the_zone_of_created_at_does_not_matter() -> None:
    utc = datetime(2026, 5, 1, 10, 0, 0, 500, tzinfo=UTC)
    athens = utc.astimezone(timezone(timedelta(hours=3)))
    assert new_message_id(utc)[:18] == new_message_id(athens)[:18]  # ms and rand_a agree


@given(st.integers(min_value=MIN_US, max_value=MAX_US))
def test_from_epoch_micros_round_trips(micros: int) -> None:
    instant = from_epoch_micros(micros)
    assert instant.utcoffset() == timedelta(0)
    assert epoch_micros(instant) == micros


FLOAT_PATH_END = 2**32 * 1_000_000  # from_epoch_micros goes through a double below this


@given(st.integers(min_value=0, max_value=FLOAT_PATH_END + 10**6))
def test_from_epoch_micros_is_exact_where_it_goes_through_a_double(micros: int) -> None:
    assert from_epoch_micros(micros) == EPOCH + timedelta(microseconds=micros)


def test_from_epoch_micros_is_exact_at_the_top_of_the_double_range() -> None:
    # Where a double is coarsest: every microsecond of the last second and a half.
    for micros in range(FLOAT_PATH_END - 1_000_000, FLOAT_PATH_END + 500_000):
        instant = from_epoch_micros(micros)
        assert instant.tzinfo is UTC
        assert epoch_micros(instant) == micros


@pytest.mark.parametrize("micros", [MIN_US - 1, MAX_US + 1, 10**18 - 1])
def test_from_epoch_micros_overflows_outside_datetime_range(micros: int) -> None:
    with pytest.raises(OverflowError):  # Cursor.decode relies on this exception type
        from_epoch_micros(micros)


@given(instants)
def test_epoch_micros_round_trips(instant: datetime) -> None:
    assert from_epoch_micros(epoch_micros(instant)) == instant


def test_epoch_micros_is_exact() -> None:
    assert epoch_micros(EPOCH) == 0
    assert epoch_micros(datetime(1970, 1, 1, 0, 0, 1, 1, tzinfo=UTC)) == 1_000_001
    assert epoch_micros(LAST) == MAX_US  # beyond float precision
    assert epoch_micros(datetime.min.replace(tzinfo=UTC)) == MIN_US
    assert epoch_micros(datetime(1970, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == 0


@given(instants)
def test_accepts_what_new_message_id_returns(created_at: datetime) -> None:
    assert is_message_id(new_message_id(created_at))


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "garbage",
        "0193A5C2-7B1E-7CC0-9F6A-2B1D4C3E5F60",  # upper case
        "0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f6",  # too short
        "0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f600",  # too long
        "0193a5c27b1e7cc09f6a2b1d4c3e5f60",  # no hyphens
        "{0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f60}",
        "urn:uuid:0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f60",
        "0193a5c27-b1e-7cc0-9f6a-2b1d4c3e5f60",  # hyphens misplaced
        "0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f6g",  # not hex
        "0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f6\u0661",  # ARABIC-INDIC DIGIT ONE
        "0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f6\x00",
    ],
)
def test_rejects_what_we_never_hand_out(candidate: str) -> None:
    assert not is_message_id(candidate)


def test_accepts_a_canonical_lower_case_uuid() -> None:
    assert is_message_id("0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f60")
