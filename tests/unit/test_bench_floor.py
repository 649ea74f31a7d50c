"""The floor apps (bench/floor_store.py on ASGI and RSGI) do the hot routes' database work
and answer in the contract's shapes, so ``x floor`` compares like with like: the stored
message's JSON as tagfeed writes it, a page of 50 newest first with a next link when
there is more, a post answered only once committed. The RSGI forms run in a real granian."""

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from bench.floor_pg import SCHEMA as SCHEMA_PG
from bench.floor_pg import GroupCommit, insert_rows
from bench.floor_store import SCHEMA, FloorStore
from bench.options import parse_options
from bench.scenarios import BY_NAME, FLOOR_OF, NGINX, PEER, PEER_OF, PGBENCH, floor_of
from bench.servers import app_server
from tagfeed.domain.ids import epoch_micros
from tagfeed.store.codec import message_payload

START = datetime(2026, 11, 1, 12, 0, 0, 5, tzinfo=UTC)
TEXTS = ["plain", 'quote " and \\ backslash', "tab\tnew\nline", "é ✓ 😀", "<&>"]


def message(i: int) -> tuple[str, str, str, str, datetime]:
    return (f"id-{i:04d}", TEXTS[i % len(TEXTS)], "hot" if i % 2 else "cold", f"u{i}",
            START + timedelta(seconds=i, microseconds=i * 7))  # fmt: skip


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "messages.db"
    with sqlite3.connect(path) as conn:
        for statement in SCHEMA:
            conn.execute(statement)
        conn.executemany(
            "INSERT INTO messages VALUES (?, ?, ?, ?, ?)",
            [(*message(i)[:4], epoch_micros(message(i)[4])) for i in range(120)],
        )
    return path


def test_a_message_is_the_bytes_tagfeed_stores_and_answers(database: Path, tmp_path: Path) -> None:
    store = FloorStore(str(database), str(tmp_path / "writes.db"))
    for i in range(len(TEXTS)):
        assert store.get(f"id-{i:04d}") == message_payload(message(i))
    assert store.get("id-9999") is None


def test_a_page_is_the_newest_fifty_of_the_tag_with_more_flagged(
    database: Path, tmp_path: Path
) -> None:
    store = FloorStore(str(database), str(tmp_path / "writes.db"))
    body, more = store.page("hot", 50)
    ids = [m["id"] for m in json.loads(body)]
    assert ids == [f"id-{i:04d}" for i in range(119, 19, -2)]
    assert more is True
    body, more = store.page("hot", 60)
    assert len(json.loads(body)) == 60
    assert more is False


def test_a_page_of_stored_json_is_the_same_bytes(database: Path, tmp_path: Path) -> None:
    built = FloorStore(str(database), str(tmp_path / "built.db"))
    stored = FloorStore(str(database), str(tmp_path / "stored.db"), stored_tag="hot")
    for limit in (50, 60):
        assert stored.page("hot", limit) == built.page("hot", limit)


@pytest.fixture(params=["asgi", "rsgi"])
def floor_url(request: pytest.FixtureRequest, database: Path, tmp_path: Path) -> Iterator[str]:
    target = "bench.floor:app" if request.param == "asgi" else "bench.rsgi_apps:floor"
    env = {"BENCH_FLOOR_DATABASE": str(database), "BENCH_FLOOR_WRITES": str(tmp_path / "w.db")}
    with app_server(target, request.param, 1, tmp_path / "floor.log", env) as running:
        yield running.url


@pytest.fixture
async def floor(floor_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=floor_url) as client:
        yield client


async def test_the_floor_server_answers_the_bench_requests(
    floor: httpx.AsyncClient, tmp_path: Path
) -> None:
    one = await floor.get("/v1/messages/id-0003")
    assert one.status_code == 200
    assert one.content == message_payload(message(3))
    assert (await floor.get("/v1/messages/nope")).status_code == 404
    page = await floor.get("/v1/messages?tag=cold&limit=50")
    assert [m["id"] for m in page.json()] == [f"id-{i:04d}" for i in range(118, 18, -2)]
    assert "next" in page.headers["link"]
    posted = await floor.post(
        "/v1/messages", content=b'{"text":"hi","tag":"t"}', headers={"X-User-ID": "ann"}
    )
    assert posted.status_code == 201
    body = posted.json()
    assert posted.headers["location"] == f"/v1/messages/{body['id']}"
    # answered after its commit: the row is in the writes file already
    with sqlite3.connect(tmp_path / "w.db") as conn:
        rows = conn.execute("SELECT text, tag, user_id FROM messages WHERE id = ?", (body["id"],))
        assert rows.fetchall() == [("hi", "t", "ann")]


async def test_the_rsgi_peer_answers_as_the_asgi_peer(tmp_path: Path) -> None:
    with app_server("bench.rsgi_apps:peer", "rsgi", 1, tmp_path / "peer.log") as running:
        async with httpx.AsyncClient(base_url=running.url) as client:
            assert len((await client.get("/v1/messages?tag=a&limit=50")).json()) == 50
            one = await client.get("/v1/messages/x")
            assert set(one.json()) == {"id", "text", "tag", "user_id", "created_at"}
            posted = await client.post("/v1/messages", content=b'{"text":"a","tag":"b"}')
            assert (posted.status_code, posted.json()) == (201, {"text": "a", "tag": "b"})


def test_every_floor_reference_is_a_floor_scenario_of_the_same_route() -> None:
    def route(name: str) -> str:  # get_by_id, page_..., post_...: the request file's kind
        return BY_NAME[name].requests.split("_")[0]

    for name, floor in FLOOR_OF.items():
        assert BY_NAME[floor].target == "floor"
        assert route(floor) == route(name)
    assert {BY_NAME[n].target for n in PEER_OF.values()} == {PEER}
    held = {s.name for s in BY_NAME.values() if s.target not in (PEER, NGINX, PGBENCH)}
    assert set(PEER_OF) == held


def test_each_backend_runs_its_own_floors_by_default_rsgi_when_named() -> None:
    sqlite = parse_options([]).scenarios
    assert {"floor_get", "floor_page", "floor_post"} <= set(sqlite)
    assert not [name for name in sqlite if name.startswith("rsgi_")]
    assert "floor_post_pg" not in sqlite
    named = parse_options(["--scenarios", "rsgi_floor_get,floor_page_stored"]).scenarios
    assert named == ("floor_page_stored", "rsgi_floor_get")
    postgres = parse_options(["--backend", "postgres"]).scenarios
    assert "get_by_id" in postgres
    floors = [name for name in postgres if "floor" in name]
    assert floors == ["floor_post_pg", "floor_post_pg_log"]
    assert "floor_post_pg_log" not in sqlite


def test_posts_on_postgres_are_held_against_the_floor_that_writes_the_log() -> None:
    for post in ("post_random", "post_hot_tag"):
        assert floor_of(post, "postgres") == "floor_post_pg_log"
        assert floor_of(post, "sqlite") == "floor_post"
    assert floor_of("get_by_id", "postgres") is None  # no read floor on PostgreSQL
    for floor in ("floor_post_pg", "floor_post_pg_log"):
        assert BY_NAME[floor].requests == BY_NAME["post_random"].requests


@asynccontextmanager
async def _posted_at_once(
    app: str, url: str, folder: Path, text: str
) -> AsyncIterator[list[httpx.Response]]:
    """40 posts sent at once to floor ``app`` (a real granian) writing into ``url``: the
    answers, in the order sent (``{text} {i}``, tag ``t{i % 3}``, user ``u{i}``). They
    come while the app still runs, so its shutdown cannot commit a write it answered too
    early before the test looks."""
    env = {"BENCH_FLOOR_PG_URL": url}
    with app_server(app, "asgi", 1, folder / "floor.log", env) as running:
        async with httpx.AsyncClient(base_url=running.url) as client:

            async def post(i: int) -> httpx.Response:
                body = json.dumps({"text": f"{text} {i}", "tag": f"t{i % 3}"}).encode()
                return await client.post(
                    "/v1/messages", content=body, headers={"X-User-ID": f"u{i}"}
                )

            yield list(await asyncio.gather(*(post(i) for i in range(40))))


@pytest.mark.postgres
async def test_the_postgresql_floor_answers_each_post_after_its_commit(
    postgres_url: str, tmp_path: Path
) -> None:
    """Posts sent at once are answered 201 in the contract's shape, each row committed
    before its answer (read back on another connection), the batch of them together."""
    async with _posted_at_once("bench.floor_pg:app", postgres_url, tmp_path, "hi") as answers:
        conn = await asyncpg.connect(postgres_url)
        try:
            for i, answer in enumerate(answers):
                assert answer.status_code == 201
                message = answer.json()
                assert answer.headers["location"] == f"/v1/messages/{message['id']}"
                assert (message["text"], message["tag"], message["user_id"]) == (
                    f"hi {i}", f"t{i % 3}", f"u{i}"
                )  # fmt: skip
                row = await conn.fetchrow(
                    "SELECT text, tag, user_id, created_at FROM floor_messages WHERE id = $1::uuid",
                    message["id"],
                )
                assert row is not None, "answered before its row was committed"
                assert (row["text"], row["tag"], row["user_id"]) == (
                    f"hi {i}", f"t{i % 3}", f"u{i}"
                )  # fmt: skip
                stamp = row["created_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                assert stamp == message["created_at"]
            assert await conn.fetchval("SELECT count(*) FROM floor_messages") == 40
        finally:
            await conn.close()


@pytest.mark.postgres
async def test_a_waiter_that_went_away_does_not_stop_the_others_of_its_batch(
    postgres_url: str,
) -> None:
    """A post whose request was cancelled while its batch was being inserted (a client
    that hung up): the other posts of that batch are still answered."""
    conn = await asyncpg.connect(postgres_url)
    try:
        for statement in SCHEMA_PG:
            await conn.execute(statement)
        writer = GroupCommit(conn, insert_rows)
        rows = [
            (str(uuid.uuid4()), f"t{i}", "tag", "u", 1_764_000_000_000_000 + i) for i in range(2)
        ]
        gone = asyncio.create_task(writer.insert(rows[0]))
        kept = asyncio.create_task(writer.insert(rows[1]))
        await asyncio.sleep(0)  # both queued; the flusher has taken them as one batch
        gone.cancel()
        await asyncio.wait_for(kept, timeout=5)
        assert await conn.fetchval("SELECT count(*) FROM floor_messages") == 2
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_the_log_floor_appends_each_post_with_tagfeeds_statement_before_answering(
    postgres_url: str, tmp_path: Path
) -> None:
    """The floor that writes what tagfeed's log needs: 40 posts sent at once are each
    answered 201 only once its event (at the next positions, without a gap), its messages
    view row and its counters are committed, read back on another connection."""
    conn = await asyncpg.connect(postgres_url)
    try:
        head = await conn.fetchval("SELECT position FROM event_head WHERE id = 1")
        counted = await conn.fetchval(COUNTED_ALL_HOURS)
    finally:
        await conn.close()
    app = "bench.floor_pg:log_app"
    async with _posted_at_once(app, postgres_url, tmp_path, "log") as answers:
        conn = await asyncpg.connect(postgres_url)
        try:
            positions = []
            for i, answer in enumerate(answers):
                assert answer.status_code == 201
                message = answer.json()
                row = await conn.fetchrow(
                    "SELECT e.position, e.payload::text, m.text FROM events e"
                    " JOIN messages m ON m.id = e.event_id WHERE e.event_id = $1::uuid",
                    message["id"],
                )
                assert row is not None, "answered before its event was committed"
                assert row["text"] == f"log {i}"
                assert json.loads(row["payload"])["created_at"] == message["created_at"]
                positions.append(row["position"])
            assert sorted(positions) == list(range(head + 1, head + 41))
            assert await conn.fetchval(COUNTED_ALL_HOURS) == counted + 40
        finally:
            await conn.close()


COUNTED_ALL_HOURS = "SELECT coalesce(sum(n), 0) FROM message_counts WHERE tag = '' AND span = 3600"
