"""The tags view, kept by a catch-up reducer: for each tag, how many messages it has and
the instants of its first and last (by ``created_at``). A small read model of the
discoverable data set ("which tags exist, how busy, since when"), and the reducer that
shows the catch-up machinery at work: it follows the log from its checkpoint, apart
from the write path."""

from collections.abc import Iterable
from dataclasses import dataclass

from tagfeed.domain.events import MessagePosted
from tagfeed.domain.ids import epoch_micros
from tagfeed.reducers import Reducer

NAME = "tags"


@dataclass(slots=True)
class TagChange:
    """Add ``messages`` to the tag's count; its first and last instants become at most
    ``first`` and at least ``last`` (microseconds since the epoch)."""

    messages: int
    first: int
    last: int


def fold(events: Iterable[MessagePosted]) -> dict[str, TagChange]:
    changes: dict[str, TagChange] = {}
    for event in events:
        at = epoch_micros(event.message.created_at)
        change = changes.get(event.message.tag)
        if change is None:
            changes[event.message.tag] = TagChange(1, at, at)
        else:
            change.messages += 1
            change.first = min(change.first, at)
            change.last = max(change.last, at)
    return changes


REDUCER = Reducer(NAME, fold)
