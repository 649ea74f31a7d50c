"""The database work any design of tagfeed must do for its hot routes, and nothing else:
what the "floor" apps (``bench/floor.py`` on ASGI, ``bench/rsgi_apps.py`` on RSGI) call.

- GET by id: one point lookup by id in the bench's 1M-message SQLite file, the row
  encoded by SQLite as the contract's JSON message (one statement step).
- Tag page: the newest ``limit + 1`` messages of a tag (the extra one says whether there
  is a next page), as one JSON array written by SQLite: the statement shape tagfeed uses.
- POST: one insert per message into a messages table of the same schema in a file of its
  own (so tagfeed's views and counters stay as imported), committed with
  ``synchronous=FULL`` in WAL mode by one writer thread that commits whatever is waiting
  in one transaction (group commit); each answer waits for its commit.

No validation beyond what the encoding needs, no identity, no log, no metrics, no cursor
(the apps' next-page link is a fixed string): a floor, not an implementation. The instants
are the bench's (after 1970), so SQLite's ``%`` needs no flooring here.
"""

import asyncio
import os
import queue
import sqlite3
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import msgspec

_INSTANT = (
    "strftime('%Y-%m-%dT%H:%M:%S', created_at / 1000000, 'unixepoch')"
    " || printf('.%06dZ', created_at % 1000000)"
)
WIRE_MESSAGE = (
    f"json_object('id', id, 'text', text, 'tag', tag, 'user_id', user_id, 'created_at', {_INSTANT})"
)
_GET = f"SELECT CAST({WIRE_MESSAGE} AS BLOB) FROM messages WHERE id = ?"
PAGE_SQL = (
    f"SELECT CAST(json_group_array({WIRE_MESSAGE}) AS BLOB), count(*) FROM"
    " (SELECT * FROM messages WHERE tag = ? ORDER BY created_at DESC, id DESC LIMIT ?)"
)
# What would have to change for the page (docs/performance.md, "The floor"): each
# message's API JSON stored beside its columns, a page one concatenation of stored bytes.
# Filled for one tag (BENCH_FLOOR_STORED_TAG) from the bench's file at start.
STORED_SCHEMA = """CREATE TABLE stored (
    id TEXT NOT NULL, tag TEXT NOT NULL, created_at INTEGER NOT NULL, json BLOB NOT NULL,
    PRIMARY KEY (tag, created_at, id)) WITHOUT ROWID"""
STORED_FILL = (
    f"INSERT INTO stored SELECT id, tag, created_at, CAST({WIRE_MESSAGE} AS BLOB)"
    " FROM messages WHERE tag = ?"
)
STORED_PAGE_SQL = (
    "SELECT CAST('[' || group_concat(json, ',') || ']' AS BLOB), count(*) FROM"
    " (SELECT json FROM stored WHERE tag = ? ORDER BY created_at DESC, id DESC LIMIT ?)"
)
_NEXT_MESSAGE = b',{"id":"'
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS messages (
        id TEXT NOT NULL, text TEXT NOT NULL, tag TEXT NOT NULL, user_id TEXT NOT NULL,
        created_at INTEGER NOT NULL, PRIMARY KEY (tag, created_at, id)) WITHOUT ROWID""",
    "CREATE UNIQUE INDEX IF NOT EXISTS messages_id ON messages (id)",
    "CREATE INDEX IF NOT EXISTS messages_created_id ON messages (created_at DESC, id DESC)",
)
_INSERT = "INSERT INTO messages (id, text, tag, user_id, created_at) VALUES (?, ?, ?, ?, ?)"


class Posted(msgspec.Struct):
    text: str
    tag: str


class Message(msgspec.Struct):
    id: str
    text: str
    tag: str
    user_id: str
    created_at: str


decode_post = msgspec.json.Decoder(Posted).decode
encode = msgspec.json.Encoder().encode
Row = tuple[str, str, str, str, int]


def new_message(posted: Posted, user: str) -> tuple[Row, Message]:
    """A fresh id and the current instant: the row to insert and the message to answer."""
    micros = time.time_ns() // 1000
    raw = os.urandom(16).hex()
    ident = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
    seconds, fraction = divmod(micros, 1_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    at = f"{stamp}.{fraction:06d}Z"
    row = (ident, posted.text, posted.tag, user, micros)
    return row, Message(ident, posted.text, posted.tag, user, at)


class FloorStore:
    """The reads on the event loop's thread (as tagfeed's inline reads), the writes on one
    writer thread."""

    def __init__(self, database: str, writes: str, stored_tag: str | None = None) -> None:
        self.read = sqlite3.connect(f"file:{database}?mode=ro", uri=True, check_same_thread=False)
        self._writes = writes
        self.stored_tag = stored_tag
        self._stored = None if stored_tag is None else _stored_pages(database, writes, stored_tag)
        self._queue: queue.SimpleQueue[tuple[Row, asyncio.Future[None]] | None] = (
            queue.SimpleQueue()
        )
        self._writer: threading.Thread | None = None

    def get(self, message_id: str) -> bytes | None:
        row = self.read.execute(_GET, (message_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def page(self, tag: str, limit: int) -> tuple[bytes, bool]:
        """The page's JSON array and whether there is a next one."""
        if tag == self.stored_tag and self._stored is not None:
            array, matched = self._stored.execute(STORED_PAGE_SQL, (tag, limit + 1)).fetchone()
        else:
            array, matched = self.read.execute(PAGE_SQL, (tag, limit + 1)).fetchone()
        if matched <= limit:
            return bytes(array), False
        return bytes(array[: array.rindex(_NEXT_MESSAGE)]) + b"]", True

    async def insert(self, row: Row) -> None:
        """Returns once ``row`` is committed."""
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, daemon=True)
            self._writer.start()
        done = asyncio.get_running_loop().create_future()
        self._queue.put((row, done))
        await done

    def _write_loop(self) -> None:
        Path(self._writes).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._writes, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        for statement in SCHEMA:
            conn.execute(statement)
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    break
                batch.append(item)
            conn.execute("BEGIN")
            conn.executemany(_INSERT, [row for row, _ in batch])
            conn.execute("COMMIT")
            loop = batch[0][1].get_loop()
            loop.call_soon_threadsafe(_resolve, [done for _, done in batch])


def _stored_pages(database: str, writes: str, tag: str) -> sqlite3.Connection:
    """A file beside ``writes`` with ``tag``'s messages and their stored JSON, opened to
    read."""
    path = Path(writes + ".stored")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with closing(sqlite3.connect(f"file:{path}", uri=True)) as conn, conn:
        conn.execute(STORED_SCHEMA)
        conn.execute("ATTACH ? AS source", (f"file:{database}?mode=ro",))
        conn.execute(STORED_FILL.replace("FROM messages", "FROM source.messages"), (tag,))
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for done in futures:
        if not done.done():
            done.set_result(None)


def from_environment() -> FloorStore:
    """The store of the floor apps: BENCH_FLOOR_DATABASE (the bench's imported SQLite file),
    BENCH_FLOOR_WRITES (the file the posts go to) and, for the stored-JSON page,
    BENCH_FLOOR_STORED_TAG."""
    return FloorStore(
        os.environ["BENCH_FLOOR_DATABASE"],
        os.environ["BENCH_FLOOR_WRITES"],
        os.environ.get("BENCH_FLOOR_STORED_TAG"),
    )
