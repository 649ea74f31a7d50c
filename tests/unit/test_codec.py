"""Event payloads: a chunk of the log decoded in one call reads each message as the
payload of its own event does, and the counting views' folds of (tag, instant) pairs
are their folds of the events."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagfeed.domain.events import MessagePosted, StoredEvent
from tagfeed.domain.ids import EPOCH, epoch_micros
from tagfeed.domain.model import Message
from tagfeed.reducers import counts, tagged, tags, trending
from tagfeed.store.codec import (
    UnknownEvent,
    check_types,
    decode,
    message_payload,
    messages_of,
    tagged_of,
)

instants = st.integers(-(10**15), 10**15).map(lambda us: EPOCH + timedelta(microseconds=us))
messages = st.lists(
    st.builds(
        lambda id_, text, tag, at: Message(str(id_), text, tag, "u7", at),
        st.uuids(),
        st.text(min_size=1, max_size=20),
        st.sampled_from(["a", "b", "café", "東京"]),
        instants,
    ),
    max_size=30,
)


def chunk(batch: list[Message]) -> bytes:
    """What a rebuild reads: the payloads joined into one JSON array by the database."""
    return b"[" + b",".join(message_payload(m) for m in batch) + b"]"


@given(messages)
def test_a_chunk_decodes_to_the_messages_of_its_events(batch: list[Message]) -> None:
    one_by_one = [
        decode(StoredEvent(n, m.id, "MessagePosted", 1, message_payload(m), EPOCH)).event.message
        for n, m in enumerate(batch, 1)
    ]
    assert messages_of(chunk(batch)) == one_by_one == batch
    assert messages_of(chunk(batch).decode()) == batch  # PostgreSQL hands over text
    assert tagged_of(chunk(batch)) == [(m.tag, epoch_micros(m.created_at)) for m in batch]


@given(messages)
def test_the_tagged_folds_are_the_folds_of_the_events(batch: list[Message]) -> None:
    events = [MessagePosted(m) for m in batch]
    pairs = tagged_of(chunk(batch))
    for reducer in (counts.REDUCER, tags.REDUCER, trending.REDUCER):
        assert reducer.fold_tagged is not None
        assert reducer.fold_tagged(iter(pairs)) == reducer.fold(events), reducer.name
    assert list(tagged(events)) == pairs


def test_the_tags_fold_keeps_the_first_and_last_instant_in_any_order() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    pairs = [("a", epoch_micros(at + timedelta(hours=h))) for h in (5, 1, 9, 3)]
    change = tags.fold_tagged(pairs)["a"]
    assert (change.messages, change.first, change.last) == (4, pairs[1][1], pairs[2][1])


def test_a_chunk_with_an_event_of_another_type_is_refused_by_its_count() -> None:
    check_types(0, 10, 20)
    with pytest.raises(UnknownEvent, match="cannot read 2 events after position 10 up to 20"):
        check_types(2, 10, 20)
