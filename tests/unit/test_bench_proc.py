"""The bench's reading of /proc: machine-wide busy time counts every state but idle and
iowait (the scaling step uses it to show whether a second worker found a free core)."""

import os
from pathlib import Path

import pytest

from bench.proc import machine_busy_seconds, tree_rss_by_role, tree_rss_mb


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


def _fake_process(proc: Path, pid: int, parent: int, command: bytes, rss_kib: int) -> None:
    (proc / str(pid)).mkdir()
    (proc / str(pid) / "stat").write_text(f"{pid} (py (x)) S {parent} 1 1 0 -1 0 0 0 0 0 5 6\n")
    (proc / str(pid) / "status").write_text(f"Name:\tpython3\nVmRSS:\t{rss_kib} kB\n")
    (proc / str(pid) / "cmdline").write_bytes(command.replace(b" ", b"\0") + b"\0")


def test_rss_is_told_apart_by_role_and_summed_over_the_tree(tmp_path: Path) -> None:
    """The streams budget is per process: the worker's own RSS apart from granian's main
    process and multiprocessing's resource tracker, a process outside the tree left out."""
    _fake_process(tmp_path, 10, 1, b"python3 -m tagfeed.server.launch {}", 30 * 1024)
    tracker = b"python3 -B -c from multiprocessing.resource_tracker import main;main(7)"
    _fake_process(tmp_path, 11, 10, tracker, 12 * 1024)
    spawned = b"python3 -B -c from multiprocessing.spawn import spawn_main --multiprocessing-fork"
    _fake_process(tmp_path, 12, 10, spawned, 200 * 1024)
    _fake_process(tmp_path, 13, 10, spawned, 100 * 1024)
    _fake_process(tmp_path, 14, 1, spawned, 999 * 1024)  # not ours
    assert tree_rss_by_role(10, tmp_path) == {
        "main": 30.0,
        "resource_tracker": 12.0,
        "worker": 300.0,
    }
    assert tree_rss_mb(10, tmp_path) == 342.0
