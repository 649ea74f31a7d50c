"""The RSGI front (``api/rsgi_front.py``) in a real granian, as ``tagfeed serve`` runs it
with ``TAGFEED_SERVER_INTERFACE=rsgi``: the route table's requests answered straight from
their handlers (bodies read from ``proto``, with their bound), the rest through the ASGI
channel to the Starlette app (HEAD, 405, 404, the document, ``/metrics``), a live stream
written through the channel (its head at once, its heartbeats) and freed when its client
leaves; and the same app over ASGI, the default."""

import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server
from tests.e2e.sse_client import USER, stream

BODY_LIMIT = 1024
HEARTBEAT = 1.5
NOT_ASCII_USER = {b"X-User-ID": "é".encode()}  # its UTF-8 bytes, not visible ASCII
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def rsgi_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("rsgi")
    running = start_server(
        f"sqlite:///{folder / 'tagfeed.db'}",
        folder / "server.log",
        env={
            "TAGFEED_SERVER_INTERFACE": "rsgi",
            "TAGFEED_MAX_BODY_BYTES": str(BODY_LIMIT),
            "TAGFEED_STREAM_HEARTBEAT_SECONDS": str(HEARTBEAT),
            "TAGFEED_METRICS": "true",
        },
    )
    yield running
    assert stop_server(running)


@pytest.fixture
async def http(rsgi_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=rsgi_server.base_url, timeout=30) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["type"]) == (status, f"/problems/{slug}")
    assert body["request_id"] == response.headers["x-request-id"]


async def test_post_then_get_by_id_with_request_ids(
    http: httpx.AsyncClient, rsgi_server: Server
) -> None:
    created = await http.post(
        "/v1/messages",
        json={"text": "over rsgi é", "tag": "Rsgi"},
        headers={**USER, "X-Request-ID": "post-1"},
    )
    assert created.status_code == 201, created.text
    assert created.headers["x-request-id"] == "post-1"
    message = created.json()
    assert (message["text"], message["tag"], message["user_id"]) == (
        "over rsgi é",
        "rsgi",
        "streamer",
    )
    assert created.headers["location"] == f"/v1/messages/{message['id']}"

    got = await http.get(created.headers["location"], headers=USER)
    assert got.status_code == 200
    assert got.json() == message
    assert got.headers["content-type"] == "application/json"
    assert int(got.headers["tagfeed-position"]) >= int(created.headers["tagfeed-position"])
    assert GENERATED_ID.fullmatch(got.headers["x-request-id"])
    # One access-log line per request, with the id and the user.
    rsgi_server.wait_for_log('"request_id":"post-1"')
    line = next(json.loads(x) for x in rsgi_server.log_lines() if '"request_id":"post-1"' in x)
    assert (line["method"], line["path"], line["status"], line["user_id"]) == (
        "POST", "/v1/messages", 201, "streamer"
    )  # fmt: skip


async def test_an_unusable_request_id_is_replaced(http: httpx.AsyncClient) -> None:
    answer = await http.get("/v1/messages/none-such", headers={**USER, "X-Request-ID": "a b"})
    assert_problem(answer, 404, "not-found")
    assert GENERATED_ID.fullmatch(answer.headers["x-request-id"])


async def test_a_body_over_the_bound_is_a_413_declared_or_streamed(
    http: httpx.AsyncClient,
) -> None:
    big = json.dumps({"text": "x" * BODY_LIMIT, "tag": "big"}).encode()
    headers = {**USER, "Content-Type": "application/json"}
    assert_problem(
        await http.post("/v1/messages", content=big, headers=headers), 413, "content-too-large"
    )

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: sent chunked
        for start in range(0, len(big), 100):
            yield big[start : start + 100]

    streamed = await http.post("/v1/messages", content=chunks(), headers=headers)
    assert "content-length" not in streamed.request.headers
    assert_problem(streamed, 413, "content-too-large")


async def test_bad_json_and_a_missing_user_are_problems(http: httpx.AsyncClient) -> None:
    bad = await http.post(
        "/v1/messages", content=b"{not json", headers={**USER, "Content-Type": "application/json"}
    )
    assert_problem(bad, 400, "invalid-request")
    assert_problem(await http.get("/v1/messages?tag=rsgi"), 403, "forbidden")
    # granian's RSGI headers leave out a value that is not visible ASCII: the same 403,
    # for another reason than over ASGI (test_the_asgi_interface_serves_by_default).
    odd = await http.get("/v1/messages?tag=rsgi", headers=NOT_ASCII_USER)
    assert_problem(odd, 403, "forbidden")
    assert odd.json()["detail"] == "X-User-ID header is required"


async def test_the_rest_goes_to_the_app_behind(http: httpx.AsyncClient) -> None:
    head = await http.head("/v1/messages?tag=rsgi", headers={**USER, "X-Request-ID": "head-1"})
    assert head.status_code == 200
    assert (head.headers["x-request-id"], head.content) == ("head-1", b"")
    refused = await http.put("/v1/messages", headers=USER)
    assert_problem(refused, 405, "method-not-allowed")
    assert set(refused.headers["allow"].split(", ")) == {"HEAD", "GET", "POST"}
    missing = await http.get("/v1/nowhere", headers={"X-Request-ID": "lost-1"})
    assert_problem(missing, 404, "not-found")
    assert missing.headers["x-request-id"] == "lost-1"
    assert missing.json()["detail"] == "no such path: /v1/nowhere"
    document = await http.get("/openapi.json")
    assert document.status_code == 200
    assert "/v1/messages/{message_id}" in document.json()["paths"]
    docs = await http.get("/docs")
    assert (docs.status_code, docs.headers["content-type"].split(";")[0]) == (200, "text/html")


async def test_metrics_count_both_ways_by_route_template(http: httpx.AsyncClient) -> None:
    await http.get("/v1/messages/some-id", headers=USER)
    await http.put("/v1/messages", headers=USER)
    scraped = (await http.get("/metrics")).text
    direct = (
        'tagfeed_http_requests_total{method="GET",route="/v1/messages/{message_id}",status="404"}'
    )
    behind = 'tagfeed_http_requests_total{method="PUT",route="/v1/messages",status="405"}'
    assert direct in scraped
    assert behind in scraped


def streams_open(scraped: str) -> float:
    (line,) = [x for x in scraped.splitlines() if x.startswith("tagfeed_streams_open")]
    return float(line.rpartition(" ")[2])


async def test_a_stream_receives_a_post_and_is_freed_when_its_client_leaves(
    http: httpx.AsyncClient,
) -> None:
    async with stream(http, "?tag=live-rsgi") as live:
        assert live.response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert GENERATED_ID.fullmatch(live.response.headers["x-request-id"])
        created = await http.post(
            "/v1/messages", json={"text": "live", "tag": "live-rsgi"}, headers=USER
        )
        event = await live.next_event()
        assert (event.id, event.data) == (created.headers["tagfeed-position"], [created.text])
        assert streams_open((await http.get("/metrics")).text) == 1
    # The client has gone: the stream notices within a heartbeat and gives its place back.
    deadline = time.monotonic() + 10
    while streams_open((await http.get("/metrics")).text) != 0:
        assert time.monotonic() < deadline, "the stream of a departed client was never freed"
        await asyncio.sleep(0.1)


async def test_heartbeats_flow_on_an_idle_stream(http: httpx.AsyncClient) -> None:
    async with stream(http, "?tag=quiet-rsgi") as idle:
        with pytest.raises(TimeoutError):
            await idle.next_event(within=HEARTBEAT * 2 + 1)
        assert idle.comments[:2] == ["heartbeat", "heartbeat"]


def test_a_stream_s_head_comes_at_once_and_a_raw_socket_that_leaves_is_freed(
    rsgi_server: Server,
) -> None:
    port = int(rsgi_server.base_url.rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /v1/messages/stream HTTP/1.1\r\nHost: t\r\nX-User-ID: raw\r\n\r\n")
        sock.settimeout(HEARTBEAT - 0.5)  # before the first heartbeat: the head alone
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + 10
    while streams_open(httpx.get(f"{rsgi_server.base_url}/metrics").text) != 0:
        assert time.monotonic() < deadline, "the stream of a departed client was never freed"
        time.sleep(0.1)


def test_the_asgi_interface_serves_by_default(sqlite_url: str, tmp_path: Path) -> None:
    server = start_server(sqlite_url, tmp_path / "server.log")
    try:
        created = httpx.post(
            f"{server.base_url}/v1/messages", json={"text": "a", "tag": "b"}, headers=USER
        )
        assert created.status_code == 201
        got = httpx.get(server.base_url + created.headers["location"], headers=USER)
        assert got.json() == created.json()
        assert httpx.put(f"{server.base_url}/v1/messages", headers=USER).status_code == 405
        odd = httpx.get(f"{server.base_url}/v1/messages", headers=NOT_ASCII_USER)
        assert odd.status_code == 403
        assert odd.json()["detail"].startswith("X-User-ID must be")  # ASGI passes the bytes
    finally:
        assert stop_server(server)
