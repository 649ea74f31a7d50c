"""The messages view: one row per MessagePosted, the message as posted."""

from collections.abc import Iterable

from tagfeed.domain.events import MessagePosted
from tagfeed.domain.model import Message
from tagfeed.reducers import Reducer

NAME = "messages"


def fold(events: Iterable[MessagePosted]) -> list[Message]:
    """The rows to insert into the view, in event order."""
    return [event.message for event in events]


REDUCER = Reducer(NAME, fold)
