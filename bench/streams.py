"""The figures of live streams (docs/performance.md, "Streams"), against ``tagfeed serve``:

1. **Latency**: N open streams on one process, spread over T tags, and posts at R/s (open
   loop: each post is sent at its planned instant, whether or not earlier ones are
   answered), tags drawn at random. For every delivery of a post to a stream of its tag:
   the time from the POST's 201 reaching the client to the event reaching the stream
   client (and from the POST being sent). Every delivery must arrive exactly once.
2. **Idle**: M streams open on one process, nothing posted: the server's RSS (all its
   processes, and the worker's own), against its RSS before the streams; then one post,
   which every stream must receive.

The clients are plain asyncio protocols on uvloop, parsing only what they need (the
status line, ``data:`` lines), so one client process can keep up with the server.
``make bench-streams`` runs both; ``python -m bench.streams --help`` for the knobs.
"""

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvloop

from bench.proc import tree_cpu_seconds, tree_rss_by_role
from bench.servers import HOST, tagfeed_server

USER = b"X-User-ID: bench\r\n"


def raise_file_limit() -> int:
    """As many descriptors as the hard limit allows (the server inherits it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class StreamClient(asyncio.Protocol):
    """One SSE stream; calls ``on_event(data_line, arrived_at)`` for every event."""

    def __init__(self, on_event: Callable[[bytes, float], None]) -> None:
        self.on_event = on_event
        self.buffer = b""
        self.open = asyncio.get_running_loop().create_future()
        self.head_done = False

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        if not self.head_done:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            if not self.open.done():
                self.open.set_result(head.split(b" ", 2)[1])
            self.head_done, self.buffer = True, rest
        *events, self.buffer = self.buffer.split(b"\n\n")
        for event in events:
            start = event.find(b"\ndata: ")
            if start >= 0:
                self.on_event(event[start + 7 :], now)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.open.done():
            self.open.set_exception(ConnectionError("closed before answering"))


async def open_streams(
    port: int, paths: list[str], on_event: Callable[[int, bytes, float], None]
) -> list[asyncio.Transport]:
    """Open one stream per path (500 connections at a time, not to flood the backlog)."""
    loop = asyncio.get_running_loop()
    transports: list[asyncio.Transport] = []
    for first in range(0, len(paths), 500):
        batch = []
        for index in range(first, min(first + 500, len(paths))):

            def made(index: int = index) -> StreamClient:
                return StreamClient(lambda data, at: on_event(index, data, at))

            batch.append(loop.create_connection(made, HOST, port))
        opened = await asyncio.gather(*batch)
        for (transport, _), path in zip(opened, paths[first : first + 500], strict=True):
            transport.write(f"GET {path} HTTP/1.1\r\nHost: b\r\n".encode() + USER + b"\r\n")
            transports.append(transport)
        statuses = await asyncio.gather(*(p.open for _, p in opened))
        assert set(statuses) == {b"200"}, statuses
    return transports


@dataclass
class Posts:
    sent: dict[int, float] = field(default_factory=dict)
    answered: dict[int, float] = field(default_factory=dict)
    tags: dict[int, int] = field(default_factory=dict)
    failures: int = 0


async def poster(
    port: int, schedule: asyncio.Queue[tuple[int, int, float] | None], posts: Posts
) -> None:
    """One keep-alive connection posting what the schedule says, when it says."""
    reader, writer = await asyncio.open_connection(HOST, port)
    while (item := await schedule.get()) is not None:
        number, tag, due = item
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        body = json.dumps({"text": f"p{number} streamed", "tag": f"t{tag}"}).encode()
        posts.sent[number] = time.perf_counter()
        writer.write(
            b"POST /v1/messages HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
            + USER
            + b"Content-Length: %d\r\n\r\n" % len(body)
            + body
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        posts.answered[number] = time.perf_counter()
        if not head.startswith(b"HTTP/1.1 201"):
            posts.failures += 1
    writer.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def latency(
    port: int, pid: int, streams: int, tags: int, rate: int, seconds: float
) -> dict[str, object]:
    received: dict[tuple[int, int], float] = {}
    duplicates = 0

    def on_event(stream: int, data: bytes, at: float) -> None:
        nonlocal duplicates
        start = data.find(b'"text":"p') + 9
        number = int(data[start : data.index(b" ", start)])
        if (stream, number) in received:
            duplicates += 1
        received[stream, number] = at

    stream_tag = [i % tags for i in range(streams)]
    await open_streams(port, [f"/v1/messages/stream?tag=t{t}" for t in stream_tag], on_event)
    await asyncio.sleep(1)
    posts = Posts()
    total = int(rate * seconds)
    schedule: asyncio.Queue[tuple[int, int, float] | None] = asyncio.Queue()
    start = time.perf_counter() + 0.5
    server_cpu = tree_cpu_seconds(pid)
    client_cpu = time.process_time()
    rng = random.Random(20261201)
    for number in range(total):
        tag = rng.randrange(tags)
        posts.tags[number] = tag
        schedule.put_nowait((number, tag, start + number / rate))
    connections = 256  # posts wait ~50-100 ms for their group commit: enough in flight
    for _ in range(connections):
        schedule.put_nowait(None)
    await asyncio.gather(*(poster(port, schedule, posts) for _ in range(connections)))
    took = time.perf_counter() - start
    server_cpu = tree_cpu_seconds(pid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    await asyncio.sleep(2)  # the last deliveries
    by_tag: dict[int, list[int]] = {}
    for stream, tag in enumerate(stream_tag):
        by_tag.setdefault(tag, []).append(stream)
    expected = [(s, n) for n in range(total) for s in by_tag.get(posts.tags[n], [])]
    after_201 = [(received[k] - posts.answered[k[1]]) * 1000 for k in expected if k in received]
    after_send = [(received[k] - posts.sent[k[1]]) * 1000 for k in expected if k in received]
    return {
        "streams": streams,
        "tags": tags,
        "posts": total,
        "post_rate": round(total / took),
        "post_failures": posts.failures,
        "server_cpu_percent": round(100 * server_cpu / took),
        "client_cpu_percent": round(100 * client_cpu / took),
        "deliveries_expected": len(expected),
        "deliveries_missing": len(expected) - len(after_201),
        "duplicates": duplicates,
        "ms_201_to_event": summary(after_201),
        "ms_send_to_event": summary(after_send),
        "late_post_starts_ms_p99": round(
            percentile([(posts.sent[n] - (start + n / rate)) * 1000 for n in range(total)], 99), 2
        ),
    }


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 2),
        "p99": round(percentile(values, 99), 2),
        "max": round(max(values), 2),
    }


async def idle(port: int, pid: int, streams: int) -> dict[str, object]:
    got: set[int] = set()
    everyone = asyncio.Event()

    def on_event(stream: int, data: bytes, at: float) -> None:
        got.add(stream)
        if len(got) == streams:
            everyone.set()

    before = tree_rss_by_role(pid)
    transports = await open_streams(port, ["/v1/messages/stream"] * streams, on_event)
    await asyncio.sleep(3)
    with_streams = tree_rss_by_role(pid)
    reader, writer = await asyncio.open_connection(HOST, port)
    body = b'{"text":"p0 to all","tag":"idle"}'
    writer.write(
        b"POST /v1/messages HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
        + USER
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )
    await reader.readuntil(b"\r\n\r\n")
    posted = time.perf_counter()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(everyone.wait(), 30)
    reached = time.perf_counter() - posted
    for transport in transports:
        transport.close()
    total_before, total = sum(before.values()), sum(with_streams.values())
    worker_before, worker = before.get("worker", 0.0), with_streams.get("worker", 0.0)
    return {
        "streams": streams,
        "rss_mb_before": round(total_before, 1),
        "rss_mb_with_streams": round(total, 1),
        "kb_per_stream": round((total - total_before) * 1024 / streams, 1),
        # the budget speaks of one process: the worker's own RSS, and each process's
        "worker_rss_mb_before": round(worker_before, 1),
        "worker_rss_mb_with_streams": round(worker, 1),
        "worker_kb_per_stream": round((worker - worker_before) * 1024 / streams, 1),
        "rss_mb_by_process_with_streams": {k: round(v, 1) for k, v in with_streams.items()},
        "received_one_post": len(got),
        "s_until_all_received": round(reached, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", help="an existing database (served after migrating); default: SQLite"
    )
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--tags", type=int, default=100, help="streams are spread over these")
    parser.add_argument("--rate", type=int, default=1000, help="posts per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--idle-streams", type=int, default=10_000)
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    limit = raise_file_limit()
    results: dict[str, object] = {"file_limit": limit}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("latency", "idle"):
            url = args.database_url or f"sqlite:///{tmp}/{name}.db"
            os.environ["TAGFEED_STREAM_MAX_CLIENTS"] = str(max(args.streams, args.idle_streams))
            with tagfeed_server(url, 1, Path(tmp) / f"{name}.log") as server:
                port = int(server.url.rpartition(":")[2])
                if name == "latency":
                    run = latency(
                        port, server.pid, args.streams, args.tags, args.rate, args.seconds
                    )
                else:
                    run = idle(port, server.pid, args.idle_streams)
                results[name] = uvloop.run(run)
            print(json.dumps({name: results[name]}), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
