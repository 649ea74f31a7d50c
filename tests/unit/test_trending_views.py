"""The trending view's statements (``store/trending_views.py``): a batch is a few
statements whatever it holds, each carrying all its rows as one value."""

from collections import Counter

from tagfeed.reducers.trending import HourCounts
from tagfeed.store.trending_views import TABLE, plan

CLOCK = 500_000  # hours since the epoch


def batch(tags: int) -> HourCounts:
    return Counter({(f"t{n}", CLOCK - n % 3): 1 + n % 4 for n in range(tags)})


def test_a_batch_is_the_same_few_statements_whatever_its_size() -> None:
    small, large = plan(TABLE, CLOCK, batch(1)), plan(TABLE, CLOCK, batch(2000))
    assert [step.sql for step in small] == [step.sql for step in large]
    assert len(large) == 3  # the hours, the windows' sums, the clock
    hours, sums, _ = large
    assert hours.rows is not None
    assert len(hours.rows.values) == 2000
    assert sums.rows is not None
    assert len(sums.rows.values) == 3 * 2000  # 1h, 24h, 7d


def test_a_move_of_the_clock_adds_the_moves_and_the_rescoring() -> None:
    moved = plan(TABLE, CLOCK - 1, batch(10))
    assert len(moved) == len(plan(TABLE, CLOCK, batch(10))) + 4 + 2
    assert sum("tier < 0" in step.sql for step in moved) == 2  # delete emptied, rescore
