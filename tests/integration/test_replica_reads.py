"""Reads from replicas (TAGFEED_DATABASE_READ_URL): the position a read reflects is the
one the replica has applied, not the head the primary has; a read asking for a position
waits on the replica until it is applied there, else 503 Retry-After.

A second database on the same server stands for the replica: what is posted through a
store on it is what the "replica" has applied. Both databases are real PostgreSQL."""

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from tagfeed.api.app import create_app
from tagfeed.config import settings_from_values
from tagfeed.domain.ids import new_message_id
from tagfeed.domain.model import Message
from tagfeed.store.migrate import upgrade
from tagfeed.store.port import unit_of_work
from tagfeed.store.postgres import PostgresStore
from tests.conftest import USER

pytestmark = pytest.mark.postgres

TIMEOUT = 5.0


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def replica_url(postgres_url: str) -> AsyncIterator[str]:
    """A database of its own, migrated, standing for a replica that applies nothing
    until the test posts to it."""
    name = f"tagfeed_replica_{secrets.token_hex(4)}"
    await _admin(postgres_url, f'CREATE DATABASE "{name}"')
    url = f"{postgres_url.rpartition('/')[0]}/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await _admin(postgres_url, f'DROP DATABASE "{name}" WITH (FORCE)')


async def _post(store: PostgresStore, message: Message) -> int:
    async with unit_of_work(store) as work:
        work.add_message(message)
        await work.commit()
    return work.positions[-1]


async def _apply(applier: PostgresStore, message: Message, position: int) -> None:
    """Make the replica apply ``message`` at ``position``: the primary's database is
    shared by the session's tests, so its log is longer; other posts fill the gap."""
    missing = position - 1 - await applier.head()
    if missing > 0:
        async with unit_of_work(applier) as work:
            for _ in range(missing):
                work.add_message(_message("applied before"))
            await work.commit()
    assert await _post(applier, message) == position


def _message(text: str) -> Message:
    now = datetime.now(UTC)
    return Message(new_message_id(now), text, "replica", "1", now)


@pytest.fixture
async def stores(
    postgres_url: str, replica_url: str
) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """(tagfeed's store: writes to the primary, reads from the replica; the replica's own
    store, through which the test makes the replica apply a post)."""
    store = PostgresStore(postgres_url, timeout=TIMEOUT, read_url=replica_url)
    applier = PostgresStore(replica_url, timeout=TIMEOUT)
    await store.open()
    await applier.open()
    try:
        yield store, applier
    finally:
        await store.close()
        await applier.close()


async def test_a_read_reflects_what_the_replica_applied_not_the_primary_head(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    store, _ = stores
    message = _message("on the primary only")
    position = await _post(store, message)
    assert store.seen_head() >= position  # the primary has it
    async with store.reading(None, 1.0) as reflected:
        # The replica has applied nothing: the view says so, and its reads agree.
        assert reflected < position
        assert await store.get(message.id) is None


async def test_a_read_waits_on_the_replica_for_the_position_it_asks(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    store, applier = stores
    message = _message("posted, applied later")
    position = await _post(store, message)

    async def read() -> tuple[int, Message | None]:
        async with store.reading(position, 10.0) as reflected:
            return reflected, await store.get(message.id)

    waiting = asyncio.create_task(read())
    await asyncio.sleep(0.3)
    assert not waiting.done()  # the replica is behind: it waits
    await _apply(applier, message, position)  # the replica applies it
    reflected, found = await asyncio.wait_for(waiting, 5)
    assert reflected >= position
    assert found == message  # read on the connection whose head it waited for


async def test_the_wait_is_bounded(stores: tuple[PostgresStore, PostgresStore]) -> None:
    store, _ = stores
    position = await _post(store, _message("never applied"))
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with store.reading(position, 0.3) as reflected:
        assert reflected < position
    assert 0.3 <= loop.time() - started < 3


async def test_through_the_api_a_lagging_replica_is_503_then_200(
    postgres_url: str, replica_url: str, stores: tuple[PostgresStore, PostgresStore]
) -> None:
    store, applier = stores
    settings = settings_from_values(
        database_url=postgres_url,
        database_read_url=replica_url,
        db_timeout=TIMEOUT,
        min_position_wait_seconds=0.3,
    )
    app = create_app(settings, store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://tagfeed.test", headers=USER
    ) as client:
        tag = f"ryw{secrets.token_hex(4)}"
        posted = await client.post("/v1/messages", json={"text": "read me", "tag": tag})
        assert posted.status_code == 201
        position = posted.headers["Tagfeed-Position"]
        wanted = {"Tagfeed-Min-Position": position}
        path = f"/v1/messages/{posted.json()['id']}"

        behind = await client.get(path, headers=wanted)
        assert behind.status_code == 503
        assert behind.headers["Retry-After"] == "1"
        # Without asking, the replica's view answers, and says how far it reflects.
        assert (await client.get(path)).status_code == 404

        body = posted.json()
        created = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
        applied = Message(body["id"], body["text"], body["tag"], body["user_id"], created)
        await _apply(applier, applied, int(position))  # the replica applies the post
        caught_up = await client.get(path, headers=wanted)
        assert caught_up.status_code == 200
        assert int(caught_up.headers["Tagfeed-Position"]) >= int(position)
        listed = await client.get(f"/v1/messages?tag={body['tag']}", headers=wanted)
        assert [m["id"] for m in listed.json()] == [body["id"]]
        assert (await client.get("/readyz")).status_code == 200
