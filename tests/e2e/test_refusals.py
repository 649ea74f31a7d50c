"""What the real server answers before any route runs: unknown paths (trailing slashes
included) are 404 problems, never a redirect; the refusals of the HTTP server itself
(granian: malformed or oversized heads) are bare, while every refusal of the app echoes
the client's X-Request-ID (docs/api.md, "Operations")."""

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server

READ_TIMEOUT = 2.0
MAX_HEADER_BYTES = 16 * 1024
CLIENT_ID = "client-chosen-id-42"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("refusals")
    running = start_server(
        f"sqlite:///{directory / 'tagfeed.db'}",
        directory / "server.log",
        env={"TAGFEED_READ_TIMEOUT": str(READ_TIMEOUT)},
    )
    yield running
    assert stop_server(running)


@pytest.mark.parametrize(
    "path", ["/v1/messages/", "/v1/messages/counts/", "/healthz/", "/readyz/", "/nowhere"]
)
def test_an_unknown_path_is_a_404_problem_and_never_a_redirect(server: Server, path: str) -> None:
    answer = httpx.get(
        server.base_url + path,
        headers={"Host": "api.example.com", "X-User-ID": "u"},
        follow_redirects=False,
    )
    assert answer.status_code == 404, answer
    assert "location" not in answer.headers
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == f"no such path: {path}"


def raw_answer(server: Server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; the status, headers and body of the answer (which closes)."""
    host, _, port = server.base_url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=READ_TIMEOUT * 5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


ID_HEADER = f"X-Request-ID: {CLIENT_ID}\r\n".encode()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        # a header with a NUL after the id: malformed
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + ID_HEADER + b"X-Bad: a\x00b\r\n\r\n", 400),
        # headers over the limit after the id
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + ID_HEADER
            + b"X-Big: "
            + b"a" * (MAX_HEADER_BYTES + 100)
            + b"\r\n\r\n",
            431,
        ),
    ],
    ids=["400", "431"],
)
def test_a_refusal_of_the_http_server_is_bare(
    server: Server, request_bytes: bytes, status: int
) -> None:
    """granian answers these before any app runs: no problem, no X-Request-ID, even when
    the client sent one (docs/api.md, "Refusals before the app"); the connection closes."""
    answered, headers, body = raw_answer(server, request_bytes)
    assert answered == status
    assert body == b""
    assert "x-request-id" not in headers
    assert "content-type" not in headers
    assert headers["connection"] == "close"


def test_the_app_s_own_refusals_echo_the_request_id(server: Server) -> None:
    request = b"GET /v1/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + ID_HEADER
    answered, headers, body = raw_answer(server, request + b"\r\n")
    assert answered == 403  # no X-User-ID
    assert headers["x-request-id"] == CLIENT_ID
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["request_id"] == CLIENT_ID
