"""A first import on SQLite (``store/sqlite_bulk.py``): alone with the file it runs in
rollback-journal mode under an exclusive lock, so no WAL is written; with another
connection open it keeps to WAL. Either way the same database, back in WAL mode, and a
crash leaves the file as it was."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tagfeed.store import sqlite_bulk
from tagfeed.store.port import ImportBatch
from tagfeed.store.sqlite import sqlite_path
from tagfeed.store.sqlite_errors import translate_error
from tests.conftest import migrated_sqlite_url

WAL_HEADER = b"\x02\x02"  # bytes 18-19 of the file: write and read version 2 mean WAL


def rows(count: int, seed: int = 3) -> list[tuple[str, str, str, str, datetime]]:
    """Messages with their own ids, so two imports of them store the same bytes."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    return [
        (
            str(uuid.UUID(int=rng.getrandbits(128))),
            f"message {n}",
            f"tag{rng.randint(1, 7)}",
            f"u{rng.randint(1, 5)}",
            start + timedelta(minutes=rng.randint(0, 5000)),
        )
        for n in range(count)
    ]


def batches(
    messages: list[tuple[str, str, str, str, datetime]],
    size: int,
    during: Callable[[], None] = lambda: None,
) -> Iterator[ImportBatch]:
    """The messages in batches; ``during`` runs once the first batch is handed over,
    inside the import's transaction (the batches are read after it began)."""
    for first in range(0, len(messages), size):
        chunk = messages[first : first + size]
        yield ImportBatch(list(range(first + 1, first + 1 + len(chunk))), chunk)
        if first == 0:
            during()


def load(path: str, source: Iterator[ImportBatch]) -> int:
    return sqlite_bulk.load(
        path, source, lambda number: None, timeout=5.0, synchronous="FULL",
        translate=translate_error,
    )  # fmt: skip


def fetch(path: str, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def content(path: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything an import writes, but the instant it recorded its events at."""
    queries = {
        "events": "SELECT position, event_id, type, version, payload FROM events ORDER BY 1",
        "messages": "SELECT * FROM messages ORDER BY tag, created_at, id",
        "counts": "SELECT * FROM message_counts ORDER BY 1, 2, 3, 4",
        "indexes": "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY 1",
        "by_time": "SELECT id FROM messages ORDER BY created_at DESC, id DESC LIMIT 5",
        "generation": "SELECT * FROM counter_generation",
    }
    return {name: fetch(path, sql) for name, sql in queries.items()}


def in_wal_mode(path: str) -> bool:
    """As the file itself says (its header), and as a new connection finds it."""
    header = Path(path).read_bytes()[18:20]
    return header == WAL_HEADER and fetch(path, "PRAGMA journal_mode") == [("wal",)]


def try_read(path: str) -> str:
    """What a connection opened now (a server starting) gets from a read, not waiting."""
    try:
        with closing(sqlite3.connect(path, timeout=0)) as conn:
            return f"read {conn.execute('SELECT count(*) FROM events').fetchone()[0]}"
    except sqlite3.OperationalError as exc:
        return str(exc)


def fresh(directory: Path) -> str:
    directory.mkdir()
    return sqlite_path(migrated_sqlite_url(directory))


def test_alone_with_the_file_it_writes_no_wal_and_holds_the_file_until_done(
    tmp_path: Path,
) -> None:
    path = fresh(tmp_path / "alone")
    seen: dict[str, object] = {}

    def look() -> None:
        seen["journal"] = os.path.exists(path + "-journal")
        seen["wal"] = os.path.exists(path + "-wal")
        seen["another connection"] = try_read(path)

    assert load(path, batches(rows(300), 100, look)) == 300
    assert seen == {"journal": True, "wal": False, "another connection": "database is locked"}
    assert in_wal_mode(path)
    assert not os.path.exists(path + "-journal")
    assert try_read(path) == "read 300"


def test_with_another_connection_open_it_keeps_to_wal_and_reads_go_on(tmp_path: Path) -> None:
    path = fresh(tmp_path / "shared")
    seen: dict[str, object] = {}
    with closing(sqlite3.connect(path, timeout=0)) as server:
        server.execute("SELECT count(*) FROM events").fetchall()  # open, as a server's is

        def look() -> None:
            seen["journal"] = os.path.exists(path + "-journal")
            seen["another connection"] = try_read(path)

        assert load(path, batches(rows(300), 100, look)) == 300
        assert server.execute("SELECT count(*) FROM messages").fetchone()[0] == 300
    assert seen == {"journal": False, "another connection": "read 0"}
    assert in_wal_mode(path)


def test_both_paths_store_the_same_database(tmp_path: Path) -> None:
    messages = rows(2_000, seed=11)
    alone = fresh(tmp_path / "alone")
    assert load(alone, batches(messages, 300)) == 2_000
    shared = fresh(tmp_path / "shared")
    with closing(sqlite3.connect(shared)) as server:
        server.execute("SELECT 1 FROM events").fetchall()
        assert load(shared, batches(messages, 300)) == 2_000
    assert content(alone) == content(shared)
    assert len(content(alone)["messages"]) == 2_000


def test_an_import_that_fails_alone_leaves_the_file_empty_and_in_wal_mode(
    tmp_path: Path,
) -> None:
    path = fresh(tmp_path / "failing")
    before = content(path)

    def fail() -> None:
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke"):
        load(path, batches(rows(300), 100, fail))
    assert content(path) == before
    assert in_wal_mode(path)
    assert not os.path.exists(path + "-journal")


# A child that imports standard input with a page cache of 1 MiB instead of 256, so that
# pages spill into the file (past its size before the import) well before the kill.
_SMALL_CACHE_IMPORT = (
    "import sys; from tagfeed.store import sqlite_bulk; sqlite_bulk._CACHE_KIB = 1024;"
    "from tagfeed.cli import main; sys.exit(main(['import', '-']))"
)


def test_a_killed_import_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    """SIGKILL mid-import: the hot journal left beside the file holds its pages as they
    were, and the next connection to open the file rolls it back (and truncates what the
    import had grown it by); the next migration (``serve``'s, ``migrate``'s) sets WAL."""
    url = migrated_sqlite_url(tmp_path)
    path = sqlite_path(url)
    before, size = content(path), os.path.getsize(path)
    env = {**os.environ, "TAGFEED_DATABASE_URL": url, "TAGFEED_MIGRATE_ON_START": "false"}
    child = subprocess.Popen(
        [sys.executable, "-c", _SMALL_CACHE_IMPORT],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert child.stdin is not None
    line = '{"text": "hi %d", "tag": "t%d", "user_id": "u", "created_at": "2026-03-01T00:00:00Z"}\n'
    sent, deadline = 0, time.monotonic() + 60
    while os.path.getsize(path) <= size + 2**20:  # the import has written past the old end
        assert time.monotonic() < deadline, "the import never grew the file"
        child.stdin.write("".join(line % (n, n % 50) for n in range(sent, sent + 5_000)).encode())
        child.stdin.flush()
        sent += 5_000
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    with suppress(BrokenPipeError):
        child.stdin.close()
    assert os.path.exists(path + "-journal"), "a hot journal is left behind"

    assert content(path) == before  # this first open rolled the journal back
    assert not os.path.exists(path + "-journal")
    assert os.path.getsize(path) == size
    assert fetch(path, "PRAGMA journal_mode") == [("delete",)]  # as the import had set it
    migrated = subprocess.run(
        [sys.executable, "-m", "tagfeed", "migrate"], env=env, capture_output=True, check=False
    )
    assert migrated.returncode == 0, migrated.stderr
    assert in_wal_mode(path)
    assert load(path, batches(rows(100), 50)) == 100
