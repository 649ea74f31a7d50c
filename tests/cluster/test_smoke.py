"""The smoke of the cluster (make cluster-smoke, in CI): through the gateway on 127.0.0.1,
a token is needed (401), a post and a read work, counting needs the admin role (403, 200),
the identity is the token's, never the client's header, and a post reaches the replicated
JetStream stream and the tags reducer."""

import asyncio
import uuid

import httpx
import pytest

from tests.cluster.cluster import Cluster
from tests.cluster.followers import stream_ids, stream_replicas, tag_count

pytestmark = pytest.mark.cluster

PROBLEM = "application/problem+json"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_no_token_is_401_with_a_bearer_challenge(client: httpx.Client) -> None:
    response = client.get("/v1/messages")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["Content-Type"] == PROBLEM
    assert response.json()["status"] == 401


@pytest.mark.parametrize(
    "claims",
    [
        {"ttl": -60},  # expired
        {"not_before": 4_000_000_000},  # not yet valid
        {"iss": "https://someone-else/"},
        {"aud": "another-service"},
    ],
    ids=["exp", "nbf", "iss", "aud"],
)
def test_a_bad_token_is_401(
    client: httpx.Client, cluster: Cluster, claims: dict[str, object]
) -> None:
    response = client.get("/v1/messages", headers=bearer(cluster.token("smoke", **claims)))  # type: ignore[arg-type]
    assert response.status_code == 401
    assert "invalid_token" in response.headers["WWW-Authenticate"]


def test_a_token_signed_with_another_secret_is_401(client: httpx.Client, cluster: Cluster) -> None:
    forged = Cluster(cluster.base_url, "0" * 64, cluster.issuer, cluster.audience)
    response = client.get("/v1/messages", headers=bearer(forged.token("smoke")))
    assert response.status_code == 401


def test_post_then_read_through_the_gateway(client: httpx.Client, cluster: Cluster) -> None:
    user = f"smoke-{uuid.uuid4().hex[:8]}"
    tag = f"smoke{uuid.uuid4().hex[:8]}"
    # The client's own X-User-ID is dropped: the token's sub is the author.
    headers = {**bearer(cluster.token(user)), "X-User-ID": "somebody-else"}
    posted = client.post(
        "/v1/messages", json={"text": "hello cluster", "tag": tag}, headers=headers
    )
    assert posted.status_code == 201, posted.text
    message = posted.json()
    assert message["user_id"] == user

    read = client.get(f"/v1/messages/{message['id']}", headers=headers)
    assert read.status_code == 200
    assert read.json() == message
    listed = client.get("/v1/messages", params={"tag": tag}, headers=headers)
    assert [m["id"] for m in listed.json()] == [message["id"]]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/messages", {"count": "1"}),
        ("/v1/messages/counts", {"dateStart": "2026-01-01T00:00:00Z"}),
    ],
)
def test_counting_needs_the_admin_role(
    client: httpx.Client, cluster: Cluster, path: str, params: dict[str, str]
) -> None:
    plain = client.get(path, params=params, headers=bearer(cluster.token("smoke")))
    assert plain.status_code == 403
    assert plain.headers["Content-Type"] == PROBLEM
    # A role the client claims in a header counts for nothing.
    claimed = client.get(
        path,
        params=params,
        headers={**bearer(cluster.token("smoke")), "X-User-Roles": "admin"},
    )
    assert claimed.status_code == 403
    admin = client.get(path, params=params, headers=bearer(cluster.token("root", "reader admin")))
    assert admin.status_code == 200, admin.text


def test_oversized_heads_and_odd_paths_stop_at_the_gateway(client: httpx.Client) -> None:
    assert client.get("/healthz", headers={"X-Big": "a" * 30_000}).status_code == 400
    assert client.get("/healthz", headers={"X-Big": "a" * 10_000}).status_code == 200
    # %-escapes, // and dot segments could route differently here and in the instance.
    assert client.get("/v1/messages/%63ounts").status_code == 400
    assert client.get("/v1//messages").status_code == 400


async def test_a_post_reaches_the_replicated_stream(cluster: Cluster) -> None:
    """The relay publishes the post to JetStream, whose stream has 3 replicas on the
    three NATS servers; the tags reducer (a service of its own) counts it."""
    tag = f"smoke{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=cluster.base_url, timeout=10) as client:
        posted = await client.post(
            "/v1/messages",
            json={"text": "to the stream", "tag": tag},
            headers=bearer(cluster.token("smoke")),
        )
    assert posted.status_code == 201, posted.text
    relayed: list[tuple[int, str]] = []
    for _ in range(40):  # the relay starts once the schema is there: give it 20 s
        relayed = await stream_ids(cluster.nats_port, tag, within=5)
        if relayed:
            break
        await asyncio.sleep(0.5)
    assert [message_id for _, message_id in relayed] == [posted.json()["id"]]
    assert await stream_replicas(cluster.nats_port) == 3
    for _ in range(40):
        if await tag_count(cluster.postgres_url, tag) == 1:
            break
        await asyncio.sleep(0.5)
    assert await tag_count(cluster.postgres_url, tag) == 1
