"""What the database work of a tag page costs by how its JSON is made, on one bench
database, without HTTP or an app: CPU µs per statement, alternated in rounds, medians.

    python -m bench.page_sql --db bench/.cache/inproc/t100k.db [--rounds 5] [--calls 2000]

The forms: tagfeed's statement (SQLite writes each message's JSON, formatting its instant);
the floor's (the same work, no time-zone arithmetic); the rows' columns as arrays (no
instant formatting); the 51 rows fetched as tuples (no JSON); and each message's JSON
stored beside its columns, the page one concatenation of stored bytes. The last needs a
copy of the tag's messages with that column (``bench/floor_store.py``): made in a
temporary copy of ``--db``, which is not changed.
"""

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.dataset import HOT_TAG
from bench.floor_store import PAGE_SQL, STORED_FILL, STORED_PAGE_SQL, STORED_SCHEMA
from tagfeed.domain.pagination import PageRequest
from tagfeed.domain.queries import MessageFilter
from tagfeed.store.sqlite import page_json_query

_NEWEST_51 = "FROM messages WHERE tag = ? ORDER BY created_at DESC, id DESC LIMIT 51"


def forms(tag: str) -> dict[str, tuple[str, tuple[object, ...]]]:
    tagfeed, params = page_json_query(MessageFilter(tag=tag), PageRequest(50))
    return {
        "tagfeed: SQLite writes the JSON": (tagfeed, tuple(params)),
        "floor: the same, simpler instant": (PAGE_SQL, (tag, 51)),
        "arrays of the columns, no instants": (
            "SELECT json_group_array(json_array(id, text, tag, user_id, created_at))"
            f" FROM (SELECT * {_NEWEST_51})",
            (tag,),
        ),
        "the 51 rows as tuples, no JSON": (
            f"SELECT id, text, tag, user_id, created_at {_NEWEST_51}",
            (tag,),
        ),
        "stored JSON, concatenated": (STORED_PAGE_SQL, (tag, 51)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.page_sql", description=__doc__)
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--tag", default=HOT_TAG)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=2000)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="page-sql-") as scratch:
        copy = Path(scratch) / "copy.db"
        shutil.copy(args.db, copy)
        with sqlite3.connect(copy) as conn:
            conn.execute(STORED_SCHEMA)
            conn.execute(STORED_FILL, (args.tag,))
        read = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        cases = forms(args.tag)
        spent: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, (sql, params) in cases.items():
                started = time.process_time()
                for _ in range(args.calls):
                    read.execute(sql, params).fetchall()
                spent[name].append((time.process_time() - started) / args.calls * 1e6)
        read.close()
    for name, runs in spent.items():
        each = ", ".join(f"{r:.0f}" for r in runs)
        print(f"{name:<36} {statistics.median(runs):7.1f} µs  (rounds: {each})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
