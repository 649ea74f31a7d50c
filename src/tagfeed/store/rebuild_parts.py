"""A counting view's rebuild folds the log part by part (both backends).

The counting folds (counts, tags, trending: ``Reducer.fold_tagged``) hold one entry per
distinct key of the events they read, and a counts view at 10M events has ~5M (tag,
hour) keys: folded in one call, the rebuild held 3.4 GiB. So a rebuild folds
``PART_CHUNKS`` chunks of the log at a time and writes each part through the view's
applier, which adds to what the fresh table holds, as catch-up does (counts and tags
upsert sums, minimums and maximums; trending folds hours into its windows). Memory then
grows with a part, not with the log. With the command's chunks of 50,000 events a part
is 2M events: a log of up to that is still folded in one call and written once.
"""

from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from typing import Any

from tagfeed.reducers import Tagged

PART_CHUNKS = 40


def fold_part(
    chunks: Iterator[tuple[int, list[Tagged]]],
    fold_tagged: Callable[[Iterable[Tagged]], Any],
    chunks_per_part: int = PART_CHUNKS,
) -> tuple[int, Any] | None:
    """The last position and the fold of the next ``chunks_per_part`` chunks (last
    position, the chunk's events) of ``chunks``; None when none are left."""
    first = next(chunks, None)
    if first is None:
        return None
    last = first[0]

    def lists() -> Iterator[list[Tagged]]:
        nonlocal last
        for position, chunk in chain([first], islice(chunks, chunks_per_part - 1)):
            last = position
            yield chunk

    changes = fold_tagged(chain.from_iterable(lists()))
    return last, changes
