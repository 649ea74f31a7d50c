"""server/metrics_share.py: the snapshots of several processes in a real directory, merged
as one scrape; read back with prometheus-client's parser."""

import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tagfeed.metrics import Metrics
from tagfeed.server.metrics_share import SharedMetrics, Snapshots
from tests.metric_samples import Samples, parse_samples


def merged(directory: Path) -> Samples:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SharedMetrics(directory))
    text = generate_latest(registry).decode()
    return parse_samples(text)


def a_dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_counters_and_histograms_add_up_over_every_process(tmp_path: Path) -> None:
    one, two = Metrics(), Metrics()
    for _ in range(3):
        one.record_request("/v1/messages", "POST", 201, 0.004)
    two.record_request("/v1/messages", "POST", 201, 0.2)
    two.record_request("/healthz", "GET", 200, 0.0001)
    two.observe_db_call("apply", 0.002, ok=False)
    Snapshots(one.registry, tmp_path).write()
    Snapshots(two.registry, tmp_path, pid=a_dead_pid()).write()  # a worker that has died

    seen = merged(tmp_path)
    post = (("method", "POST"), ("route", "/v1/messages"))
    assert seen[("tagfeed_http_requests_total", (*post, ("status", "201")))] == 4
    duration = "tagfeed_http_request_duration_seconds"
    assert seen[(f"{duration}_count", post)] == 4
    assert seen[(f"{duration}_bucket", (("le", "0.005"), *post))] == 3
    assert seen[(f"{duration}_bucket", (("le", "0.25"), *post))] == 4
    assert seen[(f"{duration}_sum", post)] == pytest.approx(0.212)
    assert seen[(f"{duration}_count", (("method", "GET"), ("route", "/healthz")))] == 1
    assert seen[("tagfeed_db_call_errors_total", (("op", "apply"),))] == 1


def test_gauges_of_dead_processes_are_dropped_and_live_ones_merge_by_kind(
    tmp_path: Path,
) -> None:
    live, other_live, dead = Metrics(), Metrics(), Metrics()
    live.streams_open(2)
    other_live.streams_open(3)
    dead.streams_open(50)
    live.reducer_position("counts", position=95, head=100)
    other_live.reducer_position("counts", position=70, head=100)
    dead.reducer_position("counts", position=0, head=100)
    Snapshots(live.registry, tmp_path).write()
    Snapshots(other_live.registry, tmp_path).write()  # the same (live) pid, another start
    Snapshots(dead.registry, tmp_path, pid=a_dead_pid()).write()

    seen = merged(tmp_path)
    assert seen[("tagfeed_streams_open", ())] == 5  # summed over the live
    counts = (("reducer", "counts"),)
    assert seen[("tagfeed_reducer_lag_events", counts)] == 30  # the furthest behind
    assert seen[("tagfeed_reducer_position", counts)] == 95


def test_a_snapshot_is_replaced_not_added_and_the_refresh_runs_first(tmp_path: Path) -> None:
    metrics = Metrics()
    snapshots = Snapshots(metrics.registry, tmp_path)
    metrics.idempotent_replay()
    snapshots.write()
    metrics.idempotent_replay()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SharedMetrics(tmp_path, refresh=snapshots.write))
    assert b"tagfeed_idempotent_replays_total 2.0" in generate_latest(registry)
    assert [p.name for p in tmp_path.iterdir()] == [snapshots.path.name]
