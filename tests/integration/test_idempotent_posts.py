"""Idempotency-Key on POST /v1/messages, on every backend."""

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from tagfeed.api.app import create_app
from tagfeed.config import Settings
from tagfeed.store.factory import store_from_settings
from tagfeed.store.port import IdempotencyRecord, Store, unit_of_work
from tests.integration.helpers import assert_problem

BODY = {"text": "exactly once", "tag": "retry"}


async def post(
    client: httpx.AsyncClient, key: str, body: object = BODY, user: str = "1"
) -> httpx.Response:
    return await client.post(
        "/v1/messages", json=body, headers={"Idempotency-Key": key, "X-User-ID": user}
    )


async def count(client: httpx.AsyncClient) -> int:
    response = await client.get("/v1/messages", params={"count": "1"})
    return int(response.json())


async def test_a_retry_replays_the_first_response(client: httpx.AsyncClient) -> None:
    first = await post(client, "key-1")
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    again = await post(client, "key-1")
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert again.content == first.content
    assert await count(client) == 1


async def test_the_same_key_with_another_body_is_422(client: httpx.AsyncClient) -> None:
    assert (await post(client, "key-2")).status_code == 201
    other = await post(client, "key-2", {"text": "something else", "tag": "retry"})
    assert_problem(other, 422, "key-2")
    normalised_alike = await post(client, "key-2", {"text": "exactly once", "tag": "#Retry"})
    assert_problem(normalised_alike, 422, "different body")
    assert await count(client) == 1


async def test_keys_are_scoped_per_user(client: httpx.AsyncClient) -> None:
    mine = await post(client, "shared-key", user="alice")
    theirs = await post(client, "shared-key", user="bob")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "idempotent-replayed" not in theirs.headers


@pytest.mark.parametrize("key", ["x" * 256, "caf\u00e9", "tab\there"])
async def test_malformed_keys_are_400(client: httpx.AsyncClient, key: str) -> None:
    request = httpx.Request(
        "POST",
        "http://tagfeed.test/v1/messages",
        headers=[
            (b"x-user-id", b"1"),
            (b"content-type", b"application/json"),
            (b"idempotency-key", key.encode("latin-1")),
        ],
        content=b'{"text": "a", "tag": "b"}',
    )
    assert_problem(await client.send(request), 400, "Idempotency-Key")
    assert await count(client) == 0


async def test_longest_allowed_key(client: httpx.AsyncClient) -> None:
    assert (await post(client, "k" * 255)).status_code == 201


async def test_invalid_body_with_a_key_stores_nothing(client: httpx.AsyncClient) -> None:
    assert (await post(client, "key-3", {"text": "", "tag": "x"})).status_code == 400
    assert (await post(client, "key-3")).status_code == 201
    assert "idempotent-replayed" not in (await post(client, "key-4")).headers


async def test_concurrent_retries_create_one_message(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(*(post(client, "burst-key") for _ in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}
    created = [r for r in responses if r.status_code == 201]
    assert len({r.json()["id"] for r in created}) == 1
    fresh = [r for r in created if "idempotent-replayed" not in r.headers]
    assert len(fresh) == 1
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.headers["retry-after"] == "1"
    assert await count(client) == 1


async def test_two_processes_sharing_the_database_create_one_message(
    settings: Settings, store: Store
) -> None:
    """Two apps with their own stores (as two processes would have) on one database."""
    other_store = store_from_settings(settings)
    await other_store.open()
    try:
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(settings, s)),
                base_url="http://t",
                headers={"X-User-ID": "1"},
            )
            for s in (store, other_store)
        ]
        responses = await asyncio.gather(
            *(post(clients[i % 2], "two-processes") for i in range(10))
        )
        created = [r for r in responses if r.status_code == 201]
        assert created
        assert len({r.json()["id"] for r in created}) == 1
        assert await count(clients[0]) == 1
        for client in clients:
            await client.aclose()
    finally:
        await other_store.close()


def record(key: str, created_at: datetime) -> IdempotencyRecord:
    return IdempotencyRecord("u", key, "fp", 201, "/v1/messages/x", b"{}", created_at)


async def test_an_expired_key_can_be_used_again(store: Store) -> None:
    now = datetime.now(UTC)
    old = record("old", now - timedelta(hours=25))
    async with unit_of_work(store) as work:
        work.claim_key(old, not_before=old.created_at - timedelta(hours=24))
        await work.commit()
    async with unit_of_work(store) as work:
        work.claim_key(record("old", now), not_before=now - timedelta(hours=24))
        await work.commit()
    assert work.held_by is None  # the expired record did not hold the key
    async with unit_of_work(store) as work:
        work.claim_key(record("old", now), not_before=now - timedelta(hours=24))
        await work.commit()
    assert work.held_by is not None
    assert work.held_by.created_at == now


async def test_purge_deletes_only_expired_keys(store: Store) -> None:
    now = datetime.now(UTC)
    for i in range(5):
        for key, when in ((f"old-{i}", now - timedelta(days=2)), (f"new-{i}", now)):
            async with unit_of_work(store) as work:
                work.claim_key(record(key, when), not_before=when - timedelta(hours=24))
                await work.commit()
    before = now - timedelta(hours=24)
    assert await store.purge_idempotency_keys(before, limit=3) == 3
    assert await store.purge_idempotency_keys(before, limit=3) == 2
    assert await store.purge_idempotency_keys(before, limit=3) == 0
    async with unit_of_work(store) as work:
        work.claim_key(record("new-0", now), not_before=before)
        await work.commit()
    assert work.held_by is not None


@pytest.mark.postgres
async def test_postgres_answers_409_while_another_process_holds_the_key(
    postgres_url: str, tmp_path: object
) -> None:
    settings = Settings(database_url=postgres_url, db_timeout=5.0)
    store = store_from_settings(settings)
    await store.open()
    holder = await asyncpg.connect(postgres_url)
    try:
        # Another process is in the middle of its transaction for ("1", "held-key").
        transaction = holder.transaction()
        await transaction.start()
        await holder.fetchval(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "1\nheld-key"
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, store)),
            base_url="http://t",
            headers={"X-User-ID": "1"},
        ) as client:
            response = await post(client, "held-key")
            assert_problem(response, 409, "still being processed")
            await transaction.rollback()
            assert (await post(client, "held-key")).status_code == 201
    finally:
        await holder.close()
        await store.close()
