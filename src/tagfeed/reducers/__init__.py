"""Reducers: pure folds from events to the changes of one read model each.

    messages.py   the messages view: each MessagePosted adds its message   (inline)
    counts.py     the per-tag hourly and daily counters behind every count  (inline)
    tags.py       each tag's number of messages, first and last post        (catch-up)
    trending.py   posts per tag and hour, behind the trending windows        (catch-up)

A reducer knows nothing of SQL (standard library and the domain only): it says *what*
changes; each store adapter applies the changes its own way. The same fold serves
inline (in the append's own transaction: the write path), catching up from a
checkpoint, and rebuilding from position 0 (``docs/events.md``).
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tagfeed.domain.events import MessagePosted
from tagfeed.domain.ids import epoch_micros

C = TypeVar("C")
# A message as the views that count see it: (tag, created_at in microseconds since the epoch).
Tagged = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Reducer(Generic[C]):
    """A read model's fold: ``fold(events)`` is what the events change, as plain data
    the adapters know how to apply (an applier per ``name`` in each adapter). A fold of
    a concatenation must equal applying the folds of its parts one after the other:
    the runner folds the log in batches of any size.

    ``fold_tagged``, for a view that needs only each message's tag and instant: the
    same fold (``fold`` is defined by it) over ``Tagged`` pairs, consumed as an
    iterator, its changes growing with the distinct keys it meets, not with the events.
    A rebuild folds the log through it in parts of millions of events, one call a
    part, decoding only those two fields. None (the messages view, whose changes are
    the messages): a rebuild folds and applies the log chunk by chunk."""

    name: str
    fold: Callable[[Sequence[MessagePosted]], C]
    fold_tagged: Callable[[Iterable[Tagged]], C] | None = None


def tagged(events: Iterable[MessagePosted]) -> Iterator[Tagged]:
    """What a ``fold_tagged`` takes of each event."""
    for event in events:
        yield event.message.tag, epoch_micros(event.message.created_at)
