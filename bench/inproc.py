"""The app's own cost per request, without HTTP: ``create_app`` called directly as an ASGI
app by a closed loop of concurrent clients on one event loop, as granian would call it.

    python -m bench.inproc --db bench/.cache/x.db [--scenarios get_by_id,page_hot_tag]
    PYTHONPATH=/tmp/base/src python -m bench.inproc ...   # another tree's tagfeed
    python -m bench.inproc --db ... --app bench.floor:app  # the floor (or bench.peer:app)

Prints per scenario: requests/s, CPU µs per request (process time, every thread, over the
requests), p50/p99/max of the time from the app's call to its last ``send``, and the
garbage collector's pauses (count, total, longest) during the run. The interpreter is
tuned as ``tagfeed serve`` tunes it (``server/runtime.tune_for_serving``) unless
``--no-tune``. The database must hold the bench data set (``make bench-quick`` leaves
none behind: ``--make-db`` imports it first).
"""

import argparse
import asyncio
import gc
import importlib
import json
import os
import random
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

from bench.dataset import HOT_TAG, TAGS, tag_name, zipf_cum_weights
from tagfeed.api.app import create_app
from tagfeed.config import settings_from_values
from tagfeed.server.runtime import tune_for_serving
from tagfeed.store.factory import store_from_settings

SCENARIOS = (
    "get_by_id",
    "page_hot_tag",
    "page_random_tag",
    "count_hot_90d",
    "counts_day_hot",
    "post_random",
)


def _requests(db: Path, scenario: str, rng: random.Random) -> list[tuple[str, str, bytes, bytes]]:
    """(method, path, query, body) to cycle through."""
    if scenario == "get_by_id":
        with sqlite3.connect(db) as conn:
            ids = [row[0] for row in conn.execute("SELECT id FROM messages LIMIT 5000")]
        rng.shuffle(ids)
        return [("GET", f"/v1/messages/{i}", b"", b"") for i in ids]
    if scenario == "page_hot_tag":
        return [("GET", "/v1/messages", f"tag={HOT_TAG}&limit=50".encode(), b"")]
    if scenario == "page_random_tag":
        tags = rng.choices(range(1, TAGS + 1), cum_weights=zipf_cum_weights(), k=2000)
        return [("GET", "/v1/messages", f"tag={tag_name(t)}&limit=50".encode(), b"") for t in tags]
    if scenario == "counts_day_hot":
        query = f"tag={HOT_TAG}&dateStart=2025-12-02&dateEnd=2026-12-01&granularity=day"
        return [("GET", "/v1/messages/counts", query.encode(), b"")]
    if scenario == "count_hot_90d":
        query = f"tag={HOT_TAG}&dateStart=2026-08-01&dateEnd=2026-10-30&count=1"
        return [("GET", "/v1/messages", query.encode(), b"")]
    tags = rng.choices(range(1, TAGS + 1), cum_weights=zipf_cum_weights(), k=2000)
    return [
        (
            "POST",
            "/v1/messages",
            b"",
            json.dumps({"text": f"bench {i}", "tag": tag_name(t)}).encode(),
        )
        for i, t in enumerate(tags)
    ]


def _scope(method: str, path: str, query: bytes, body: bytes) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1"), (b"x-user-id", b"u0001")]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }


def _channel(body: bytes) -> tuple[Any, Any, list[int]]:
    """receive and send for one request, and the status it got."""
    sent = False
    status = [0]

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]
        await asyncio.sleep(0)  # a server's send yields to the loop

    return receive, send, status


async def _run(
    app: Any, requests: list[tuple[str, str, bytes, bytes]], total: int, clients: int
) -> tuple[list[float], float, float]:
    latencies: list[float] = []
    left = [total]
    bad = [0]

    async def client(offset: int) -> None:
        i = offset
        while left[0] > 0:
            left[0] -= 1
            method, path, query, body = requests[i % len(requests)]
            i += clients
            receive, send, status = _channel(body)
            started = time.perf_counter()
            await app(_scope(method, path, query, body), receive, send)
            latencies.append(time.perf_counter() - started)
            if status[0] >= 400:
                bad[0] += 1

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if bad[0]:
        print(f"  {bad[0]} answers >= 400", file=sys.stderr)
    return latencies, cpu, wall


def _bench_app(target: str, db: Path) -> Any:
    """A bench app (``module:attribute``): the floor reads ``db`` and posts to a file
    beside it."""
    os.environ.setdefault("BENCH_FLOOR_DATABASE", str(db))
    os.environ.setdefault("BENCH_FLOOR_WRITES", str(db.with_name(db.stem + "-floor-writes.db")))
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


async def main_async(args: argparse.Namespace) -> None:
    settings = settings_from_values(
        database_url=f"sqlite:///{args.db}", log_level="warning", run_reducers=False
    )
    store = store_from_settings(settings)
    await store.open()
    app = create_app(settings, store) if args.app is None else _bench_app(args.app, args.db)
    if not args.no_tune:
        tune_for_serving()
    pauses: list[float] = []
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - gc_started[0])

    gc.callbacks.append(on_gc)
    rng = random.Random(7)
    try:
        for scenario in args.scenarios.split(","):
            requests = _requests(args.db, scenario, rng)
            await _run(app, requests, args.requests // 5, args.clients)  # warm-up
            pauses.clear()
            latencies, cpu, wall = await _run(app, requests, args.requests, args.clients)
            latencies.sort()
            n = len(latencies)
            print(
                f"{scenario:<16} {n / wall:>8,.0f}/s  cpu {cpu / n * 1e6:6.1f} µs/req  "
                f"p50 {latencies[n // 2] * 1e3:6.2f}  p99 {latencies[int(n * 0.99)] * 1e3:6.2f}  "
                f"max {latencies[-1] * 1e3:6.2f} ms  gc {len(pauses)} pauses "
                f"{sum(pauses) * 1e3:.1f} ms, longest {max(pauses, default=0) * 1e3:.2f} ms  "
                f"mean {statistics.fmean(latencies) * 1e3:.2f} ms",
                flush=True,
            )
    finally:
        gc.callbacks.remove(on_gc)
        await store.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.inproc", description=__doc__.split("\n")[0])
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--scenarios", default="get_by_id,page_hot_tag,post_random")
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--no-tune", action="store_true")
    p.add_argument("--app", help="a bench app instead of tagfeed, e.g. bench.floor:app")
    args = p.parse_args(argv)
    uvloop.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
