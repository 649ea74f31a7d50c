"""``bench/lag.py``'s reading of sampled checkpoints: each event's lag is bounded by the
last sample that had not seen it applied and the first that had. No server."""

import pytest

from bench.lag import Sample, lags

# (started, ended, checkpoints): the reducer passed 2 between 10.0 and 10.3, 5 later.
SAMPLES: list[Sample] = [
    (10.0, 10.1, {"tags": 1}),
    (10.2, 10.3, {"tags": 2}),
    (10.4, 10.5, {"tags": 2, "trending": 5}),
    (10.6, 10.7, {"tags": 5, "trending": 5}),
]


def test_each_event_s_lag_runs_to_the_end_of_the_first_sample_that_saw_it() -> None:
    events = [(2, 9.9), (3, 10.25), (5, 10.3)]
    upper, lower = lags(events, SAMPLES, "tags")
    assert upper == pytest.approx([400.0, 450.0, 400.0])  # ms: 10.3 - 9.9, 10.7 - 10.25, ...
    # committed after the start of the sample before: 10.0 (for 2), 10.4 (for 3 and 5)
    assert lower == pytest.approx([100.0, 150.0, 100.0])


def test_a_reducer_that_never_reached_an_event_leaves_it_out() -> None:
    upper, _ = lags([(5, 10.0), (6, 10.0)], SAMPLES, "trending")
    assert upper == pytest.approx([500.0])  # 6 was never applied: not a lag of 0
    assert lags([(1, 10.0)], SAMPLES, "other") == ([], [])
