"""/metrics of the real ``tagfeed serve``: the counters move by exactly the requests made,
with one worker and with two (each process's share merged), labelled by route template;
off, or moved to a port of its own, by setting."""

import json
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, free_port, start_server, stop_server
from tests.metric_samples import Samples, parse_samples, requests_of

USER = {"X-User-ID": "1"}
BY_ID = "/v1/messages/{message_id}"


def scrape(url: str) -> Samples:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse_samples(response.text)


def timed_of(seen: Samples, route: str, method: str) -> float:
    labels = (("method", method), ("route", route))
    return seen.get(("tagfeed_http_request_duration_seconds_count", labels), 0.0)


def settle(url: str, done: Callable[[Samples], bool]) -> Samples:
    """Scrape until ``done`` holds: other workers' shares arrive within a second."""
    deadline = time.monotonic() + 20
    while True:
        seen = scrape(url)
        if done(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(0.25)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tagfeed.db'}"


def post(base_url: str, i: int) -> str:
    # A connection per request, so that with two workers both take some.
    created = httpx.post(
        f"{base_url}/v1/messages", json={"text": f"m{i}", "tag": "metrics"}, headers=USER
    )
    assert created.status_code == 201
    location: str = created.headers["location"]
    return location


def get(base_url: str, path: str, expected: int) -> None:
    assert httpx.get(f"{base_url}{path}", headers=USER).status_code == expected


def worker_shares(tmp_path: Path) -> list[float]:
    """Requests each worker has published so far (TMPDIR is tmp_path for the server)."""
    shares = []
    for snapshot in tmp_path.glob("tagfeed-metrics-*/*.json"):
        families = json.loads(snapshot.read_text())
        shares.append(
            sum(
                value
                for name, _, _, samples in families
                if name == "tagfeed_http_requests"
                for sample_name, labels, value in samples
                if labels.get("route") != "/metrics"
            )
        )
    return shares


@pytest.mark.parametrize("workers", [1, 2])
def test_counters_move_by_exactly_the_requests_made(tmp_path: Path, workers: int) -> None:
    server = start_server(
        sqlite_url(tmp_path),
        tmp_path / "server.log",
        "--workers",
        str(workers),
        env={"TMPDIR": str(tmp_path)},
    )
    metrics_url = f"{server.base_url}/metrics"
    posts = gets = missing = 0
    try:
        with ThreadPoolExecutor(8) as pool:
            for _ in range(5):  # rounds, until each worker has served some (workers=2)
                locations = list(pool.map(lambda i: post(server.base_url, i), range(30)))
                list(pool.map(lambda path: get(server.base_url, path, 200), locations))
                list(pool.map(lambda i: get(server.base_url, f"/v2/x/{i}", 404), range(10)))
                posts, gets, missing = posts + 30, gets + 30, missing + 10
                time.sleep(1.5)  # a snapshot interval
                if workers == 1 or len([s for s in worker_shares(tmp_path) if s]) == 2:
                    break
        if workers == 2:
            assert len([share for share in worker_shares(tmp_path) if share]) == 2
        keyed = {"Idempotency-Key": "metrics-key-1", **USER}
        for _ in range(2):
            response = httpx.post(
                f"{server.base_url}/v1/messages", json={"text": "k", "tag": "t"}, headers=keyed
            )
            assert response.status_code == 201
        posts += 2

        expected = {
            ("/v1/messages", "POST", 201): posts,
            (BY_ID, "GET", 200): gets,
            ("unmatched", "GET", 404): missing,
        }

        def settled(seen: Samples) -> bool:
            return all(requests_of(seen, *key) >= n for key, n in expected.items())

        seen = settle(metrics_url, settled)
        for (route, method, status), n in expected.items():
            assert requests_of(seen, route, method, status) == n, (route, method, status)
            assert timed_of(seen, route, method) == n, (route, method)
        assert seen[("tagfeed_idempotent_replays_total", ())] == 1
        labels = {value for _, pairs in seen for name, value in pairs if name == "route"}
        assert BY_ID in labels
        assert not [label for label in labels if label.startswith("/v2/")]
        assert not [label for label in labels if "-" in label]  # no raw message id
        time.sleep(1.5)  # nothing counted twice once every snapshot is in
        again = scrape(metrics_url)
        for (route, method, status), n in expected.items():
            assert requests_of(again, route, method, status) == n
    finally:
        assert stop_server(server)
    assert not list(tmp_path.glob("tagfeed-metrics-*"))  # removed with the server


def test_metrics_off_answers_404(tmp_path: Path) -> None:
    server = start_server(
        sqlite_url(tmp_path), tmp_path / "server.log", env={"TAGFEED_METRICS": "false"}
    )
    try:
        assert httpx.get(f"{server.base_url}/metrics").status_code == 404
        assert httpx.get(f"{server.base_url}/healthz").status_code == 200
    finally:
        stop_server(server)


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_on_a_port_of_their_own(tmp_path: Path, workers: int) -> None:
    port = free_port()
    server: Server = start_server(
        sqlite_url(tmp_path),
        tmp_path / "server.log",
        "--workers",
        str(workers),
        env={"TAGFEED_METRICS_PORT": str(port), "TMPDIR": str(tmp_path)},
    )
    try:
        assert httpx.get(f"{server.base_url}/metrics").status_code == 404
        for _ in range(3):
            get(server.base_url, "/healthz", 200)
        seen = settle(
            f"http://127.0.0.1:{port}/metrics",
            lambda seen: requests_of(seen, "/healthz", "GET", 200) >= 3,
        )
        # /readyz was asked while the server started; /healthz exactly three times.
        assert requests_of(seen, "/healthz", "GET", 200) == 3
        assert requests_of(seen, "unmatched", "GET", 404) == 1  # the /metrics above
    finally:
        assert stop_server(server)
    assert not list(tmp_path.glob("tagfeed-metrics-*"))


def test_a_killed_worker_s_counts_outlive_it(tmp_path: Path) -> None:
    """granian replaces a worker killed with SIGKILL; what the dead one had published stays
    in the totals (its last second may be lost: here every snapshot is in before the kill)."""
    server = start_server(
        sqlite_url(tmp_path),
        tmp_path / "server.log",
        "--workers",
        "2",
        env={"TMPDIR": str(tmp_path)},
    )
    try:
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            for _ in range(5):
                list(pool.map(lambda _: get(server.base_url, "/healthz", 200), range(40)))
                sent += 40
                time.sleep(1.5)
                if len([share for share in worker_shares(tmp_path) if share]) == 2:
                    break
        snapshots = list(tmp_path.glob("tagfeed-metrics-*/*.json"))
        assert len(snapshots) == 2
        victim = int(snapshots[0].name.partition("-")[0])
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("tagfeed-metrics-*/*.json"))) < 3:
            assert time.monotonic() < deadline, "no worker replaced the killed one"
            time.sleep(0.25)
        seen = settle(
            f"{server.base_url}/metrics",
            lambda seen: requests_of(seen, "/healthz", "GET", 200) >= sent,
        )
        assert requests_of(seen, "/healthz", "GET", 200) == sent
    finally:
        stop_server(server)


def test_storage_streams_and_reducers_are_recorded(tmp_path: Path) -> None:
    """The real server: posts move the store's `apply` calls and the writer's batches by
    exactly the posts made, an open stream shows 1 then 0 once it is gone, and the
    catch-up reducers (tags, trending) report reaching the log's head."""
    server = start_server(
        sqlite_url(tmp_path),
        tmp_path / "server.log",
        env={"TAGFEED_STREAM_HEARTBEAT_SECONDS": "0.5"},  # a departure is noticed soon
    )
    metrics_url = f"{server.base_url}/metrics"
    open_streams = ("tagfeed_streams_open", ())
    try:
        assert scrape(metrics_url).get(open_streams) == 0
        with httpx.stream(
            "GET", f"{server.base_url}/v1/messages/stream", headers=USER, timeout=30
        ) as live:
            assert live.status_code == 200
            assert settle(metrics_url, lambda seen: seen.get(open_streams) == 1)[open_streams] == 1
            with ThreadPoolExecutor(8) as pool:
                locations = list(pool.map(lambda i: post(server.base_url, i), range(20)))
        assert settle(metrics_url, lambda seen: seen.get(open_streams) == 0)[open_streams] == 0

        read = httpx.get(f"{server.base_url}{locations[0]}", headers=USER)
        assert read.status_code == 200
        assert read.headers["tagfeed-position"] == "20"  # the log's head: 20 posts

        def reducers_at_head(seen: Samples) -> bool:
            return all(
                seen.get(("tagfeed_reducer_position", (("reducer", name),))) == 20
                for name in ("tags", "trending")
            )

        seen = settle(metrics_url, reducers_at_head)
        for name in ("tags", "trending"):
            labels = (("reducer", name),)
            assert seen[("tagfeed_reducer_position", labels)] == 20
            assert seen[("tagfeed_reducer_head", labels)] == 20
            assert seen[("tagfeed_reducer_lag_events", labels)] == 0
        calls = "tagfeed_db_call_duration_seconds_count"
        assert seen[(calls, (("op", "apply"),))] == 20
        assert seen[(calls, (("op", "get"),))] == 1
        assert seen[("tagfeed_db_call_errors_total", (("op", "apply"),))] == 0
        assert seen[("tagfeed_writer_batch_size_sum", ())] == 20
        assert 1 <= seen[("tagfeed_writer_batch_size_count", ())] <= 20
    finally:
        assert stop_server(server)
