"""The benchmark, end to end: data set → fresh database → ``tagfeed import`` → server →
request files → sweeps of every scenario (with the nginx ceiling, and pgbench on
PostgreSQL) → a scaling step with more workers → report.

Every process started here is stopped on the way out, on success, error or Ctrl-C, and the
bench's databases are dropped. ``python -m bench.run --help`` lists the options;
docs/performance.md explains the method.
"""

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bench import database
from bench.budgets import budget_for, verdict
from bench.dataset import HOT_TAG, DatasetInfo, ensure_dataset
from bench.options import Options, parse_options
from bench.pgbench import find_pgbench, pgbench_database
from bench.proc import RssSampler
from bench.report import Memory, Report, Row, Scaling, console, write
from bench.scenarios import (
    BY_NAME,
    FLOOR,
    FLOOR_PG,
    FLOOR_PG_LOG,
    FLOOR_RSGI,
    FLOOR_STORED,
    GET_BY_ID,
    NGINX,
    PEER,
    PEER_OF,
    PEER_RSGI,
    PGBENCH,
    POST_RANDOM,
    floor_of,
    write_request_files,
)
from bench.servers import Running, app_server, nginx_server, peer_server, tagfeed_server
from bench.stats import Sample, median, summarize
from bench.sweeps import Sweeps, Targets, wrk_sample
from tagfeed.store.sqlite import sqlite_path


def missing_tools(options: Options) -> list[str]:
    """Debian packages to install for what this run needs."""
    missing = []
    if shutil.which("wrk") is None:
        missing.append("wrk")
    has_nginx = shutil.which("nginx") or Path("/usr/sbin/nginx").exists()
    if NGINX in options.scenarios and not has_nginx:
        missing.append("nginx-light")
    if PGBENCH in options.scenarios and find_pgbench() is None:
        missing.append("postgresql-15")  # Debian ships pgbench with the server
    return missing


def _short(n: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def result_stem(options: Options, day: str) -> Path:
    """bench/results/<day>-<backend>[-<messages>][-w<workers>]; quick runs go to the cache."""
    suffix = "" if options.messages == 1_000_000 else f"-{_short(options.messages)}"
    suffix += "" if options.workers == 1 else f"-w{options.workers}"
    directory = options.cache_dir / "quick" if options.quick else options.results_dir
    return directory / f"{day}-{options.backend}{suffix}"


@contextmanager
def _database(options: Options, work: Path) -> Iterator[str]:
    if options.backend == "sqlite":
        with database.sqlite_database(work / "tagfeed.db") as url:
            yield url
    else:
        with database.postgres_database(options.pg_url, "tagfeed_bench") as url:
            yield url


def _commit() -> str:
    def git(*args: str) -> str:
        command = ["git", *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("-dirty" if git("status", "--porcelain", "--", "src") else "")


def _scaling(options: Options, url: str, files: dict[str, Path], work: Path) -> Scaling | None:
    """POST and GET by id again, ``options.runs`` times each, with ``options.also_workers``
    workers on the same database."""
    names = [n for n in (POST_RANDOM, GET_BY_ID) if n in options.scenarios]
    if not options.also_workers or not names:
        return None
    workers = options.also_workers
    many: dict[str, float] = {}
    cores: dict[str, tuple[float, float]] = {}
    print(f"bench: scaling step with {workers} workers", flush=True)
    log = work / f"server-w{workers}.log"
    with tagfeed_server(url, workers, log) as server, RssSampler(server.pid) as rss:
        for name in names:
            rss.phase(name)
            requests = files[BY_NAME[name].requests]
            runs = [wrk_sample(server, requests, options) for _ in range(options.runs)]
            many[name] = median([s.rps for s in runs]) or 0.0
            cores[name] = _cores(runs)
            print(f"  {workers} workers {name:<16} {many[name]:>9,.0f}/s", flush=True)
        peak = max(rss.peaks.values(), default=0.0)
        worker = max(rss.worker_peaks.values(), default=0.0)
    return Scaling(workers, {}, many, peak, cpu_many=cores, worker_rss_max_mb=worker)


def _cores(runs: list[Sample]) -> tuple[float, float]:
    """Median cores busy in the server and in the whole machine over ``runs``."""
    server = median([s.server_cpu for s in runs if s.server_cpu is not None]) or 0.0
    machine = median([s.machine_cpu for s in runs if s.machine_cpu is not None]) or 0.0
    return server, machine


def _report(
    options: Options,
    sweeps: Sweeps,
    meta: dict[str, object],
    memory: Memory,
    scaling: Scaling | None,
) -> Report:
    samples = sweeps.samples
    nginx, get = samples.get(NGINX), samples.get(GET_BY_ID)
    summaries = [
        summarize(
            name,
            BY_NAME[name].title,
            samples[name],
            nginx,
            None if name == GET_BY_ID else get,
            samples.get(PEER_OF.get(name, "")),
            samples.get(floor_of(name, options.backend) or ""),
        )
        for name in options.scenarios
        if samples[name]
    ]
    by_name = {s.name: s for s in summaries}
    get_rps = by_name[GET_BY_ID].rps if GET_BY_ID in by_name else None
    pg_tps = by_name[PGBENCH].rps if PGBENCH in by_name else None
    rows = []
    for summary in summaries:
        budget = budget_for(summary.name, options.backend)
        rows.append(Row(summary, budget, verdict(budget, summary, get_rps, pg_tps)))
    if scaling is not None:
        one = {name: by_name[name].rps for name in scaling.rps_many}
        cpu_one = {name: _cores(samples[name]) for name in scaling.rps_many}
        scaling = Scaling(
            scaling.workers,
            one,
            scaling.rps_many,
            scaling.rss_max_mb,
            cpu_one=cpu_one,
            cpu_many=scaling.cpu_many,
            worker_rss_max_mb=scaling.worker_rss_max_mb,
        )
    return Report(meta, rows, memory, scaling, sweeps.notes)


def _meta(options: Options, dataset: DatasetInfo, started: datetime) -> dict[str, object]:
    return {
        "date": started.date().isoformat(),
        "started_at": started.isoformat(timespec="seconds"),
        "backend": options.backend,
        "workers": options.workers,
        "messages": options.messages,
        "seed": options.seed,
        "runs": options.runs,
        "duration_s": options.duration,
        "warmup_s": options.warmup,
        "connections": options.connections,
        "threads": options.threads,
        "quick": options.quick,
        "commit": _commit(),
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg()[0],
        "tagfeed_env": {
            k: v for k, v in os.environ.items() if k.startswith("TAGFEED_") and "URL" not in k
        },
        "dataset": dataset.to_json(),
    }


def run(options: Options) -> Report:
    """The whole benchmark; raises if a server dies or a tool fails."""
    started = datetime.now(UTC)
    clock = time.monotonic()
    work = options.cache_dir / f"run-{options.backend}-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    print(f"bench: data set of {options.messages:,} messages", flush=True)
    cache = options.cache_dir / "datasets"
    dataset = ensure_dataset(cache, options.messages, options.seed, started.date())
    meta = _meta(options, dataset, started)
    sweeps = Sweeps(options, {}, result_stem(options, str(meta["date"])))
    with _database(options, work) as url:
        print(f"bench: importing into a fresh {options.backend} database", flush=True)
        seconds = database.load(url, dataset.path, work / "import.log")
        meta["import_s"] = round(seconds, 1)
        meta["import_rate"] = round(options.messages / seconds) if seconds else None
        print(f"bench: imported in {seconds:.1f} s; rebuilding the catch-up views", flush=True)
        rebuilt = database.catch_up_views(url, work / "import.log")
        meta["rebuild_s"] = {view: round(s, 1) for view, s in rebuilt.items()}
        print(f"bench: rebuilt {meta['rebuild_s']} (seconds); serving", flush=True)
        with ExitStack() as stack:
            server = stack.enter_context(tagfeed_server(url, options.workers, work / "server.log"))
            rss = stack.enter_context(RssSampler(server.pid))
            rss.phase("prepare")
            sweeps.files = write_request_files(
                work / "requests", server.url, dataset, options.ids, options.seed
            )
            nginx = None
            if NGINX in options.scenarios:
                nginx = stack.enter_context(nginx_server(options.workers, work / "nginx.log"))
            peer = None
            if any(BY_NAME[name].target == PEER for name in options.scenarios):
                peer = stack.enter_context(peer_server(options.workers, work / "peer.log"))
            others = _others(options, url, work, stack)
            pgbench_url = None
            if PGBENCH in options.scenarios:
                pgbench_url = stack.enter_context(pgbench_database(options.pg_url))
            print(f"bench: {options.runs} sweep(s) of {len(options.scenarios)} scenarios")
            sweeps.run(Targets(server, nginx, pgbench_url, peer, others), rss)
            memory = Memory.of(rss, sweeps.sweep_end_mb)
        scaling = _scaling(options, url, sweeps.files, work)
    meta["elapsed_s"] = round(time.monotonic() - clock, 1)
    meta["loadavg_end"] = os.getloadavg()[0]
    sweeps.notes.extend(_tidy(work))
    return _report(options, sweeps, meta, memory, scaling)


# The floor and RSGI apps: (granian target, interface, whether it opens the database).
_APPS = {
    FLOOR: ("bench.floor:app", "asgi", True),
    PEER_RSGI: ("bench.rsgi_apps:peer", "rsgi", False),
    FLOOR_RSGI: ("bench.rsgi_apps:floor", "rsgi", True),
    FLOOR_STORED: ("bench.floor:app", "asgi", True),
    FLOOR_PG: ("bench.floor_pg:app", "asgi", True),
    FLOOR_PG_LOG: ("bench.floor_pg:log_app", "asgi", True),
}


def _others(options: Options, url: str, work: Path, stack: ExitStack) -> dict[str, Running]:
    """The floor and RSGI apps the chosen scenarios need, started on the bench's SQLite
    file (the floor's posts go to a file of their own, one per app), or for the
    PostgreSQL floors in the bench's database (a table of its own) or, the one writing
    tagfeed's log, in a database of its own."""
    wanted = {BY_NAME[name].target for name in options.scenarios} & _APPS.keys()
    started = {}
    for kind in sorted(wanted):
        target, interface, opens_database = _APPS[kind]
        env = {}
        if kind == FLOOR_PG:
            env["BENCH_FLOOR_PG_URL"] = url
        elif kind == FLOOR_PG_LOG:
            # A log of its own: the served tagfeed's reducers must not fold its events
            # (on the same cores, while it is measured). Empty at the start, so its
            # indexes are shallower than the 1M-message database's: if anything, a
            # floor on the high side.
            floor_log = stack.enter_context(
                database.postgres_database(options.pg_url, "tagfeed_bench_floor_log")
            )
            database.migrate(floor_log, work / f"{kind}-migrate.log")
            env["BENCH_FLOOR_PG_URL"] = floor_log
        elif opens_database:
            env["BENCH_FLOOR_DATABASE"] = sqlite_path(url)
            env["BENCH_FLOOR_WRITES"] = str(work / f"{kind}-writes.db")
        if kind == FLOOR_STORED:
            env["BENCH_FLOOR_STORED_TAG"] = HOT_TAG
        log = work / f"{kind}.log"
        started[kind] = stack.enter_context(
            app_server(target, interface, options.workers, log, env)
        )
    return started


def _tidy(work: Path) -> list[str]:
    """Remove the run's scratch files but keep any server log that has something to say
    (the server logs warnings and errors only); a failed run keeps everything."""
    shutil.rmtree(work / "requests", ignore_errors=True)
    notes = []
    for log in sorted(work.glob("server*.log")):
        lines = log.read_text(errors="replace").splitlines()
        if lines:
            notes.append(f"{log.name}: {len(lines)} line(s) kept in {log}; first: {lines[0]:.300}")
    if not notes:
        shutil.rmtree(work, ignore_errors=True)
    return notes


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    missing = missing_tools(options)
    if missing:
        command = f"apt-get install -y {' '.join(missing)}"
        print(f"bench: missing tools; install them with:\n  {command}", file=sys.stderr)
        return 2
    if not database.import_available():
        print("bench: this tagfeed has no `tagfeed import` command", file=sys.stderr)
        return 2
    report = run(options)
    stem = result_stem(options, str(report.meta["date"]))
    paths = write(report, stem)
    if not options.quick:
        from bench.chart import write_chart

        paths.append(write_chart(report, stem.with_suffix(".png")))
    print(console(report))
    print(f"bench: {report.meta['elapsed_s']} s; wrote " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
