"""A counting view's rebuild folds the log part by part (both backends).

The counting folds (counts, tags, trending: ``Reducer.fold_tagged``) hold one entry per
distinct key of the events they read, and a counts view at 10M events has ~5M (tag,
hour) keys: folded in one call, the rebuild held 3.4 GiB. So a rebuild folds
``PART_CHUNKS`` chunks of the log at a time and adds each part to the ones before: on
SQLite through the view's applier, as catch-up does (upserts of sums, minimums and
maximums; trending folds hours into its windows); on PostgreSQL by COPY into a table of
parts, added up once at the end (``postgres_views.MERGES``; trending through its
applier). Memory then grows with a part, not with the log. With the command's chunks
of 50,000 events a part is 2M events: a log of up to that is still folded in one call
and written once.
"""

from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from typing import Any

from tagfeed.reducers import Tagged

PART_CHUNKS = 40


def fold_part(
    chunks: Iterator[tuple[int, list[Tagged]]],
    fold_tagged: Callable[[Iterable[Tagged]], Any],
) -> tuple[int, Any] | None:
    """The last position and the fold of the next ``PART_CHUNKS`` chunks (last position,
    the chunk's events) of ``chunks``; None when none are left."""
    first = next(chunks, None)
    if first is None:
        return None
    last = first[0]

    def lists() -> Iterator[list[Tagged]]:
        nonlocal last
        for position, chunk in chain([first], islice(chunks, PART_CHUNKS - 1)):
            last = position
            yield chunk

    changes = fold_tagged(chain.from_iterable(lists()))
    return last, changes
