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
    assert gather_delay(10.0, 1.0, 11.0) == GATHER_SECONDS
