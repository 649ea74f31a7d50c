"""The counter increments of an imported batch agree with the write path's."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tagfeed.bulk.counting import DAY_SECONDS, HOUR_SECONDS, counter_rows
from tagfeed.domain.counting import ALL_TAGS, counter_deltas
from tagfeed.domain.ids import EPOCH, epoch_micros, new_message_id
from tagfeed.domain.model import Message

instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
# Few tags and a narrow period now and then, so that counters are shared.
tagged = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.one_of(
            instants,
            st.integers(-3 * 86_400_000_000, 3 * 86_400_000_000).map(
                lambda us: EPOCH + timedelta(microseconds=us)
            ),
        ),
    ),
    max_size=60,
)


@given(tagged)
def test_rows_equal_the_write_paths_deltas(pairs: list[tuple[str, datetime]]) -> None:
    messages = [Message(new_message_id(at), "t", tag, "u", at) for tag, at in pairs]
    expected = {
        (tag, int(span.total_seconds()), epoch_micros(start)): n
        for (tag, span, start), n in counter_deltas(messages).items()
    }
    rows = counter_rows((tag, epoch_micros(at)) for tag, at in pairs)
    assert {(tag, span, start): n for tag, span, start, n in rows} == expected
    assert len(rows) == len(expected)  # one row per counter


def test_an_instant_before_1970_counts_in_its_own_hour_and_day() -> None:
    at = datetime(1969, 12, 31, 23, 30, tzinfo=UTC)
    rows = counter_rows([("a", epoch_micros(at))])
    hour = epoch_micros(datetime(1969, 12, 31, 23, tzinfo=UTC))
    day = epoch_micros(datetime(1969, 12, 31, tzinfo=UTC))
    assert sorted(rows) == sorted(
        [
            ("a", HOUR_SECONDS, hour, 1),
            ("a", DAY_SECONDS, day, 1),
            (ALL_TAGS, HOUR_SECONDS, hour, 1),
            (ALL_TAGS, DAY_SECONDS, day, 1),
        ]
    )


def test_no_messages_no_rows() -> None:
    assert counter_rows([]) == []
