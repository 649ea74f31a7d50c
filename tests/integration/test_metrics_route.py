"""/metrics in-process: what the middleware counts for routes, mounts, 405s and replays, and
nothing at all with metrics off. The process's metrics are shared by every app made in this
test session, so each test reads differences."""

import uuid

import httpx

from tagfeed.api.app import create_app
from tagfeed.config import Settings
from tagfeed.store.port import Store
from tests.metric_samples import Samples, parse_samples, requests_of


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse_samples(response.text)


async def test_routes_mounts_and_405s_keep_their_template(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    assert (await client.get(f"/v1/messages/{uuid.uuid4()}")).status_code == 404
    assert (await client.delete("/v1/messages")).status_code == 405
    assert (await client.get("/docs/static/no-such-file.js")).status_code == 404
    assert (await client.get("/v2/nothing")).status_code == 404
    after = await scrape(client)
    for route, method, status in [
        ("/v1/messages/{message_id}", "GET", 404),
        ("/v1/messages", "DELETE", 405),
        ("/docs/static", "GET", 404),
        ("unmatched", "GET", 404),
        ("/metrics", "GET", 200),
    ]:
        moved = requests_of(after, route, method, status) - requests_of(
            before, route, method, status
        )
        assert moved == 1, (route, method, status)


async def test_an_idempotent_replay_is_counted_once(client: httpx.AsyncClient) -> None:
    replays = ("tagfeed_idempotent_replays_total", ())
    before = (await scrape(client)).get(replays, 0.0)
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    for _ in range(3):
        response = await client.post(
            "/v1/messages", json={"text": "a", "tag": "t"}, headers=headers
        )
        assert response.status_code == 201
    assert (await scrape(client))[replays] == before + 2


async def test_with_metrics_off_nothing_is_served_or_counted(
    settings: Settings, store: Store, client: httpx.AsyncClient
) -> None:
    before = await scrape(client)
    off = create_app(settings.model_copy(update={"metrics": False}), store)
    transport = httpx.ASGITransport(app=off)
    async with httpx.AsyncClient(transport=transport, base_url="http://tagfeed.test") as http:
        assert (await http.get("/metrics")).status_code == 404
        assert (await http.get("/healthz")).status_code == 200
    after = await scrape(client)
    assert requests_of(after, "/healthz", "GET", 200) == requests_of(before, "/healthz", "GET", 200)
    assert requests_of(after, "unmatched", "GET", 404) == requests_of(
        before, "unmatched", "GET", 404
    )
