"""Catch-up reducer lag under a fixed post rate (docs/performance.md, "Reducer lag"):

    python -m bench.lag [--rate 5000] [--seconds 20] [--reducers serve|processes] [--postgres]
                        [--driver http|append]

``tagfeed serve`` on a fresh database (an SQLite file; PostgreSQL with ``--postgres``)
with the catch-up reducers (``tags``, ``trending``) running inside it, as by default, or
as ``tagfeed reduce NAME`` processes (``--reducers processes``). Posts are sent open loop:
each at its planned instant (``rate`` per second, tags drawn from ``--tags``), over many
keep-alive connections, whether or not earlier ones were answered. With ``--driver
append``, no HTTP: one process (``bench/appender.py``) posts through the store's own
append path (``MessageService.post``, the group commit) at the rate, with the reducers
inside it (``--reducers serve``) or as processes: the reducers' lag at a rate the HTTP
server of this machine cannot take.

The lag of an event, for each reducer, is the time its checkpoint passed the event's
position minus the event's ``recorded_at`` (the server's clock, just before the append's
commit). A sampler process reads ``reducer_checkpoints`` every ``--sample-ms``: the
reducer committed the event after the start of the last sample that had not seen it and
before the end of the first that had. The lag given is that upper bound; the lower bound
is given too (they part when the sampler itself waits for a CPU). Events of the first
``--warmup`` seconds are left out. The figures: p50/p99/max per reducer, and what the load
reached.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.synchronize import Event as StopFlag
from pathlib import Path

import asyncpg
import uvloop

from bench.database import DEFAULT_ADMIN_URL, postgres_database, sqlite_database
from bench.proc import tree_cpu_seconds, tree_runqueue_wait_seconds
from bench.servers import stop_group, tagfeed_server
from bench.streams import Posts, poster, raise_file_limit, summary
from tagfeed.store.migrate import upgrade

REDUCERS = ("tags", "trending")
CHECKPOINTS = "SELECT name, position FROM reducer_checkpoints"
# (sample started, sample ended, {reducer: checkpoint}), times from time.time()
Sample = tuple[float, float, dict[str, int]]
# The PostgreSQL backend serving each reducer's session: the one holding its advisory
# lock (two keys: "tagr" and the hash of its name, store/postgres_views.py) in this
# database (pg_locks shows every database's: other tagfeeds on the same server).
_SESSION_BACKENDS = """SELECT r.name, l.pid FROM unnest($1::text[]) AS r (name)
    JOIN pg_locks AS l ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND l.classid = x'74616772'::int::oid
    AND l.objid::bigint = hashtext(r.name)::bigint & 4294967295"""


def _sample_sqlite(path: str, interval: float, stop: StopFlag) -> list[Sample]:
    samples: list[Sample] = []
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        while not stop.is_set():
            started = time.time()
            rows = conn.execute(CHECKPOINTS).fetchall()
            samples.append((started, time.time(), dict(rows)))
            time.sleep(interval)
    finally:
        conn.close()
    return samples


async def _sample_postgres(url: str, interval: float, stop: StopFlag) -> list[Sample]:
    samples: list[Sample] = []
    conn = await asyncpg.connect(url)
    try:
        while not stop.is_set():
            started = time.time()
            rows = await conn.fetch(CHECKPOINTS)
            samples.append((started, time.time(), {r["name"]: r["position"] for r in rows}))
            await asyncio.sleep(interval)
    finally:
        await conn.close()
    return samples


def sample_checkpoints(url: str, interval: float, stop: StopFlag, out: str) -> None:
    """The sampler process: sample until ``stop``, then write the samples to ``out``."""
    if url.startswith("sqlite:///"):
        samples = _sample_sqlite(url.removeprefix("sqlite:///"), interval, stop)
    else:
        samples = asyncio.run(_sample_postgres(url, interval, stop))
    Path(out).write_text(json.dumps(samples))


@contextmanager
def sampler(url: str, interval: float, out: Path) -> Iterator[None]:
    """The checkpoints sampled in a process of their own (not to take the load
    generator's CPU), from the start of the block to its end."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    process = context.Process(target=sample_checkpoints, args=(url, interval, stop, str(out)))
    process.start()
    try:
        yield
    finally:
        stop.set()
        process.join(30)


def recorded(url: str, after: int) -> list[tuple[int, float]]:
    """(position, recorded_at in epoch seconds) of every event after ``after``."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            rows = conn.execute(
                "SELECT position, recorded_at / 1e6 FROM events WHERE position > ?"
                " ORDER BY position",
                (after,),
            ).fetchall()
        return [(int(p), float(t)) for p, t in rows]

    async def fetch() -> list[tuple[int, float]]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(
                "SELECT position, extract(epoch FROM recorded_at)::float8 AS t FROM events"
                " WHERE position > $1 ORDER BY position",
                after,
            )
        finally:
            await conn.close()
        return [(int(r["position"]), float(r["t"])) for r in rows]

    return asyncio.run(fetch())


def lags(
    events: list[tuple[int, float]], samples: list[Sample], name: str
) -> tuple[list[float], list[float]]:
    """Per event, in ms: the upper and the lower bound of its lag (the commit fell after
    the start of the last sample that had not seen it, before the end of the first that
    had; a sampler that stalled widens the interval). Events the samples never saw
    applied are left out."""
    seen = [s[2].get(name, 0) for s in samples]  # checkpoints never move back
    upper, lower = [], []
    for position, at in events:
        first = bisect_left(seen, position)  # the first sample that saw it applied
        if first == len(samples):
            continue
        committed_after = samples[first - 1][0] if first else samples[0][0]
        upper.append((samples[first][1] - at) * 1000)
        lower.append(max(committed_after - at, 0.0) * 1000)
    return upper, lower


async def post_at_rate(
    port: int, rate: int, seconds: float, tags: int, connections: int
) -> tuple[Posts, float, float, float]:
    """Open loop: post number n is due at start + n / rate. Returns the posts, when the
    first was due (``perf_counter`` and epoch seconds) and how long it all took."""
    posts = Posts()
    total = int(rate * seconds)
    schedule: asyncio.Queue[tuple[int, int, float] | None] = asyncio.Queue()
    rng = random.Random(20261201)
    start = time.perf_counter() + 0.5
    epoch_start = time.time() + 0.5
    for number in range(total):
        tag = rng.randrange(tags)
        posts.tags[number] = tag
        schedule.put_nowait((number, tag, start + number / rate))
    for _ in range(connections):
        schedule.put_nowait(None)
    await asyncio.gather(*(poster(port, schedule, posts) for _ in range(connections)))
    return posts, start, epoch_start, time.perf_counter() - start


@contextmanager
def reducer_processes(url: str, logs: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``tagfeed reduce NAME`` for each catch-up reducer, stopped at the end."""
    env = {**os.environ, "TAGFEED_DATABASE_URL": url, "TAGFEED_LOG_LEVEL": "warning"}
    processes = []
    try:
        for name in REDUCERS:
            with (logs / f"reduce-{name}.log").open("wb") as out:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "tagfeed", "reduce", name],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        yield processes
    finally:
        for process in processes:
            stop_group(process)


@dataclass(frozen=True)
class Load:
    """What the load generator did: posts asked, answered, failed; how late posts started
    (ms: p50/p99/max); when the first was due (epoch seconds); how long it took."""

    posts: int
    answered: int
    failures: int
    late_ms: dict[str, float]
    epoch_start: float
    took: float


def post_over_http(port: int, args: argparse.Namespace) -> Load:
    posts, start, epoch_start, took = uvloop.run(
        post_at_rate(port, args.rate, args.seconds, args.tags, args.connections)
    )
    total = len(posts.sent)
    late = [(posts.sent[n] - (start + n / args.rate)) * 1000 for n in range(total)]
    return Load(total, len(posts.answered), posts.failures, summary(late), epoch_start, took)


def append_in_process(url: str, args: argparse.Namespace) -> tuple[Load, float]:
    """``bench/appender.py`` (the store's append path, no HTTP; the reducers inside it
    with ``--reducers serve``); returns its load and the CPU seconds it used."""
    env = {**os.environ, "TAGFEED_DATABASE_URL": url, "TAGFEED_LOG_LEVEL": "warning"}
    epoch_start = time.time() + 2.0  # after its start-up
    command = [
        sys.executable, "-m", "bench.appender", "--start", str(epoch_start),
        "--rate", str(args.rate), "--seconds", str(args.seconds), "--tags", str(args.tags),
        *(["--reducers"] if args.reducers == "serve" else []),
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    got = json.loads(done.stdout.splitlines()[-1])  # after any log lines
    load = Load(
        got["posts"], got["answered"], got["failures"], got["late_post_starts_ms"],
        epoch_start, got["took"],
    )  # fmt: skip
    return load, cpu


def session_backends(url: str, names: Sequence[str] = REDUCERS) -> dict[str, int]:
    """On PostgreSQL, reducer name -> pid of the backend applying its batches (on the
    same machine: its CPU is read from /proc), for those of ``names`` that hold their
    lock; {} on SQLite."""
    if url.startswith("sqlite"):
        return {}

    async def fetch() -> dict[str, int]:
        conn = await asyncpg.connect(url)
        try:
            return dict(await conn.fetch(_SESSION_BACKENDS, list(names)))
        finally:
            await conn.close()

    return asyncio.run(fetch())


def measure(url: str, args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    load_before = os.getloadavg()
    os.environ["TAGFEED_RUN_REDUCERS"] = "true" if args.reducers == "serve" else "false"
    with ExitStack() as stack:
        pids, reducers = [], []
        if args.driver == "http":
            server = stack.enter_context(tagfeed_server(url, args.workers, tmp / "server.log"))
            pids.append(server.pid)
        else:
            upgrade(url)  # as serve does at its start
        if args.reducers == "processes":
            reducers = [p.pid for p in stack.enter_context(reducer_processes(url, tmp))]
            pids += reducers
        time.sleep(2)  # the reducers take their leases
        backends = session_backends(url) if reducers else {}
        samples_file = tmp / "samples.json"
        with sampler(url, args.sample_ms / 1000, samples_file):
            cpu, client_cpu = sum(tree_cpu_seconds(pid) for pid in pids), time.process_time()
            reducers_cpu = [tree_cpu_seconds(pid) for pid in reducers]
            backends_cpu = {name: tree_cpu_seconds(pid) for name, pid in backends.items()}
            waited = sum(tree_runqueue_wait_seconds(pid) for pid in pids)
            if args.driver == "http":
                load = post_over_http(int(server.url.rpartition(":")[2]), args)
                appender_cpu = 0.0
            else:
                load, appender_cpu = append_in_process(url, args)
            cpu = sum(tree_cpu_seconds(pid) for pid in pids) - cpu + appender_cpu
            waited = sum(tree_runqueue_wait_seconds(pid) for pid in pids) - waited
            client_cpu = time.process_time() - client_cpu
            time.sleep(3)  # the last batches
            reducers_cpu = [
                tree_cpu_seconds(p) - c for p, c in zip(reducers, reducers_cpu, strict=True)
            ]
            backends_cpu = {
                name: tree_cpu_seconds(backends[name]) - used for name, used in backends_cpu.items()
            }
    samples: list[Sample] = json.loads(samples_file.read_text())
    events = [e for e in recorded(url, 0) if e[1] >= load.epoch_start + args.warmup]
    result: dict[str, object] = {
        "backend": "sqlite" if url.startswith("sqlite") else "postgres",
        "driver": args.driver,
        "reducers": args.reducers,
        "workers": args.workers,
        "rate_asked": args.rate,
        "posts": load.posts,
        "post_rate_reached": round(load.answered / load.took),
        "post_failures": load.failures,
        "late_post_starts_ms": load.late_ms,
        # the server (or the appender) and the reducer processes
        "server_cpu_cores": round(cpu / load.took, 2),
        # its threads' time runnable but without a CPU: what the machine's load took
        # (of the appender: not counted, it is gone before it could be read)
        "server_runqueue_wait_cores": round(waited / load.took, 2),
        "client_cpu_cores": round(client_cpu / load.took, 2),
        "events_measured": len(events),
        # each reducer process's CPU time per event posted (with --reducers processes):
        # what a reducer costs, whatever the machine's load does to the lag
        "reducer_cpu_us_per_event": {
            name: round(used * 1e6 / load.answered, 1)
            for name, used in zip(REDUCERS, reducers_cpu, strict=False)
        },
        # on PostgreSQL, the CPU time of the backend of each reducer's session per event
        # posted: the database's share of a reducer's batches (its statements)
        "database_cpu_us_per_event": {
            name: round(used * 1e6 / load.answered, 1) for name, used in backends_cpu.items()
        },
        "sample_ms": args.sample_ms,
        "samples": len(samples),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    for name in REDUCERS if args.reducers != "none" else ():
        upper, lower = lags(events, samples, name)
        result[f"lag_ms_{name}"] = {
            **summary(upper),
            "lower_bound": summary(lower),
            "not_applied_by_the_end": len(events) - len(upper),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=5000, help="posts per second (open loop)")
    parser.add_argument("--seconds", type=float, default=20, help="of posting")
    parser.add_argument("--warmup", type=float, default=3, help="seconds left out at the start")
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument(
        "--reducers",
        choices=["serve", "processes", "none"],
        default="serve",
        help="where the catch-up reducers run; none: nowhere (a control: the post rate alone)",
    )
    parser.add_argument(
        "--driver",
        choices=["http", "append"],
        default="http",
        help="http: posts to tagfeed serve; append: through the store's append path in one"
        " process without HTTP (bench/appender.py), the reducers inside it with serve",
    )
    parser.add_argument("--sample-ms", type=float, default=2.0)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--pg-url", default=DEFAULT_ADMIN_URL, help="where --postgres creates")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    raise_file_limit()
    with tempfile.TemporaryDirectory(prefix="bench-lag-") as tmp, ExitStack() as stack:
        if args.postgres:
            url = stack.enter_context(postgres_database(args.pg_url, "tagfeed_bench_lag"))
        else:
            url = stack.enter_context(sqlite_database(Path(tmp) / "lag.db"))
        result = measure(url, args, Path(tmp))
    print(json.dumps(result), flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
