"""What a trending batch costs the database, apart from the reducer process and the log:
bench-like batches (``--events`` posts over ``--tags`` tags, the clock moving every
``--hour-every`` batches) applied through the view's own applier on a fresh database,
each in its transaction, as ``tagfeed reduce trending`` applies them.

    python -m bench.trending_probe --postgres   # a database tagfeed_bench_trending_probe
    python -m bench.trending_probe              # an SQLite file in a temporary folder

Prints, per batch: the CPU of the PostgreSQL backend (read from /proc: the server must be
on this machine) and the WAL it wrote, or on SQLite the CPU of this process (the
statements run in it); and, on PostgreSQL, the share of the table's updates that were HOT
(the server's statistics of the table, with this backend's not yet reported).
docs/performance.md, "Reducer lag, fourth pass".
"""

import argparse
import asyncio
import json
import random
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

import asyncpg

from bench.database import DEFAULT_ADMIN_URL, postgres_database
from bench.proc import tree_cpu_seconds
from tagfeed.reducers import trending
from tagfeed.store import postgres_views, sqlite_views
from tagfeed.store.migrate import upgrade
from tagfeed.store.trending_views import TABLE

FIRST_HOUR = 495_000  # hours since the epoch: November 2026
# The table's updates, all and HOT: those the server has (pg_stat_user_tables, read anew)
# and those this backend has not reported yet (the pg_stat_get_xact_* counters).
_UPDATES = """SELECT n_tup_upd + pg_stat_get_xact_tuples_updated(relid),
    n_tup_hot_upd + pg_stat_get_xact_tuples_hot_updated(relid)
    FROM pg_stat_user_tables WHERE relname = $1"""


def batches(args: argparse.Namespace) -> list[trending.HourCounts]:
    rng = random.Random(1)
    return [
        Counter(
            (f"tag{rng.randrange(args.tags)}", FIRST_HOUR + n // args.hour_every)
            for _ in range(args.events)
        )
        for n in range(args.batches)
    ]


async def on_postgres(url: str, args: argparse.Namespace) -> dict[str, float]:
    conn = await asyncpg.connect(url, server_settings={"synchronous_commit": "off"})
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        wal = await conn.fetchval("SELECT pg_current_wal_insert_lsn()")
        cpu = tree_cpu_seconds(backend)
        for counts in batches(args):
            async with conn.transaction():
                await postgres_views.APPLIERS[trending.NAME](conn, counts, TABLE)
        cpu = tree_cpu_seconds(backend) - cpu
        wal_bytes = await conn.fetchval("SELECT pg_current_wal_insert_lsn() - $1::pg_lsn", wal)
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        updated, hot = await conn.fetchrow(_UPDATES, TABLE)
    finally:
        await conn.close()
    return {
        "backend_cpu_ms_per_batch": round(cpu * 1000 / args.batches, 2),
        "wal_kb_per_batch": round(float(wal_bytes) / 1024 / args.batches, 1),
        "hot_share_of_updates": round(hot / updated, 3) if updated else 0.0,
    }


def on_sqlite(path: Path, args: argparse.Namespace) -> dict[str, float]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = NORMAL")  # as a reducer's session
        work = batches(args)
        cpu = time.process_time()
        for counts in work:
            conn.execute("BEGIN")
            sqlite_views.APPLIERS[trending.NAME](conn, counts, TABLE)
            conn.execute("COMMIT")
        cpu = time.process_time() - cpu
    finally:
        conn.close()
    return {"process_cpu_ms_per_batch": round(cpu * 1000 / args.batches, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--events", type=int, default=250, help="posts a batch")
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--hour-every", type=int, default=100, help="batches an hour")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--pg-url", default=DEFAULT_ADMIN_URL, help="where --postgres creates")
    args = parser.parse_args()
    if args.postgres:
        with postgres_database(args.pg_url, "tagfeed_bench_trending_probe") as url:
            upgrade(url)
            figures = asyncio.run(on_postgres(url, args))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "probe.db"
            upgrade(f"sqlite:///{path}")
            figures = on_sqlite(path, args)
    print(json.dumps({**vars(args), **figures}))


if __name__ == "__main__":
    main()
