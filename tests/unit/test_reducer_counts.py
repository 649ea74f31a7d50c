"""The counts reducer's fold: each message adds one to its tag's and every tag's hour
and day, floored like the domain floors instants, also before 1970."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tagfeed.domain.counting import ALL_TAGS, DAY, HOUR, floor_to
from tagfeed.domain.events import MessagePosted
from tagfeed.domain.ids import EPOCH, epoch_micros, new_message_id
from tagfeed.domain.model import Message
from tagfeed.reducers.counts import DAY_SECONDS, HOUR_SECONDS, fold, fold_micros

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


def one_by_one(messages: list[Message]) -> dict[tuple[str, int, int], int]:
    """The increments counted the slow, obvious way: four counters per message."""
    expected: dict[tuple[str, int, int], int] = {}
    for m in messages:
        for tag in (m.tag, ALL_TAGS):
            for span, seconds in ((HOUR, HOUR_SECONDS), (DAY, DAY_SECONDS)):
                key = (tag, seconds, epoch_micros(floor_to(m.created_at, span)))
                expected[key] = expected.get(key, 0) + 1
    return expected


@given(tagged)
def test_the_fold_adds_one_to_four_counters_per_message(
    pairs: list[tuple[str, datetime]],
) -> None:
    messages = [Message(new_message_id(at), "t", tag, "u", at) for tag, at in pairs]
    rows = fold(MessagePosted(m) for m in messages)
    assert {(tag, span, start): n for tag, span, start, n in rows} == one_by_one(messages)
    assert len(rows) == len(one_by_one(messages))  # one row per counter


def test_an_instant_before_1970_counts_in_its_own_hour_and_day() -> None:
    at = datetime(1969, 12, 31, 23, 30, tzinfo=UTC)
    rows = fold_micros([("a", epoch_micros(at))])
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
    assert fold_micros([]) == []
