"""Rebuild rates (docs/performance.md, "Rebuild"):

    python -m bench.rebuild [--messages 1000000] [--backend sqlite|postgres|both]
                            [--views messages,counts,tags,trending] [--before REV] [--rounds N]

Loads the benchmark's data set (``bench/dataset.py``) with ``tagfeed import`` into a fresh
SQLite file and a fresh PostgreSQL database (``tagfeed_bench_rebuild``, dropped at the
end), rebuilds ``tags`` and ``trending`` once so that every view has a live table to swap
out, then times ``tagfeed rebuild VIEW`` for each view, each a process of its own: the
rebuild's own seconds (as the command prints them), events/s, the process's CPU seconds
(user + system: on a shared machine, less noisy than the wall clock) and its peak RSS.

``--before REV``: the same rebuilds by the code of git revision REV too (its ``src/``
extracted into a temporary folder and run with this interpreter: the two must share
their migrations), in turn with this tree's, view by view (the order swapped every round),
so each pair is measured back to back; ``x`` is after / before in events/s.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bench.database import DEFAULT_ADMIN_URL, postgres_database, sqlite_database
from bench.dataset import ensure_dataset

CACHE = Path(os.environ.get("TAGFEED_BENCH_CACHE", Path.home() / ".cache" / "tagfeed-bench"))
VIEWS = ("messages", "counts", "tags", "trending")
PG_NAME = "tagfeed_bench_rebuild"
_REBUILT = re.compile(r"rebuilt \S+ up to position (\d+) in ([\d.]+) s")


@dataclass(frozen=True)
class Run:
    output: str
    cpu: float  # seconds, user + system
    rss_mib: float  # peak


def _run(env: dict[str, str], *args: str, src: Path | None = None) -> Run:
    """``python -m tagfeed ARGS``, from ``src`` if given."""
    if src is not None:
        env = {**env, "PYTHONPATH": str(src)}
    child = subprocess.Popen(
        [sys.executable, "-m", "tagfeed", *args], env=env, stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    output = child.stdout.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"`tagfeed {' '.join(args)}` exited {child.returncode}: {output}")
    return Run(output, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def parse_rebuilt(output: str) -> tuple[int, float]:
    """The position and the seconds ``tagfeed rebuild`` printed."""
    found = _REBUILT.search(output)
    if found is None:
        raise RuntimeError(f"cannot read the rebuild's output: {output!r}")
    return int(found[1]), float(found[2])


@contextmanager
def _source_of(revision: str) -> Iterator[Path]:
    """``src/`` of git revision ``revision`` in a temporary folder."""
    git, tar = shutil.which("git"), shutil.which("tar")
    if git is None or tar is None:
        raise SystemExit("bench: --before needs git and tar")
    with tempfile.TemporaryDirectory(prefix="tagfeed-before-") as folder:
        archive = subprocess.run([git, "archive", revision, "src"], capture_output=True, check=True)
        subprocess.run([tar, "-x", "-C", folder], input=archive.stdout, check=True)
        yield Path(folder) / "src"


def _load(env: dict[str, str], dataset: Path) -> None:
    started = time.perf_counter()
    _run(env, "migrate")
    _run(env, "import", str(dataset))
    for name in ("tags", "trending"):  # a live table to swap out, as in production
        _run(env, "rebuild", name)
    print(f"  loaded in {time.perf_counter() - started:.0f} s", flush=True)


def _measure(env: dict[str, str], views: list[str], before: Path | None, rounds: int) -> None:
    sides: list[tuple[str, Path | None]] = [("before", before)] if before else []
    sides.append(("after", None))
    for view in views:
        for round_ in range(rounds):
            line = f"  {view:9} load {os.getloadavg()[0]:4.1f}"
            rates = {}
            for label, src in sides if round_ % 2 == 0 else sides[::-1]:
                run = _run(env, "rebuild", view, src=src)
                events, seconds = parse_rebuilt(run.output)
                rates[label] = events / seconds
                line += (
                    f" | {label} {seconds:6.2f} s {events / seconds:9,.0f}/s"
                    f" cpu {run.cpu:5.1f} s {run.rss_mib:5.0f} MiB"
                )
            if before:
                line += f" | x {rates['after'] / rates['before']:.2f}"
            print(line, flush=True)


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so that the database and files are removed


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.rebuild",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--views", default=",".join(VIEWS), help="comma-separated")
    parser.add_argument("--before", metavar="REV", help="also rebuild with git revision REV")
    parser.add_argument("--rounds", type=int, default=1, help="pairs per view")
    parser.add_argument("--pg-url", default=DEFAULT_ADMIN_URL, help="an admin URL")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop)
    views = args.views.split(",")
    info = ensure_dataset(CACHE, args.messages, seed=1, today=date.today())
    base = {**os.environ, "TAGFEED_LOG_LEVEL": "warning", "TAGFEED_RUN_REDUCERS": "false"}
    with ExitStack() as stack:
        before = stack.enter_context(_source_of(args.before)) if args.before else None
        urls = []
        if args.backend in ("sqlite", "both"):
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            urls.append(stack.enter_context(sqlite_database(folder / "rebuild.db")))
        if args.backend in ("postgres", "both"):
            urls.append(stack.enter_context(postgres_database(args.pg_url, PG_NAME)))
        for url in urls:
            env = {**base, "TAGFEED_DATABASE_URL": url}
            print(f"{url.partition(':')[0]}, {args.messages:,} events", flush=True)
            _load(env, info.path)
            _measure(env, views, before, args.rounds)


if __name__ == "__main__":
    main()
