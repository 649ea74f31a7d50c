"""The HTTP/1.1 protocol tagfeed runs under uvicorn: uvicorn's httptools protocol plus
the bounds it lacks on what a client may send before the app sees a request.

uvicorn (0.54, httptools) times out only an idle keep-alive connection between two
requests, and even that timer is cancelled by any byte. Measured: a new connection that
sends nothing, or a request head sent a byte a second (slowloris), holds its socket
forever; a 100 KB header is accepted, and httptools buffers a header value in memory
until its line ends, however long. This subclass adds, per connection:

- a new connection must begin a request within the keep-alive timeout, else it is closed;
- a request head must be complete within ``read_timeout`` of its first byte, else 408;
- a head over ``max_header_bytes`` gets 414 (the URL alone is too long) or 431, as soon
  as the bytes received show it, so a header without end costs at most that much memory;
- a request httptools cannot parse gets a problem+json 400 instead of text/plain;
- after an answer sent before the request body was all received (413, 403, 415 ...), the
  rest of the body must arrive within ``read_timeout``, and the connection is then idle
  again under the keep-alive timeout.

It also sends each response head together with the first write of its body
(``_OneWriteResponses``): uvicorn writes them separately, two system calls and two TCP
segments where one does.

Every refusal closes the connection and carries ``X-Request-ID`` (the client's when the
parser had read it, else a new one), its body rendered by ``problems.problem`` like every
other problem. The body itself is bounded by the app (``routes._read_body``: size and
``read_timeout``).

Why a subclass of uvicorn's private protocol. Nothing public does this, as of uvicorn
0.54: its settings bound the idle time between requests (``timeout_keep_alive``, reset by
any byte), the number of connections (``limit_concurrency``) and, for the h11 protocol
only, the buffered head (``h11_max_incomplete_event_size``, a 400 rather than 431, and no
timeout); a timeout on the request head was proposed (uvicorn issue #157,
``--timeout-request-start``) and its pull request (#1685) closed unmerged. ASGI
middleware runs only once a head is complete, too late for all of it. Hypercorn has
``h11_max_incomplete_size`` and a per-read ``read_timeout`` (reset by each byte, so no
bound on a slow head), on the slower h11 parser. Granian (hyper) has public
``--http1-header-read-timeout`` and ``--http1-buffer-size``, but answers them with its own
plain responses and would replace the server, its tuning and benchmarks: a migration to
weigh on its own, not a fix. So this module keeps the subclass, pins uvicorn, and
``UVICORN_PRIVATE_NAMES`` lists every private name it relies on;
tests/unit/test_protocol_pin.py fails with a clear message on any other uvicorn version or
when one of these names is gone, and tests/e2e/test_hostile_input.py checks each bound
against the real server.
"""

import functools
import os
import sys
from asyncio import AbstractEventLoop, TimerHandle, Transport
from dataclasses import dataclass
from typing import Any

import structlog
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from tagfeed.api.context import incoming_request_id
from tagfeed.api.problems import problem
from tagfeed.config import load_settings

log = structlog.get_logger("tagfeed.access")

# The uvicorn this module was read against (pyproject.toml pins the same), and the names
# of uvicorn.protocols.http.httptools_impl it uses that uvicorn does not document.
UVICORN_VERSION = "0.54.0"
UVICORN_PRIVATE_NAMES = {
    "module": ("HttpToolsProtocol", "STATUS_LINE"),
    # parser callbacks and hooks overridden (each calls uvicorn's own)
    "HttpToolsProtocol methods": (
        "connection_made",
        "connection_lost",
        "data_received",
        "on_message_begin",
        "on_url",
        "on_headers_complete",
        "on_message_complete",
        "on_response_complete",
        "send_400_response",
    ),
    # instance attributes read
    "HttpToolsProtocol attributes": (
        "loop",
        "transport",
        "timeout_keep_alive",
        "server_state",
        "headers",
        "cycle",
        "pipeline",
    ),
    "RequestResponseCycle attributes": ("transport", "response_complete", "more_body"),
}


@dataclass(frozen=True, slots=True)
class ReadLimits:
    max_header_bytes: int
    read_timeout: float


@functools.cache
def limits_from_environment() -> ReadLimits:
    """Once per process, from the same TAGFEED_* environment the app factory reads."""
    settings = load_settings()
    return ReadLimits(settings.max_header_bytes, settings.read_timeout)


_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _OneWriteResponses:
    """The transport as one request's response cycle sees it. The cycle writes a 100
    Continue (maybe), then the head, then the body in one or more writes. The head is
    held back and goes out with the first body write, in one writelines (one writev),
    or on its own at the end of the loop's current turn if the body is not written in
    it (HEAD, or a streamed body that starts later). Everything else passes through."""

    __slots__ = ("_head", "_head_seen", "_loop", "_transport")

    def __init__(self, transport: Transport, loop: AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.writelines((head, data))
        elif self._head_seen or data == _CONTINUE:
            self._transport.write(data)
        else:
            self._head_seen = True
            self._head = data
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Refused(Exception):
    """Raised from a parser callback to stop httptools once a refusal has been sent."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits_from_environment()
        self._deadline: TimerHandle | None = None
        self._awaiting_head = True  # the next bytes belong to a request head
        self._in_head = False  # a head has begun and is not complete
        self._head_received = 0  # raw bytes received while awaiting a head (an upper bound)
        self._url_bytes = 0
        self._refused = False

    # Deadlines -----------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(seconds, self._deadline_passed)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_head:
            seconds = f"{self._limits.read_timeout:g}"
            self._refuse(408, f"the request head did not arrive within {seconds} s")
        else:
            self.transport.close()

    # Refusals ------------------------------------------------------------------------

    def _refuse(self, status: int, detail: str) -> None:
        """Answer with a problem, then close: the connection's byte stream is no longer
        trustworthy (or wanted), so nothing after it is read."""
        self._refused = True
        self._disarm()
        # The client's X-Request-ID when the parser got that far in this request's head
        # (uvicorn collects the headers of the current request in self.headers).
        request_id = incoming_request_id(self.headers or ()) or os.urandom(16).hex()
        response = problem(
            status, detail, request_id, {"X-Request-ID": request_id, "Connection": "close"}
        )
        head = [STATUS_LINE[status]]
        for name, value in [*self.server_state.default_headers, *response.raw_headers]:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"\r\n")
        self.transport.write(b"".join(head) + bytes(response.body))
        self.transport.close()
        log.warning("request_refused", status=status, detail=detail, request_id=request_id)

    def _refuse_large_head(self) -> None:
        limit = self._limits.max_header_bytes
        if self._url_bytes > limit:
            self._refuse(414, f"the URL must be at most {limit} bytes")
        else:
            self._refuse(431, f"the request line and headers must be at most {limit} bytes")

    def send_400_response(self, msg: str) -> None:
        if self._refused:  # the parser error is our own _Refused
            return
        error = sys.exc_info()[1]  # called from uvicorn's except clause around the parser
        self._refuse(400, f"malformed HTTP request: {error or msg}")

    # uvicorn's protocol interface ----------------------------------------------------

    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.timeout_keep_alive)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._awaiting_head:
            self._head_received += len(data)
        super().data_received(data)
        if (
            self._awaiting_head
            and not self._refused
            and self._head_received > self._limits.max_header_bytes
        ):
            self._refuse_large_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._url_bytes = 0
        self._arm(self._limits.read_timeout)

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        super().on_url(url)

    def on_headers_complete(self) -> None:
        # The raw count may include body bytes that came in the same read; measure the
        # head itself only when that count says it could be too large.
        if self._head_received > self._limits.max_header_bytes:
            size = self._url_bytes + sum(len(n) + len(v) + 4 for n, v in self.headers)
            if size > self._limits.max_header_bytes:
                self._refuse_large_head()
                raise _Refused
        self._awaiting_head = self._in_head = False
        self._head_received = 0
        self._disarm()
        super().on_headers_complete()
        self.cycle.transport = _OneWriteResponses(self.transport, self.loop)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting_head = True
        if self.cycle is not None and self.cycle.response_complete:
            # Answered early: uvicorn's keep-alive timer was cancelled by the body's bytes.
            self._arm(self.timeout_keep_alive)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle
        if not self.pipeline and cycle.more_body and not self.transport.is_closing():
            # Answered before the body was all here; uvicorn reads and drops the rest.
            self._arm(self._limits.read_timeout)
