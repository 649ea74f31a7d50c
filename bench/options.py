"""The command line of ``python -m bench.run``, read into one typed object."""

import argparse
from dataclasses import dataclass
from pathlib import Path

from bench.database import DEFAULT_ADMIN_URL
from bench.scenarios import BY_NAME, PGBENCH, POSTGRES_ONLY, SCENARIOS, SQLITE_ONLY

BENCH_DIR = Path(__file__).parent
QUICK_MESSAGES = 100_000


@dataclass(frozen=True)
class Options:
    backend: str
    workers: int
    messages: int
    runs: int
    duration: float
    warmup: float
    connections: int
    threads: int
    scenarios: tuple[str, ...]  # in sweep order
    quick: bool
    also_workers: int  # 0: no scaling step
    profile: str | None
    seed: int
    ids: int
    pg_url: str
    results_dir: Path
    cache_dir: Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark tagfeed serve with wrk against an nginx ceiling and a bare peer "
        "(see docs/performance.md).",
    )
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    p.add_argument("--messages", type=int, help="data set size (default 1,000,000)")
    p.add_argument("--large", action="store_true", help="10,000,000 messages")
    p.add_argument("--runs", type=int, help="sweeps; each figure is their median (default 3)")
    p.add_argument("--duration", type=float, help="seconds per measured run (default 10)")
    p.add_argument("--warmup", type=float, help="seconds of warm-up before each (default 2)")
    p.add_argument("--connections", type=int, default=64, help="wrk -c (default 64)")
    p.add_argument("--threads", type=int, default=1, help="wrk -t (default 1)")
    p.add_argument(
        "--scenarios",
        help="comma-separated subset, in any order; of: " + ", ".join(BY_NAME),
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="100k messages, 1 run, 3 s runs, no chart: about 1-2 minutes",
    )
    p.add_argument(
        "--also-workers",
        type=int,
        help="then repeat POST and GET by id with this many workers and report the scaling "
        "(default 2; 0 or --quick: skip)",
    )
    p.add_argument(
        "--profile",
        nargs="?",
        const="post_random",
        metavar="SCENARIO",
        help="py-spy flame graph of the server during SCENARIO (default post_random)",
    )
    p.add_argument("--seed", type=int, default=1, help="data set and request seed (default 1)")
    p.add_argument("--ids", type=int, help="ids collected for GET by id (default 50,000)")
    p.add_argument(
        "--pg-url",
        default=DEFAULT_ADMIN_URL,
        help="a PostgreSQL database to connect to in order to create and drop the "
        f"tagfeed_bench* databases (default {DEFAULT_ADMIN_URL})",
    )
    p.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    p.add_argument("--cache-dir", type=Path, default=BENCH_DIR / ".cache")
    return p


def parse_options(argv: list[str] | None = None) -> Options:
    parser = _parser()
    a = parser.parse_args(argv)
    quick = bool(a.quick)
    defaults = [s.name for s in SCENARIOS if s.default]
    names = [n.strip() for n in a.scenarios.split(",")] if a.scenarios else defaults
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    if a.backend != "postgres":
        # pgbench and the PostgreSQL floor measure PostgreSQL
        names = [n for n in names if n != PGBENCH and BY_NAME[n].target not in POSTGRES_ONLY]
    else:  # the floor apps read the bench's SQLite file
        names = [n for n in names if BY_NAME[n].target not in SQLITE_ONLY]
    chosen = tuple(s.name for s in SCENARIOS if s.name in names)
    if a.profile is not None and a.profile not in chosen:
        parser.error(f"--profile {a.profile}: not one of the scenarios run")
    messages = a.messages or (10_000_000 if a.large else QUICK_MESSAGES if quick else 1_000_000)
    options = Options(
        backend=a.backend,
        workers=a.workers,
        messages=messages,
        runs=a.runs or (1 if quick else 3),
        duration=a.duration or (3.0 if quick else 10.0),
        warmup=a.warmup if a.warmup is not None else (1.0 if quick else 2.0),
        connections=a.connections,
        threads=a.threads,
        scenarios=chosen,
        quick=quick,
        also_workers=a.also_workers if a.also_workers is not None else (0 if quick else 2),
        profile=a.profile,
        seed=a.seed,
        ids=a.ids or (20_000 if quick else 50_000),
        pg_url=a.pg_url,
        results_dir=a.results_dir,
        cache_dir=a.cache_dir,
    )
    if min(options.workers, options.runs, options.connections, options.threads) < 1:
        parser.error("--workers, --runs, --connections and --threads must be at least 1")
    return options
