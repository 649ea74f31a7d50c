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
"""

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.floor_store import Row, decode_post, encode, new_message
from bench.peer import healthz

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
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class GroupCommit:
    """One insert in flight at a time; what waits meanwhile goes into the next."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._queued: list[tuple[Row, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def insert(self, row: Row) -> None:
        done = asyncio.get_running_loop().create_future()
        self._queued.append((row, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            rows = [row for row, _ in batch]
            columns = [
                [r[0] for r in rows],
                [r[1] for r in rows],
                [r[2] for r in rows],
                [r[3] for r in rows],
                [_EPOCH + timedelta(microseconds=r[4]) for r in rows],  # exact, no float
            ]
            try:
                await self._conn.execute(INSERT, *columns)
            except Exception as exc:  # every waiter gets the failure
                for _, done in batch:
                    if not done.done():  # not a waiter that went away (cancelled)
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)


class _State:
    writer: GroupCommit | None = None


state = _State()


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    conn = await asyncpg.connect(os.environ["BENCH_FLOOR_PG_URL"])
    for statement in SCHEMA:
        await conn.execute(statement)
    state.writer = GroupCommit(conn)
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


app = Starlette(
    routes=[Route("/v1/messages", post, methods=["POST"]), Route("/healthz", healthz)],
    lifespan=lifespan,
)
