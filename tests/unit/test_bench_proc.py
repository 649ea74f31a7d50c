"""The bench's reading of /proc: machine-wide busy time counts every state but idle and
iowait (the scaling step uses it to show whether a second worker found a free core)."""

import os
from pathlib import Path

import pytest

from bench.proc import machine_busy_seconds


def test_busy_time_is_all_but_idle_and_iowait(tmp_path: Path) -> None:
    hz = os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal guest guest_nice
    (tmp_path / "stat").write_text(
        f"cpu  {hz * 3} {hz} {hz * 2} {hz * 50} {hz * 7} 0 {hz} 0 {hz * 9} 0\n"
        "cpu0 1 2 3 4 5 6 7 8 9 10\n"
    )
    # guest time is already counted in user: the first eight fields only
    assert machine_busy_seconds(tmp_path) == pytest.approx(3 + 1 + 2 + 1)


def test_the_real_machine_moves_forward() -> None:
    before = machine_busy_seconds()
    sum(i * i for i in range(2_000_000))  # burn a little CPU
    assert machine_busy_seconds() > before
