"""The POST floor on PostgreSQL: the bare peer (``bench/peer.py``, Starlette on the same
granian) plus the one write any design of tagfeed must make for a post there, and
nothing of tagfeed's code. Held beside tagfeed's POST and pgbench in the same sweeps, it
says how much of pgbench's rate a Python server can turn into acknowledged posts at all
(issue 12: "POST on PostgreSQL >= 0.5 x pgbench").

The write: one row into a table shaped like tagfeed's messages view (uuid key, the tag
page's and the time range's indexes), group-committed as tagfeed's PostgreSQL store does:
the posts that arrive while one insert runs go together into the next, one statement and
one commit for all of them (``unnest`` of column arrays), on one connection; each 201 is
sent after its commit. No log, no counters, no idempotency, no validation beyond decoding.

The table lives in the bench's database (``BENCH_FLOOR_PG_URL``), made afresh when the
app starts; posts go only there.

``log_app``, the same floor doing the write the event log's design makes for a post
(issue 9): tagfeed's own append statement (``tagfeed.store.postgres_append``: the event
with its position, the messages view's row and the counters, in one statement), group
committed the same way, into a migrated tagfeed database of its own
(``BENCH_FLOOR_PG_URL``), so that the served tagfeed's reducers never see its events. No
catch-up reducers, no idempotency, no validation: it says what any server keeping that
log can reach, against which tagfeed's own code is ``x floor``.
"""

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.floor_store import Row, decode_post, encode, new_message
from bench.peer import healthz
from tagfeed.domain.events import MessagePosted
from tagfeed.domain.ids import from_epoch_micros
from tagfeed.domain.model import Message
from tagfeed.store.postgres_append import append

SCHEMA = (
    "DROP TABLE IF EXISTS floor_messages",
    """CREATE TABLE floor_messages (
        id uuid PRIMARY KEY, text text NOT NULL, tag text COLLATE "C" NOT NULL,
        user_id text NOT NULL, created_at timestamptz NOT NULL)""",
    "CREATE INDEX ON floor_messages (tag, created_at DESC, id DESC)",
    "CREATE INDEX ON floor_messages (created_at DESC, id DESC)",
)
INSERT = """INSERT INTO floor_messages (id, text, tag, user_id, created_at)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])"""
_JSON = "application/json"


Item = TypeVar("Item")
Write = Callable[[asyncpg.Connection, list[Item]], Awaitable[object]]


async def insert_rows(conn: asyncpg.Connection, rows: list[Row]) -> None:
    columns = [
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [from_epoch_micros(r[4]) for r in rows],
    ]
    await conn.execute(INSERT, *columns)


class Posted:
    """One post for tagfeed's append statement (``postgres_append.Appendable``)."""

    __slots__ = ("events", "positions")

    def __init__(self, row: Row) -> None:
        at = from_epoch_micros(row[4])
        self.events = [MessagePosted(Message(row[0], row[1], row[2], row[3], at))]
        self.positions: list[int] = []


class GroupCommit(Generic[Item]):
    """One write in flight at a time; what waits meanwhile goes into the next."""

    def __init__(self, conn: asyncpg.Connection, write: Write[Item]) -> None:
        self._conn = conn
        self._write = write
        self._queued: list[tuple[Item, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def insert(self, row: Item) -> None:
        done = asyncio.get_running_loop().create_future()
        self._queued.append((row, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            try:
                await self._write(self._conn, [item for item, _ in batch])
            except Exception as exc:  # every waiter gets the failure
                for _, done in batch:
                    if not done.done():  # not a waiter that went away (cancelled)
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)


class _State:
    writer: GroupCommit[Row] | None = None
    log_writer: GroupCommit[Posted] | None = None


state = _State()


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    conn = await asyncpg.connect(os.environ["BENCH_FLOOR_PG_URL"])
    for statement in SCHEMA:
        await conn.execute(statement)
    state.writer = GroupCommit(conn, insert_rows)
    try:
        yield
    finally:
        await conn.close()


@asynccontextmanager
async def log_lifespan(_: Starlette) -> AsyncIterator[None]:
    conn = await asyncpg.connect(os.environ["BENCH_FLOOR_PG_URL"])  # migrated, tagfeed's schema
    state.log_writer = GroupCommit(conn, append)
    try:
        yield
    finally:
        await conn.close()


async def post(request: Request) -> Response:
    assert state.writer is not None
    posted = decode_post(await request.body())
    row, message = new_message(posted, request.headers.get("x-user-id", ""))
    await state.writer.insert(row)
    location = {"location": f"/v1/messages/{row[0]}"}
    return Response(encode(message), 201, headers=location, media_type=_JSON)


async def post_to_log(request: Request) -> Response:
    assert state.log_writer is not None
    posted = decode_post(await request.body())
    row, message = new_message(posted, request.headers.get("x-user-id", ""))
    await state.log_writer.insert(Posted(row))
    location = {"location": f"/v1/messages/{row[0]}"}
    return Response(encode(message), 201, headers=location, media_type=_JSON)


app = Starlette(
    routes=[Route("/v1/messages", post, methods=["POST"]), Route("/healthz", healthz)],
    lifespan=lifespan,
)
log_app = Starlette(
    routes=[Route("/v1/messages", post_to_log, methods=["POST"]), Route("/healthz", healthz)],
    lifespan=log_lifespan,
)
