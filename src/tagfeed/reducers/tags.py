"""The tags view, kept by a catch-up reducer: for each tag, how many messages it has and
the instants of its first and last (by ``created_at``). A small read model of the
discoverable data set ("which tags exist, how busy, since when"), and the reducer that
shows the catch-up machinery at work: it follows the log from its checkpoint, apart
from the write path."""

from collections.abc import Iterable
from dataclasses import dataclass

from tagfeed.domain.events import MessagePosted
from tagfeed.reducers import Reducer, Tagged, tagged

NAME = "tags"


@dataclass(slots=True)
class TagChange:
    """Add ``messages`` to the tag's count; its first and last instants become at most
    ``first`` and at least ``last`` (microseconds since the epoch)."""

    messages: int
    first: int
    last: int


def fold_tagged(messages: Iterable[Tagged]) -> dict[str, TagChange]:
    """One change per tag met."""
    changes: dict[str, TagChange] = {}
    for tag, at in messages:
        change = changes.get(tag)
        if change is None:
            changes[tag] = TagChange(1, at, at)
        else:
            change.messages += 1
            if at < change.first:
                change.first = at
            elif at > change.last:
                change.last = at
    return changes


def fold(events: Iterable[MessagePosted]) -> dict[str, TagChange]:
    return fold_tagged(tagged(events))


REDUCER = Reducer(NAME, fold, fold_tagged)
