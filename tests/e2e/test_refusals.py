"""What the real server answers before any route runs: unknown paths (trailing slashes
included) are 404 problems, never a redirect, and the refusals of the HTTP layer
(server/protocol.py) echo the client's X-Request-ID when the head got far enough to
read it (docs/api.md, "Operations")."""

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


def refusal(server: Server, request: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    """Send raw bytes; the status, headers and problem of the answer (which closes)."""
    host, _, port = server.base_url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=READ_TIMEOUT * 5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    assert headers["content-type"] == "application/problem+json", data
    assert headers["connection"] == "close"
    problem = json.loads(body)
    assert problem["request_id"] == headers["x-request-id"]
    return int(status_line.split()[1]), headers, problem


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
        # a head that never ends (the parser has read a header once the next one begins)
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + ID_HEADER + b"X-Slow: 1\r\nX-Sl", 408),
    ],
    ids=["400", "431", "408"],
)
def test_a_protocol_refusal_echoes_the_request_id_it_read(
    server: Server, request_bytes: bytes, status: int
) -> None:
    answered, headers, problem = refusal(server, request_bytes)
    assert answered == status, problem
    assert headers["x-request-id"] == CLIENT_ID


def test_a_refusal_before_any_header_makes_a_new_request_id(server: Server) -> None:
    long_url = b"/healthz?" + b"a" * (MAX_HEADER_BYTES + 100)
    answered, headers, _ = refusal(server, b"GET " + long_url + b" HTTP/1.1\r\n" + ID_HEADER)
    assert answered == 414
    assert len(headers["x-request-id"]) == 32
    assert headers["x-request-id"] != CLIENT_ID
