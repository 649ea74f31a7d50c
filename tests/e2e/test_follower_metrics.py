"""``tagfeed reduce NAME`` and ``tagfeed relay`` serve ``/metrics`` on a port of their own
when given one (``--metrics-port``, or ``TAGFEED_METRICS_PORT``): their position, head and
lag gauges, scraped from the real processes while they follow the log; a port in use or
metrics turned off is refused at start, naming the problem."""

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tagfeed.config import Settings
from tagfeed.relay.jetstream import StreamSettings
from tagfeed.store.factory import store_from_settings
from tests.e2e.conftest import free_port
from tests.integration.relay_helpers import delete_stream, unique_stream
from tests.integration.test_reducers import post_many
from tests.metric_samples import Samples, parse_samples


def post(url: str, count: int, seed: int) -> int:
    """Append ``count`` posts from this process; the log's head after."""

    async def run() -> int:
        store = store_from_settings(Settings(database_url=url))
        await store.open()
        try:
            await post_many(store, count, seed=seed)
            return await store.head()
        finally:
            await store.close()

    return asyncio.run(run())


@contextmanager
def follower(url: str, args: list[str], log: Path, env: dict[str, str]) -> Iterator[None]:
    environment = {**os.environ, "TAGFEED_DATABASE_URL": url, **env}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tagfeed", *args],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=15)


def scrape_until(port: int, done: Callable[[Samples], bool], log: Path) -> Samples:
    """Scrape until ``done`` holds (the process takes a moment to start and to fold)."""
    deadline = time.monotonic() + 30
    seen: Samples = {}
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        seen = parse_samples(response.text)
        if done(seen):
            return seen
        time.sleep(0.2)
    raise AssertionError(f"never saw it; last scrape {seen}; log: {log.read_text()[-2000:]}")


def gauges(seen: Samples, reducer: str) -> tuple[float, float, float]:
    """(position, head, lag in events) of ``reducer``; -1 for each missing."""
    labels = (("reducer", reducer),)
    return tuple(  # type: ignore[return-value]
        seen.get((f"tagfeed_reducer_{name}", labels), -1.0)
        for name in ("position", "head", "lag_events")
    )


def test_a_reducer_process_serves_its_position_and_lag(database_url: str, tmp_path: Path) -> None:
    head = post(database_url, 120, seed=0)
    port = free_port()
    log = tmp_path / "reduce.log"
    env = {"TAGFEED_REDUCER_LEASE_SECONDS": "3"}  # renewed (and reported) each second
    with follower(database_url, ["reduce", "tags", "--metrics-port", str(port)], log, env):
        seen = scrape_until(port, lambda s: gauges(s, "tags")[0] == head, log)
        assert gauges(seen, "tags") == (head, head, 0)
        # Its store's calls are there too (the reads of the log).
        calls = ("tagfeed_db_call_duration_seconds_count", (("op", "read_tagged"),))
        assert seen[calls] >= 1
        later = post(database_url, 30, seed=1)  # appended by another process
        seen = scrape_until(port, lambda s: gauges(s, "tags")[0] == later, log)
        assert gauges(seen, "tags") == (later, later, 0)


def test_the_relay_serves_its_position_on_the_metrics_port_setting(
    database_url: str, tmp_path: Path
) -> None:
    head = post(database_url, 80, seed=2)
    port = free_port()
    stream: StreamSettings = unique_stream()
    log = tmp_path / "relay.log"
    env = {
        "TAGFEED_METRICS_PORT": str(port),
        "TAGFEED_NATS_STREAM": stream.name,
        "TAGFEED_NATS_SUBJECT_PREFIX": stream.subject_prefix,
    }
    try:
        with follower(database_url, ["relay", "--batch-size", "25"], log, env):
            seen = scrape_until(port, lambda s: gauges(s, "relay")[0] == head, log)
            assert gauges(seen, "relay") == (head, head, 0)
    finally:
        asyncio.run(delete_stream(stream.name))


def run_refused(url: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tagfeed", *args],
        env={**os.environ, "TAGFEED_DATABASE_URL": url, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_metrics_port_that_cannot_be_used_stops_it_at_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tagfeed.db'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for args in (["reduce", "tags", "--metrics-port", port], ["relay", "--metrics-port", port]):
            done = run_refused(url, args, {})
            assert done.returncode == 1, done.stderr
            assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
            assert "choose another with --metrics-port or TAGFEED_METRICS_PORT" in done.stderr
    off = run_refused(url, ["relay", "--metrics-port", port], {"TAGFEED_METRICS": "false"})
    assert off.returncode == 1
    assert "--metrics-port given, but TAGFEED_METRICS is off" in off.stderr
