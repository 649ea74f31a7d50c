"""The catch-up runner's gather: how long a runner woken by new events waits before its
next batch (``service/reducing.py``)."""

import pytest

from tagfeed.service.reducing import DUTY, GATHER_SECONDS, gather_delay


def test_a_runner_woken_after_a_quiet_spell_applies_at_once() -> None:
    # The batch began at 10.0 and took 2 ms; the wake comes 1 s later.
    assert gather_delay(10.0, 0.002, 11.0) == 0.0


def test_under_load_a_runner_applies_for_at_most_its_duty_of_the_time() -> None:
    # A batch of 4 ms, woken just after it: the next begins 4 ms / DUTY after it began.
    delay = gather_delay(10.0, 0.004, 10.004)
    assert delay == pytest.approx(0.004 / DUTY - 0.004)
    assert 0.004 / (0.004 + delay) == pytest.approx(DUTY)


def test_the_wait_never_exceeds_the_old_fixed_gather() -> None:
    assert gather_delay(10.0, 0.0, 10.0) <= GATHER_SECONDS
    assert gather_delay(10.0, 0.01, 10.01) <= GATHER_SECONDS


@pytest.mark.parametrize("took", [0.012, 0.015, 0.02, 0.024])
def test_the_next_batch_commits_within_the_gather_of_this_ones_read(took: float) -> None:
    # Batches long enough that the duty alone would wait past that: the wait shrinks
    # as they grow (it does not feed itself: a longer batch, a longer wait).
    assert took / DUTY > GATHER_SECONDS - took
    delay = gather_delay(10.0, took, 10.0 + took)
    assert took + delay + took == pytest.approx(GATHER_SECONDS)


def test_a_runner_whose_batches_take_half_the_gather_does_not_wait() -> None:
    assert gather_delay(10.0, GATHER_SECONDS / 2, 10.0 + GATHER_SECONDS / 2) == 0.0
    assert gather_delay(10.0, 0.04, 10.04) == 0.0
