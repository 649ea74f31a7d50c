"""What PostgreSQL itself achieves on this machine: ``pgbench`` running a one-row INSERT per
transaction into a scratch table, with as many clients as wrk has connections. tagfeed's
POST budget on PostgreSQL is a fraction of this figure, measured in the same run."""

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.database import admin, postgres_database

TABLE = """CREATE TABLE bench_insert (
    id bigserial PRIMARY KEY, text text, tag text, user_id text,
    created_at timestamptz DEFAULT now())"""
SCRIPT = """\\set n random(1, 10000)
INSERT INTO bench_insert (text, tag, user_id)
  VALUES ('alpha bravo charlie delta #' || :n, 'tag' || lpad(:n::text, 5, '0'), 'u0001');
"""
PGBENCH_PATHS = ("/usr/lib/postgresql/15/bin/pgbench",)


class PgbenchError(RuntimeError):
    """pgbench failed, or printed no tps."""


@dataclass(frozen=True)
class PgbenchResult:
    tps: float
    latency_ms: float  # the mean: pgbench prints no percentiles without per-transaction logs
    failed: int


def find_pgbench() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    return next((p for p in PGBENCH_PATHS if Path(p).exists()), None)


def parse_pgbench_output(output: str) -> PgbenchResult:
    tps = re.search(r"^tps = ([\d.]+)", output, re.MULTILINE)
    if tps is None:
        raise PgbenchError("pgbench printed no tps:\n" + output[-2000:])
    latency = re.search(r"^latency average = ([\d.]+) ms", output, re.MULTILINE)
    failed = re.search(r"^number of failed transactions: (\d+)", output, re.MULTILINE)
    return PgbenchResult(
        tps=float(tps[1]),
        latency_ms=float(latency[1]) if latency else float("nan"),
        failed=int(failed[1]) if failed else 0,
    )


@contextmanager
def pgbench_database(admin_url: str, name: str = "tagfeed_bench_pgbench") -> Iterator[str]:
    """A scratch database holding the empty ``bench_insert`` table; dropped on exit."""
    with postgres_database(admin_url, name) as url:
        admin(url, TABLE)
        yield url


def run_pgbench(url: str, *, clients: int, seconds: float) -> PgbenchResult | None:
    """``pgbench -n -c clients -j 1 -T seconds`` of one INSERT against ``url``; None when
    the run was too short to finish a transaction (connecting 64 clients takes a while)."""
    pgbench = find_pgbench()
    if pgbench is None:
        raise PgbenchError(
            "pgbench not found (Debian ships it with the server: apt-get install postgresql-15)"
        )
    parts = urlsplit(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="bench-") as script:
        script.write(SCRIPT)
        script.flush()
        command = [
            pgbench,
            "-n",
            f"-c{clients}",
            "-j1",
            f"-T{max(1, round(seconds))}",
            "-f",
            script.name,
            "-h",
            parts.hostname or "127.0.0.1",
            "-p",
            str(parts.port or 5432),
            "-U",
            parts.username or "postgres",
            parts.path.lstrip("/"),
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    if done.returncode != 0:
        raise PgbenchError(f"pgbench exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    if "number of transactions actually processed: 0" in done.stdout:
        return None
    return parse_pgbench_output(done.stdout)
