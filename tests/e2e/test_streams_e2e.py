"""GET /v1/messages/stream against the real server process, read by a real SSE client
(httpx streaming, events parsed as the SSE format has them): post and receive; disconnect
and resume with Last-Event-ID, receiving exactly the missed events; the heartbeat; the
cap; a client that stops reading dropped while the others go on; SIGTERM ends the
streams at once instead of holding the shutdown; 1,100 open streams hold no request up."""

import asyncio
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server
from tests.e2e.sse_client import USER, stream


async def post(http: httpx.AsyncClient, text: str, tag: str) -> httpx.Response:
    response = await http.post("/v1/messages", json={"text": text, "tag": tag}, headers=USER)
    assert response.status_code == 201, response.text
    return response


def client(server: Server) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, timeout=30)


async def test_post_receive_disconnect_resume_with_last_event_id(server: Server) -> None:
    async with client(server) as http:
        async with stream(http, "?tag=Live") as live:
            created = await post(http, "first", "live")
            await post(http, "elsewhere", "other")
            event = await live.next_event()
            assert event.event == "message"
            assert event.id == created.headers["tagfeed-position"]
            assert event.data == [created.text]  # the message JSON as the POST answered it
        missed = [await post(http, f"missed {n}", "live") for n in range(3)]
        await post(http, "not mine", "other")
        async with stream(http, "?tag=live", {"Last-Event-ID": event.id}) as resumed:
            got = [await resumed.next_event() for _ in missed]
            assert [e.id for e in got] == [m.headers["tagfeed-position"] for m in missed]
            assert [e.data for e in got] == [[m.text] for m in missed]
            after = await post(http, "live again", "live")
            assert (await resumed.next_event()).id == after.headers["tagfeed-position"]
        # ?after= does the same, for clients that cannot set a header.
        async with stream(http, f"?tag=live&after={missed[1].headers['tagfeed-position']}") as s:
            assert (await s.next_event()).id == missed[2].headers["tagfeed-position"]
            assert (await s.next_event()).id == after.headers["tagfeed-position"]


@pytest.fixture
def tight_server(sqlite_url: str, tmp_path: Path) -> Iterator[Server]:
    """Small bounds, to reach them in a test: two streams, a heartbeat every half
    second, queues of 10 events, big messages (to fill socket buffers quickly)."""
    running = start_server(
        sqlite_url,
        tmp_path / "server.log",
        env={
            "TAGFEED_STREAM_MAX_CLIENTS": "2",
            "TAGFEED_STREAM_HEARTBEAT_SECONDS": "0.5",
            "TAGFEED_STREAM_QUEUE_EVENTS": "10",
            "TAGFEED_MAX_TEXT_LENGTH": "60000",
            "TAGFEED_MAX_BODY_BYTES": "1048576",
        },
    )
    yield running
    stop_server(running)


async def test_an_idle_stream_gets_heartbeats(tight_server: Server) -> None:
    async with client(tight_server) as http, stream(http) as idle:
        started = time.monotonic()
        await asyncio.sleep(1.2)
        created = await post(http, "late", "beat")
        assert (await idle.next_event()).id == created.headers["tagfeed-position"]
        assert idle.comments[:2] == ["heartbeat", "heartbeat"]
        assert time.monotonic() - started >= 1.0


async def test_beyond_the_cap_a_stream_is_a_503_with_retry_after(tight_server: Server) -> None:
    async with client(tight_server) as http:
        async with stream(http), stream(http, "?tag=a"):
            refused = await http.get("/v1/messages/stream", headers=USER)
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "2"
            assert "TAGFEED_STREAM_MAX_CLIENTS" in refused.json()["detail"]
        # the places are given back when clients leave
        deadline = time.monotonic() + 10
        while True:
            async with http.stream("GET", "/v1/messages/stream", headers=USER) as again:
                if again.status_code == 200 or time.monotonic() > deadline:
                    assert again.status_code == 200
                    break
            await asyncio.sleep(0.1)


async def test_a_client_that_stops_reading_is_dropped_and_the_others_go_on(
    tight_server: Server,
) -> None:
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", int(tight_server.base_url.rpartition(":")[2])))
    stuck.sendall(b"GET /v1/messages/stream HTTP/1.1\r\nHost: t\r\nX-User-ID: stuck\r\n\r\n")
    text = "x" * 50_000
    async with client(tight_server) as http, stream(http, "?tag=big") as reader:
        posted = 0
        # Kernel buffers (a few MB on loopback) fill first, then the queue of 10.
        while '"stream_dropped"' not in tight_server.log_path.read_text():
            assert posted < 1000, "the client that reads nothing was never dropped"
            await post(http, text, "big")
            assert (await reader.next_event()).event == "message"
            posted += 1
        assert posted > 10
        # The stuck client's connection is closed: after its buffered bytes, EOF.
        stuck.settimeout(10)
        while chunk := stuck.recv(1 << 20):
            assert chunk
        # and the reader was never held up: it got every post.
        last = await post(http, "after the drop", "big")
        assert (await reader.next_event()).id == last.headers["tagfeed-position"]
    stuck.close()


def test_sigterm_ends_open_streams_at_once(sqlite_url: str, tmp_path: Path) -> None:
    server = start_server(sqlite_url, tmp_path / "server.log")

    async def hold_streams_then_terminate() -> tuple[float, list[bool]]:
        async with client(server) as http:
            ended: list[bool] = []

            async def hold(query: str) -> None:
                async with stream(http, query) as reader:
                    try:
                        await reader.next_event(within=30)
                    except EOFError:
                        ended.append(True)  # a clean end of the response

            holders = [asyncio.create_task(hold(q)) for q in ("", "?tag=a", "?after=0")]
            await asyncio.sleep(1)
            started = time.monotonic()
            server.process.terminate()
            await asyncio.gather(*holders)
            await asyncio.to_thread(server.process.wait, 15)
            return time.monotonic() - started, ended

    took, ended = asyncio.run(hold_streams_then_terminate())
    assert ended == [True, True, True]
    assert took < 3, took  # else granian would wait for the streams until it kills the worker
    assert stop_server(server)  # exited by itself, store closed


def _open_raw_stream(address: tuple[str, int]) -> socket.socket:
    """A stream on a raw socket, read up to its response head (200); then left alone."""
    sock = socket.create_connection(address, timeout=10)
    sock.sendall(b"GET /v1/messages/stream HTTP/1.1\r\nHost: t\r\nX-User-ID: many\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "the server closed a stream before its head"
        head += chunk
    assert head.startswith(b"HTTP/1.1 200 "), head
    return sock


def test_more_open_streams_than_granian_s_default_backpressure_hold_no_one_up(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A stream is a request that lasts; granian handles at most `backpressure` requests at
    once in a worker (1,024 unless told), so past that every other request would wait for
    a stream to end. server/serving.py makes room for TAGFEED_STREAM_MAX_CLIENTS streams."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2400:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2400, hard), hard))
    server = start_server(sqlite_url, tmp_path / "server.log")
    host, _, port = server.base_url.removeprefix("http://").partition(":")
    streams: list[socket.socket] = []
    try:
        for _ in range(1100):
            streams.append(_open_raw_stream((host, int(port))))
        started = time.monotonic()
        response = httpx.get(f"{server.base_url}/v1/messages/{'0' * 8}", headers=USER, timeout=5)
        assert response.status_code == 404  # answered, and by the app
        assert time.monotonic() - started < 2
    finally:
        for sock in streams:
            sock.close()
        assert stop_server(server)
