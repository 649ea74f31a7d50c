"""The wire shapes: a message is written as its documented MessageOut, byte for byte,
whichever way its instant is encoded."""

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from tagfeed.api.schemas import MessageOut, encoder, message_json, messages_json
from tagfeed.domain.model import Message
from tagfeed.instants import format_utc

INSTANTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
) | st.datetimes(timezones=st.just(timezone(timedelta(hours=5, minutes=30)))).filter(
    lambda at: datetime(1, 1, 2, tzinfo=UTC) < at < datetime(9999, 12, 30, tzinfo=UTC)
)
MESSAGES = st.builds(Message, st.uuids().map(str), st.text(), st.text(), st.text(), INSTANTS)


def documented(message: Message) -> bytes:
    """MessageOut as the contract describes it: the instant written by format_utc."""
    return encoder.encode(
        MessageOut(
            message.id, message.text, message.tag, message.user_id, format_utc(message.created_at)
        )
    )


@given(MESSAGES)
def test_a_message_is_written_as_its_message_out(message: Message) -> None:
    assert message_json(message) == documented(message)


@given(st.lists(MESSAGES, max_size=5))
def test_a_list_is_written_as_the_array_of_them(messages: list[Message]) -> None:
    assert messages_json(messages) == b"[" + b",".join(map(documented, messages)) + b"]"


def test_whole_seconds_and_round_fractions_keep_six_digits() -> None:
    for micros in (0, 100_000, 120_000, 1):
        at = datetime(2026, 11, 28, 12, 0, 0, micros, tzinfo=UTC)
        created = message_json(Message("i", "t", "g", "u", at)).split(b'"created_at":')[1]
        assert created == b'"2026-11-28T12:00:00.%06dZ"}' % micros
