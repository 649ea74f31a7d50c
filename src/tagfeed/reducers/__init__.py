"""Reducers: pure folds from events to the changes of one read model each.

    messages.py   the messages view: each MessagePosted adds its message   (inline)
    counts.py     the per-tag hourly and daily counters behind every count  (inline)
    tags.py       each tag's number of messages, first and last post        (catch-up)

A reducer knows nothing of SQL (standard library and the domain only): it says *what*
changes; each store adapter applies the changes its own way. The same fold serves
inline (in the append's own transaction: the write path), catching up from a
checkpoint, and rebuilding from position 0 (``docs/events.md``).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tagfeed.domain.events import MessagePosted

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Reducer(Generic[C]):
    """A read model's fold: ``fold(events)`` is what the events change, as plain data
    the adapters know how to apply (an applier per ``name`` in each adapter). A fold of
    a concatenation must equal applying the folds of its parts one after the other:
    the runner folds the log in batches of any size."""

    name: str
    fold: Callable[[Sequence[MessagePosted]], C]
