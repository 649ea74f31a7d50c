"""The bench's memory check on a real process tree: a parent that starts two workers the
way granian does (multiprocessing "spawn"), each holding 80 MB, so that all the processes
together are over the 150 MB budget and each worker is under it. The budget is "RSS per
worker": judged on the largest worker, with the whole tree reported beside it."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.budgets import MAX_RSS_MB
from bench.proc import RssSampler, largest_worker_mb, tree_rss
from bench.report import Memory, Report, console, markdown

WORKER_MB = 80
# The parent: two spawned workers that each touch WORKER_MB and report ready, then wait.
SERVER = textwrap.dedent(
    f"""
    import multiprocessing, sys, time

    def work(ready):
        held = bytearray({WORKER_MB} * 2**20)
        for i in range(0, len(held), 4096):
            held[i] = 1  # touch every page: resident, not just reserved
        ready.put(1)
        time.sleep(600)

    if __name__ == "__main__":
        context = multiprocessing.get_context("spawn")
        ready = context.Queue()
        workers = [context.Process(target=work, args=(ready,)) for _ in range(2)]
        for w in workers:
            w.start()
        for _ in workers:
            ready.get()
        print("ready", flush=True)
        time.sleep(600)
    """
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    script = tmp_path / "server.py"  # a file: spawned children import their target from it
    script.write_text(SERVER)
    with subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, start_new_session=True
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == b"ready\n"
            yield process.pid
        finally:
            os.killpg(process.pid, signal.SIGKILL)  # its own group: the workers go too
            process.wait(10)


def test_each_process_of_the_tree_with_its_role(server: int) -> None:
    processes = tree_rss(server)
    roles = sorted(p.role for p in processes)
    assert roles.count("main") == 1
    assert roles.count("worker") == 2
    workers = [p for p in processes if p.role == "worker"]
    assert all(WORKER_MB <= p.mb < WORKER_MB + 40 for p in workers)
    main = next(p for p in processes if p.role == "main")
    assert main.pid == server
    assert main.mb < WORKER_MB
    assert largest_worker_mb(processes) == max(p.mb for p in workers)


def test_the_budget_is_judged_per_worker_and_the_whole_server_reported(server: int) -> None:
    with RssSampler(server, interval=0.05) as rss:
        rss.phase("load")
        time.sleep(0.3)
    memory = Memory.of(rss, [])
    # All the processes together are over the budget; each worker is under it.
    assert memory.max_mb > MAX_RSS_MB > 2 * WORKER_MB - 20
    assert memory.worker_max_mb is not None
    assert WORKER_MB <= memory.worker_max_mb < MAX_RSS_MB
    assert memory.to_json()["max_ok"] is True
    assert sum(p.mb for p in memory.at_peak) == pytest.approx(memory.max_mb)
    assert sorted(p.role for p in memory.at_peak).count("worker") == 2
    meta = {"date": "d", "backend": "sqlite", "workers": 2, "messages": 1, "threads": 1}
    meta |= {"connections": 64, "runs": 1, "duration_s": 10, "warmup_s": 2, "commit": "c"}
    report = Report(meta, [], memory)
    assert f"largest worker: {memory.worker_max_mb:.1f} MB" in markdown(report)
    assert f"all processes of the server: {memory.max_mb:.1f} MB" in markdown(report)
    assert f"largest worker {memory.worker_max_mb:.0f} MB" in console(report)
    assert f"all processes {memory.max_mb:.0f} MB" in console(report)


def test_without_a_worker_told_apart_the_whole_tree_is_judged() -> None:
    memory = Memory({"load": 160.0}, [])
    assert memory.worker_max_mb is None
    assert memory.to_json()["max_ok"] is False
