"""Hostile input against the real server process, over raw sockets where a well-behaved
client library would refuse to send it (docs/reliability.md, "Hostile input"): every case
the app sees gets a 4xx problem+json; what the HTTP server (granian) refuses before any
app runs gets a bare 400 or 431 with an empty body and a closed connection, or, for a head
that does not arrive in time, a close without an answer at TAGFEED_READ_TIMEOUT. Never a
500 and never a hang.

The server runs with TAGFEED_READ_TIMEOUT=2 so the slow-client cases take seconds;
every socket has a timeout, so a hang fails the test instead of blocking it.
"""

import asyncio
import contextlib
import json
import resource
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server

READ_TIMEOUT = 2.0  # also how long granian keeps an idle connection open
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADER_FIELDS = 100  # hyper's fixed limit
USER = b"X-User-ID: hostile\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("hostile")
    running = start_server(
        f"sqlite:///{directory / 'tagfeed.db'}",
        directory / "server.log",
        env={"TAGFEED_READ_TIMEOUT": str(READ_TIMEOUT)},
    )
    yield running
    assert stop_server(running)
    assert "Traceback" not in running.log_path.read_text()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after answering

    def problem(self) -> dict[str, object]:
        assert self.headers["content-type"] == "application/problem+json", self
        problem = json.loads(self.body)
        assert problem["status"] == self.status
        assert problem["request_id"] == self.headers["x-request-id"]
        return problem  # type: ignore[no-any-return]


def address(server: Server) -> tuple[str, int]:
    host, _, port = server.base_url.removeprefix("http://").partition(":")
    return host, int(port)


def read_answer(sock: socket.socket, within: float) -> Answer | None:
    """The response on ``sock``, or None when the server closed (or reset) without one.
    Fails when nothing happens ``within`` seconds: that is a hang."""
    sock.settimeout(within)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        while len(body) < int(headers.get("content-length", "0")):
            chunk = sock.recv(65536)
            assert chunk, "the connection closed in the middle of a response"
            body += chunk
        sock.settimeout(0.5)  # a refusal closes at once; a kept-alive connection stays
        try:
            closed = sock.recv(1) == b""
        except ConnectionResetError:  # closed with what we sent unread: after the answer
            closed = True
    except ConnectionResetError:
        return None
    except TimeoutError:
        if not data:
            raise AssertionError(f"no answer within {within} s: the server hangs") from None
        closed = False
    return Answer(int(status_line.split()[1]), headers, body, closed)


def exchange(server: Server, data: bytes, within: float = 5.0) -> Answer | None:
    with socket.create_connection(address(server), timeout=within) as sock:
        # The server may refuse before all is sent; its answer may still be readable.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        return read_answer(sock, within)


def answered(server: Server, data: bytes, within: float = 5.0) -> Answer:
    answer = exchange(server, data, within)
    assert answer is not None, "the server closed the connection without an answer"
    return answer


# Connection: close, so that reading to the end of an answer the app gave takes no time.
CLOSE = b"Connection: close\r\n"


def post(body: bytes) -> bytes:
    return (
        b"POST /v1/messages HTTP/1.1\r\nHost: t\r\n" + USER + CLOSE
        + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )  # fmt: skip


def get(target: bytes, *headers: bytes) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n" + b"".join(headers) + b"\r\n"


def assert_refused(answer: Answer, status: int, mentions: str) -> None:
    assert answer.status == status, answer
    assert mentions in str(answer.problem()["detail"]), answer


def assert_refused_by_the_server(answer: Answer, status: int) -> None:
    """A refusal of granian's, before any app runs: the status, no body, and a close."""
    assert answer.status == status, answer
    assert answer.headers["content-length"] == "0", answer
    assert answer.body == b"", answer
    assert answer.headers["connection"] == "close", answer
    assert answer.closed, answer


# Bytes that are not UTF-8 ----------------------------------------------------------


def test_invalid_utf8_in_the_body_is_a_400(server: Server) -> None:
    assert_refused(answered(server, post(b'{"text": "\xff\xfe", "tag": "x"}')), 400, "body:")
    assert_refused(answered(server, post(b'{"text": "a", "tag": "\xc3"}')), 400, "body:")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (b"tag=%FF%FE", "tag"),
        (b"dateStart=%FF", "dateStart"),
        (b"dateEnd=2026-01-0%C3", "dateEnd"),
        (b"cursor=%FF%FE", "cursor"),
        (b"limit=%FF", "limit"),
        (b"count=%FF", "count"),
    ],
)
def test_percent_encoded_invalid_utf8_in_the_query_is_a_400_naming_it(
    server: Server, query: bytes, field: str
) -> None:
    assert_refused(answered(server, get(b"/v1/messages?" + query, USER, CLOSE)), 400, field)


def test_raw_bytes_over_0x7f_in_the_url_are_a_4xx(server: Server) -> None:
    """Bytes that are not UTF-8 are refused by granian; raw UTF-8 reaches the app, which
    refuses it as it would any other wrong value."""
    for target in (b"/v1/messages?tag=\xff\xfe", b"/v1/messages/\xff"):
        assert_refused_by_the_server(answered(server, get(target, USER)), 400)
    assert_refused(answered(server, get(b"/v1/messages?tag=\xc3\xa9", USER, CLOSE)), 400, "tag")
    assert_refused(answered(server, get(b"/v1/messages/\xc3\xa9", USER, CLOSE)), 404, "no message")


def test_bytes_over_0x7f_in_header_values(server: Server) -> None:
    for user in (b"X-User-ID: \xff\xfeu\r\n", b"X-User-ID: \xc3\xa9\r\n"):
        assert_refused(answered(server, get(b"/v1/messages", user, CLOSE)), 403, "X-User-ID")
    answer = answered(server, get(b"/healthz", b"X-Request-ID: r\xe9q\r\n", CLOSE))
    assert answer.status == 200
    assert answer.headers["x-request-id"] != "r\xe9q"  # replaced, not echoed
    media = b"Content-Type: application/json; charset=\xff\r\n"
    body = b'{"text": "a", "tag": "x"}'
    raw = (
        b"POST /v1/messages HTTP/1.1\r\nHost: t\r\n" + USER + CLOSE + media
        + b"Content-Length: %d\r\n\r\n" % len(body) + body
    )  # fmt: skip
    assert_refused(answered(server, raw), 415, "Content-Type")


# NUL -------------------------------------------------------------------------------


def test_nul_in_text_and_tag_is_a_400_naming_the_field(server: Server) -> None:
    assert_refused(answered(server, post(b'{"text": "a\\u0000b", "tag": "x"}')), 400, "text:")
    assert_refused(answered(server, post(b'{"text": "a", "tag": "x\\u0000"}')), 400, "tag:")
    # Unescaped, a NUL is not JSON at all.
    assert_refused(answered(server, post(b'{"text": "a\x00b", "tag": "x"}')), 400, "body:")


def test_nul_in_a_header_or_the_url_is_a_400_and_a_closed_connection(server: Server) -> None:
    for raw in (get(b"/healthz", b"X-A: a\x00b\r\n"), get(b"/v1/messages?tag=a\x00", USER)):
        assert_refused_by_the_server(answered(server, raw), 400)


# JSON that parsers disagree on ------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "first", "text": "second", "tag": "x"}',
        b'{"text": "first", "t\\u0065xt": "second", "tag": "x"}',  # the same name, escaped
        b'{"text": "a", "tag": "x", "tag": "y"}',
        b'{"text": "a", "tag": "x", "extra": {"k": 1, "k": 2}}',  # even where it is ignored
    ],
)
def test_a_repeated_member_name_is_a_400(server: Server, body: bytes) -> None:
    assert_refused(answered(server, post(body)), 400, "repeats the member name")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(server: Server, literal: bytes) -> None:
    body = b'{"text": "a", "tag": "x", "n": ' + literal + b"}"
    assert_refused(answered(server, post(body)), 400, "is not valid JSON")


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        (b"[" * 10_000 + b"]" * 10_000, "body: must be a JSON object"),
        (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "body: is nested too deeply"),
        (b'{"text": "a", "tag": "x", "n": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "nested"),
        (b'{"text": ' + b'{"a":' * 10_000 + b"1" + b"}" * 10_001, "text:"),
    ],
    ids=["arrays", "objects", "arrays-in-an-ignored-field", "objects-in-text"],
)
def test_10000_deep_nesting_is_a_400(server: Server, body: bytes, mentions: str) -> None:
    assert_refused(answered(server, post(body)), 400, mentions)


@pytest.mark.parametrize(
    "query",
    [
        "granularity=minute&dateEnd=0001-01-01",  # its default start would be before year 1
        "granularity=day&dateStart=9999-12-01&dateEnd=9999-12-31T23:59:59Z",  # ends in 10000
    ],
)
def test_dates_at_the_ends_of_the_calendar_are_a_400(server: Server, query: str) -> None:
    response = httpx.get(
        f"{server.base_url}/v1/messages/counts?{query}", headers={"X-User-ID": "u"}
    )
    assert response.status_code == 400, response.text
    assert "year 1 or 9999" in response.json()["detail"]


def test_instants_in_year_1_are_written_with_four_digits(server: Server) -> None:
    response = httpx.get(
        f"{server.base_url}/v1/messages/counts",
        params={
            "granularity": "hour",
            "dateStart": "0001-01-02",
            "dateEnd": "0001-01-02T02:00:00Z",
        },
        headers={"X-User-ID": "u"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["buckets"][0]["start"] == "0001-01-02T00:00:00.000000Z"


# Sizes -----------------------------------------------------------------------------


def test_a_1_gb_content_length_is_refused_at_once(server: Server) -> None:
    started = time.monotonic()
    head = (
        b"POST /v1/messages HTTP/1.1\r\nHost: t\r\n" + USER
        + b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
    )  # fmt: skip
    answer = answered(server, head + b'{"text": "a", "tag": "x"}', within=3)
    assert_refused(answer, 413, "at most 65536 bytes")
    assert answer.headers["connection"] == "close"
    assert answer.closed
    # Waiting for the body would end in a 408 after READ_TIMEOUT: anything short of that
    # is "at once", with room for a loaded machine.
    assert time.monotonic() - started < READ_TIMEOUT


# The server answers an oversized head before it has read all of it, then closes; the
# rest of what the client sends is refused with a reset. The answer, sent before the
# reset, stays readable (Linux keeps received data readable after a reset), so each
# of these must be answered: a server that just closed the connection fails them.


def test_a_100_kb_header_is_a_431(server: Server) -> None:
    answer = answered(server, get(b"/healthz", b"X-Big: " + b"a" * 100_000 + b"\r\n"))
    assert_refused_by_the_server(answer, 431)


def test_a_100_kb_query_string_is_a_431(server: Server) -> None:
    """The URL counts in the head: granian has no 414 of its own."""
    answer = answered(server, get(b"/v1/messages?tag=" + b"a" * 100_000, USER))
    assert_refused_by_the_server(answer, 431)


def test_headers_within_the_byte_limit_are_fine_and_twice_as_many_are_not(
    server: Server,
) -> None:
    headers = [b"X-H%d: %s\r\n" % (i, b"v" * 250) for i in range(45)]  # ~11.7 KB
    assert answered(server, get(b"/healthz", *headers, CLOSE)).status == 200
    answer = answered(server, get(b"/healthz", *headers, *headers))  # ~23 KB
    assert_refused_by_the_server(answer, 431)


def test_100_header_fields_are_fine_and_101_are_not(server: Server) -> None:
    """hyper's fixed bound on the number of fields, whatever their size."""
    host_and_close = 2
    headers = [b"X-H%d: v\r\n" % i for i in range(MAX_HEADER_FIELDS - host_and_close)]
    assert answered(server, get(b"/healthz", *headers, CLOSE)).status == 200
    answer = answered(server, get(b"/healthz", *headers, b"X-One-More: v\r\n", CLOSE))
    assert_refused_by_the_server(answer, 431)


def test_a_header_that_never_ends_is_refused_before_it_does(server: Server) -> None:
    with socket.create_connection(address(server), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Endless: ")
        sent = 0
        # httptools would buffer the value until its line ends; we stop at the limit.
        # Refused and closed while we are still sending, we stop sending and read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < 2 * MAX_HEADER_BYTES:
                sock.sendall(b"a" * 1024)
                sent += 1024
        answer = read_answer(sock, 5)
    assert answer is not None, "the server closed the connection without an answer"
    assert_refused_by_the_server(answer, 431)


def test_malformed_request_lines_are_a_400(server: Server) -> None:
    for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET /\x01 HTTP/1.1\r\n\r\n"):
        assert_refused_by_the_server(answered(server, raw), 400)


# Slow and idle clients -------------------------------------------------------------


def test_a_head_that_does_not_arrive_in_time_is_closed_at_the_read_timeout(
    server: Server,
) -> None:
    """granian (hyper) sends no 408 for a head: it closes the connection, in time."""
    with socket.create_connection(address(server), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")  # no blank line: unfinished
        answer = read_answer(sock, READ_TIMEOUT + 3)
        took = time.monotonic() - started
    assert answer is None, answer
    assert READ_TIMEOUT - 0.5 < took < READ_TIMEOUT + 2, took


def test_a_body_that_does_not_arrive_in_time_is_a_408(server: Server) -> None:
    with socket.create_connection(address(server), timeout=5) as sock:
        sock.sendall(post(b'{"text": "a", "tag": "x"}')[:-10])  # ten bytes short
        answer = read_answer(sock, READ_TIMEOUT + 3)
    assert answer is not None
    assert_refused(answer, 408, "body did not arrive within 2 s")
    assert answer.closed


def test_the_rest_of_an_early_refused_body_cannot_hold_the_connection(server: Server) -> None:
    """A 403 goes out before the body is read; dribbling the rest keeps nothing open."""
    head = b"POST /v1/messages HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"
    with socket.create_connection(address(server), timeout=5) as sock:
        sock.sendall(head + b"{")
        answer = read_answer(sock, 3)
        assert answer is not None
        assert answer.status == 403
        assert _seconds_until_closed(sock, dribble=b" ", limit=READ_TIMEOUT + 5) < READ_TIMEOUT + 2


def _seconds_until_closed(sock: socket.socket, dribble: bytes, limit: float) -> float:
    """Send ``dribble`` every 0.2 s until the server closes the connection."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            sock.sendall(dribble)
            time.sleep(0.2)
            sock.settimeout(0.01)
            if sock.recv(1) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started
    raise AssertionError(f"the connection was still open after {limit} s")


async def _timed_get(client: httpx.AsyncClient) -> float:
    started = time.monotonic()
    response = await client.get("/v1/messages", params={"limit": "5"})
    assert response.status_code == 200
    return time.monotonic() - started


async def _served_promptly(server: Server, seconds: float) -> list[float]:
    """A well-behaved client's request latencies over ``seconds``, each on a new
    connection (a pooled one would hide a server that accepts no more)."""
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with httpx.AsyncClient(
            base_url=server.base_url, headers={"X-User-ID": "well-behaved"}, timeout=5
        ) as client:
            latencies.append(await _timed_get(client))
        await asyncio.sleep(0.1)
    return latencies


async def _dribble_a_head(server: Server) -> tuple[float, bytes]:
    """Send a request head one byte every 0.5 s until the server gives up on it;
    returns how long that took and what the server said (b"" for a plain close)."""
    host, port = address(server)
    reader, writer = await asyncio.open_connection(host, port)
    head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"s" * 1000
    started = time.monotonic()
    try:
        for byte in head:
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                said = await asyncio.wait_for(reader.read(65536), 0.5)
            except TimeoutError:
                continue
            return time.monotonic() - started, said
        raise AssertionError("the server let a head take 500 s")
    except (BrokenPipeError, ConnectionResetError):
        return time.monotonic() - started, b""
    finally:
        writer.close()


async def test_slowloris_neither_blocks_others_nor_lasts(server: Server) -> None:
    dribblers = [asyncio.create_task(_dribble_a_head(server)) for _ in range(50)]
    await asyncio.sleep(0.5)  # all 50 are connected and dribbling
    latencies = await _served_promptly(server, 1.0)
    assert latencies, "no request completed"
    assert max(latencies) < 1.0, latencies
    outcomes = await asyncio.wait_for(asyncio.gather(*dribblers), READ_TIMEOUT + 10)
    for took, said in outcomes:
        # closed at the read timeout, without an answer (granian sends no 408 for a head)
        assert READ_TIMEOUT - 0.5 < took < READ_TIMEOUT + 2, outcomes
        assert said == b"", said


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


async def test_1000_idle_connections_neither_block_others_nor_last(server: Server) -> None:
    _raise_fd_limit(1200)
    idle = []
    try:
        for _ in range(1000):
            sock = socket.socket()
            sock.settimeout(5)
            sock.connect(address(server))
            idle.append(sock)
        latencies = await _served_promptly(server, 1.0)
        assert latencies, "no request completed"
        assert max(latencies) < 1.0, latencies
        # Each idle connection is closed within the read timeout of its opening.
        deadline = time.monotonic() + READ_TIMEOUT + 3
        for sock in idle:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                assert sock.recv(1) == b""
            except ConnectionResetError:
                pass
            except TimeoutError:
                raise AssertionError("an idle connection outlived the keep-alive timeout") from None
    finally:
        for sock in idle:
            sock.close()
