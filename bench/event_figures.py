"""Figures of the event log's consumers (docs/performance.md, "Relay and trending"):

    python -m bench.event_figures --messages 1000000

On a fresh SQLite file loaded with the benchmark's data set (``bench/dataset.py``):
the relay's rate into JetStream (``tagfeed relay`` from checkpoint 0 to the head, into
a stream of its own, deleted afterwards), the trending reducer's catch-up rate, then
the latency of ``GET /v1/tags/trending`` against ``GET /v1/messages/{id}`` on one
server process, one request at a time (keep-alive), the reducers off.
"""

import argparse
import asyncio
import os
import random
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
import nats

from bench.dataset import ensure_dataset

CACHE = Path(os.environ.get("TAGFEED_BENCH_CACHE", Path.home() / ".cache" / "tagfeed-bench"))
PORT = 8097


def _tagfeed(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tagfeed", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _checkpoint(path: Path, name: str) -> int:
    with sqlite3.connect(path) as conn:
        row = conn.execute(
            "SELECT position FROM reducer_checkpoints WHERE name = ?", (name,)
        ).fetchone()
    return int(row[0]) if row else 0


def _wait(done: Callable[[], bool], timeout: float) -> float:
    started = time.perf_counter()
    while not done():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("gave up waiting")
        time.sleep(0.05)
    return time.perf_counter() - started


async def _stream_messages(name: str) -> int:
    connection = await nats.connect("nats://127.0.0.1:4222")
    try:
        return int((await connection.jetstream().stream_info(name)).state.messages)
    finally:
        await connection.close()


async def _delete_stream(name: str) -> None:
    connection = await nats.connect("nats://127.0.0.1:4222")
    try:
        await connection.jetstream().delete_stream(name)
    finally:
        await connection.close()


def relay_rate(env: dict[str, str], messages: int) -> float:
    stream = f"bench_{secrets.token_hex(4)}"
    env = {**env, "TAGFEED_NATS_STREAM": stream, "TAGFEED_NATS_SUBJECT_PREFIX": f"{stream}.m"}
    relay = _tagfeed(env, "relay")
    try:
        # From the process's start (interpreter, connection, stream) to the last ack.
        elapsed = _wait(lambda: _checkpoint_of(env) >= messages, 1800)
    finally:
        relay.terminate()
        relay.wait(30)
        asyncio.run(_delete_stream(stream))
    return messages / elapsed


def _checkpoint_of(env: dict[str, str]) -> int:
    return _checkpoint(Path(env["TAGFEED_DATABASE_URL"].removeprefix("sqlite:///")), "relay")


def latency(client: httpx.Client, paths: list[str]) -> tuple[float, float, float]:
    """(median ms, p99 ms, requests/s) of GETs one at a time."""
    timings = []
    started = time.perf_counter()
    for path in paths:
        before = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - before) * 1000)
        response.raise_for_status()
    total = time.perf_counter() - started
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99)], len(paths) / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    info = ensure_dataset(CACHE, args.messages, seed=1, today=date.today())
    workdir = Path(tempfile.mkdtemp(prefix="tagfeed-events-"))
    db = workdir / "tagfeed.db"
    env = {
        **os.environ,
        "TAGFEED_DATABASE_URL": f"sqlite:///{db}",
        "TAGFEED_LOG_LEVEL": "warning",
        "TAGFEED_RUN_REDUCERS": "false",
    }
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tagfeed", "import", str(info.path)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"imported {args.messages:,} in {time.perf_counter() - started:.0f} s")
    print(f"relay into JetStream: {relay_rate(env, args.messages):,.0f} events/s")

    reducer = _tagfeed(env, "reduce", "trending")
    try:
        elapsed = _wait(lambda: _checkpoint(db, "trending") >= args.messages, 3600)
    finally:
        reducer.terminate()
        reducer.wait(30)
    print(f"trending catch-up: {args.messages / elapsed:,.0f} events/s")

    with sqlite3.connect(db) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM messages LIMIT 100000")]
    rng = random.Random(1)
    server = _tagfeed(env, "serve", "--port", str(PORT), "--no-migrate")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", headers={"X-User-ID": "1"}) as c:
            _wait(lambda: _answers(c), 60)
            windows = ["1h", "24h", "7d"]
            latency(c, [f"/v1/messages/{rng.choice(ids)}" for _ in range(200)])  # warm up
            latency(c, [f"/v1/tags/trending?window={w}" for w in windows])
            by_id = [f"/v1/messages/{rng.choice(ids)}" for _ in range(args.requests)]
            trends = [
                f"/v1/tags/trending?window={rng.choice(windows)}&limit=10"
                for _ in range(args.requests)
            ]
            for name, paths in (
                ("GET /v1/messages/{id}", by_id),
                ("GET /v1/tags/trending", trends),
            ):
                median, p99, rate = latency(c, paths)
                print(f"{name}: median {median:.2f} ms, p99 {p99:.2f} ms, {rate:,.0f} req/s")
    finally:
        server.terminate()
        server.wait(30)


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


if __name__ == "__main__":
    main()
