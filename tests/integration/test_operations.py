"""Health, readiness, OpenAPI, docs, request ids, unknown paths and methods."""

import httpx
import pytest

from tests.integration.helpers import assert_problem


async def test_health_and_readiness_need_no_user(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz"):
        response = await client.get(path, headers={"X-User-ID": ""})
        assert response.status_code == 200, path


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "gateway-abc-123"})
    assert echoed.headers["x-request-id"] == "gateway-abc-123"
    first = (await client.get("/healthz")).headers["x-request-id"]
    second = (await client.get("/healthz")).headers["x-request-id"]
    assert first != second
    assert len(first) >= 16


async def test_unusable_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert response.headers["x-request-id"] != "x" * 500


async def test_unknown_path_is_a_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v2/nothing"), 404, "/v2/nothing")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("DELETE", "/v1/messages", {"GET", "POST"}), ("PUT", "/v1/messages/x", {"GET"})],
)
async def test_wrong_method_is_405_with_allow(
    client: httpx.AsyncClient, method: str, path: str, allowed: set[str]
) -> None:
    response = await client.request(method, path)
    assert_problem(response, 405, method)
    assert allowed <= {m.strip() for m in response.headers["allow"].split(",")}


async def test_openapi_describes_the_contract(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert set(paths["/v1/messages"]) == {"get", "post"}
    assert "get" in paths["/v1/messages/{message_id}"]
    post = paths["/v1/messages"]["post"]["responses"]
    assert {"201", "400", "403", "413", "415", "500", "503"} <= set(post)
    params = {p["name"] for p in paths["/v1/messages"]["get"]["parameters"]}
    assert params == {
        "tag",
        "dateStart",
        "dateEnd",
        "count",
        "limit",
        "cursor",
        "Tagfeed-Min-Position",
    }
    # Every answer that reflects the log says so, and the reads may be asked to wait.
    for path, method, status in [
        ("/v1/messages", "post", "201"),
        ("/v1/messages", "get", "200"),
        ("/v1/messages/counts", "get", "200"),
        ("/v1/messages/{message_id}", "get", "200"),
    ]:
        assert "Tagfeed-Position" in paths[path][method]["responses"][status]["headers"]
        if method == "get":
            assert "Tagfeed-Min-Position" in paths[path][method]["responses"]["503"]["description"]
    stream = paths["/v1/messages/stream"]["get"]
    assert set(stream["responses"]["200"]["content"]) == {"text/event-stream"}
    assert {p["name"] for p in stream["parameters"]} == {"tag", "after", "Last-Event-ID"}
    assert {"400", "403", "503"} <= set(stream["responses"])
    schemas = document["components"]["schemas"]
    assert set(schemas["MessageOut"]["required"]) == {"id", "text", "tag", "user_id", "created_at"}


async def test_docs_page_and_its_assets_are_served_locally(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "/openapi.json" in page.text
    for asset in ("/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css"):
        assert (await client.get(asset)).status_code == 200, asset
