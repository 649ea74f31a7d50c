"""The framing cases of HTTP/1.1 against the real server (granian): a head without a
body (HEAD), something sent before the head (100 Continue), pipelined requests."""

import socket
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Server, start_server, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("writes")
    running = start_server(f"sqlite:///{directory / 'tagfeed.db'}", directory / "server.log")
    yield running
    assert stop_server(running)


def connect(server: Server) -> socket.socket:
    host, _, port = server.base_url.removeprefix("http://").partition(":")
    return socket.create_connection((host, int(port)), timeout=5)


def read_answer(sock: socket.socket, buffer: bytearray, *, has_body: bool = True) -> bytes:
    """One whole answer from ``buffer`` and the socket (Content-Length framed)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        buffer += chunk
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    end = len(head) + 4 + (length if has_body else 0)
    while len(buffer) < end:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        buffer += chunk
    answer = bytes(buffer[:end])
    del buffer[:end]
    return answer


def test_a_head_request_gets_its_headers_and_the_connection_goes_on(server: Server) -> None:
    with connect(server) as sock:
        buffer = bytearray()
        sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        head = read_answer(sock, buffer, has_body=False)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"content-length: 15" in head.lower()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        get = read_answer(sock, buffer)
        assert get.startswith(b"HTTP/1.1 200 ")
        assert get.endswith(b'{"status":"ok"}')
        assert buffer == b""


def test_expect_100_continue_is_answered_before_the_body_is_sent(server: Server) -> None:
    body = b'{"text":"after a 100","tag":"writes"}'
    with connect(server) as sock:
        buffer = bytearray()
        sock.sendall(
            b"POST /v1/messages HTTP/1.1\r\nHost: t\r\nX-User-ID: u1\r\n"
            b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        assert read_answer(sock, buffer, has_body=False) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        created = read_answer(sock, buffer)
        assert created.startswith(b"HTTP/1.1 201 ")
        assert b'"text":"after a 100"' in created


def test_pipelined_requests_get_whole_answers_in_order(server: Server) -> None:
    with connect(server) as sock:
        buffer = bytearray()
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /v1/messages/nope HTTP/1.1\r\nHost: t\r\nX-User-ID: u1\r\n\r\n"
            b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        answers = [read_answer(sock, buffer) for _ in range(3)]
        assert [a.split(b" ", 2)[1] for a in answers] == [b"200", b"404", b"200"]
        assert answers[0].endswith(b'{"status":"ok"}')
        assert answers[2].endswith(b'{"status":"ready"}')
