"""The app as granian's RSGI interface calls it (``TAGFEED_SERVER_INTERFACE=rsgi``): the
same front as over ASGI (``front.py``), without the ASGI glue on the hot routes. Not the
default: granian's RSGI streams have no backpressure, so a live-stream client that stops
reading is never dropped (docs/architecture.md, "The path of one request").

A request the route table serves with one of its methods (``Routes.find``, the one
matching rule) goes to its handler as over ASGI, with a scope of its own: the few keys the
handlers read, granian's header mapping instead of a header list, and the body read from
``proto`` chunk by chunk, so the size bound holds before the body is all read. Its Reply is
sent with ``proto.response_bytes``. Everything else (HEAD, the 405s with ``Allow``, unknown
paths, the document, the page, ``/metrics``) goes to the Starlette app behind with a full
ASGI scope made from the RSGI one, through ``ProtoChannel``: ``receive`` gives the body and
then ``http.disconnect`` once the client has gone, ``send`` answers a single body with
``response_bytes`` and one sent in parts (``more_body``, a live stream's) with
``response_stream``. A live stream, though in the table, is written through the same
channel. The request id, the log line, the metrics and the problems are the front's own.

``__rsgi_init__`` and ``__rsgi_del__`` run the app's ASGI lifespan (the store, the
reducers, the stream hub) as granian's ASGI interface does (``Lifespan``).
"""

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

import structlog

# granian.rsgi's public names, which mypy takes for private (imported without `as X`)
from granian.rsgi import (  # type: ignore[attr-defined]
    Headers,
    ProtocolClosed,
    ProtocolError,
    Scope,
)
from starlette.types import Message

from tagfeed.api.exchange import Call
from tagfeed.api.front import Front

log = structlog.get_logger("tagfeed")

_ASGI = {"version": "3.0", "spec_version": "2.3"}
_DISCONNECT: Message = {"type": "http.disconnect"}
_LAST_CHUNK: Message = {"type": "http.request", "body": b"", "more_body": False}


class StreamTransport(Protocol):
    async def send_bytes(self, data: bytes) -> None: ...


class HTTPProtocol(Protocol):
    """What the front uses of granian's RSGI HTTP protocol object (``granian.rsgi``
    names it, ``_granian.pyi`` types it)."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...
    async def client_disconnect(self) -> None: ...
    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None: ...
    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> StreamTransport: ...


def address(text: str) -> tuple[str, int] | None:
    """ASGI's (host, port) of RSGI's ``host:port`` (``[v6]:port`` for IPv6)."""
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        return None
    return host.removeprefix("[").removesuffix("]"), int(port)


class ProtoChannel:
    """ASGI's ``receive`` and ``send`` over one RSGI request. An object with slots: a
    live stream holds it as long as it is open."""

    __slots__ = ("_body", "_done", "_head", "_status", "_stream", "proto")

    def __init__(self, proto: HTTPProtocol) -> None:
        self.proto = proto
        self._body: AsyncIterator[bytes] | None = None  # made on the first receive
        self._status = 500
        self._head: list[tuple[str, str]] = []
        self._stream: StreamTransport | None = None
        self._done = False

    async def receive(self) -> Message:
        """The body's chunks as they arrive (``more_body`` until the last, empty one),
        then ``http.disconnect`` once the client has gone."""
        if not self._done:
            if self._body is None:
                self._body = aiter(self.proto)
            chunk = b""
            while not chunk:  # granian yields an empty chunk at the end, then stops
                try:
                    chunk = await anext(self._body)
                except StopAsyncIteration:
                    self._done = True
                    return _LAST_CHUNK
                except (ProtocolClosed, ProtocolError):
                    self._done = True
                    return _DISCONNECT
            return {"type": "http.request", "body": chunk, "more_body": True}
        await self.proto.client_disconnect()
        return _DISCONNECT

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self._status = message["status"]
            head = message.get("headers", ())
            self._head = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in head]
            if not any(k == b"content-length" for k, _ in head):
                # A body of unknown length (a live stream's): its head goes out now, as
                # over ASGI, not with its first event; not kept for the stream's life.
                self._stream = self.proto.response_stream(self._status, self._head)
                self._head = []
        elif kind == "http.response.body":
            body: bytes = message.get("body", b"")
            stream = self._stream
            if stream is None:
                if not message.get("more_body", False):
                    self.proto.response_bytes(self._status, self._head, body)
                    return
                stream = self._stream = self.proto.response_stream(self._status, self._head)
            if body:
                # the client has gone: its writes are dropped, as over ASGI
                with contextlib.suppress(ProtocolClosed):
                    await stream.send_bytes(body)


class Lifespan:
    """The ASGI lifespan of ``app``, run by hand: RSGI's init and del hooks are plain
    calls, made before the worker serves and after it has stopped, with its loop idle."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None
        self._started: asyncio.Future[None] | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._stop: asyncio.Event | None = None
        self._sent_startup = False

    async def startup(self) -> None:
        """Run the app's startup; raise RuntimeError when it fails."""
        loop = asyncio.get_running_loop()
        self._started, self._stopped = loop.create_future(), loop.create_future()
        self._stop = asyncio.Event()
        scope = {"type": "lifespan", "asgi": _ASGI, "state": self.state}
        self._task = task = asyncio.create_task(self.app(scope, self._receive, self._send))
        await _reported(task, self._started, "startup")

    async def shutdown(self) -> None:
        """Run the app's shutdown (when its startup ran); raise RuntimeError when it fails."""
        if self._task is None or self._stop is None or self._stopped is None:
            return
        self._stop.set()
        await _reported(self._task, self._stopped, "shutdown")

    async def _receive(self) -> Message:
        if not self._sent_startup:
            self._sent_startup = True
            return {"type": "lifespan.startup"}
        assert self._stop is not None
        await self._stop.wait()
        return {"type": "lifespan.shutdown"}

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        done = self._started if kind.startswith("lifespan.startup.") else self._stopped
        assert done is not None
        if kind.endswith(".failed"):
            done.set_exception(RuntimeError(message.get("message", "")))
        else:
            done.set_result(None)


async def _reported(task: "asyncio.Task[None]", done: "asyncio.Future[None]", step: str) -> None:
    """Wait until the app reports ``step`` done; raise RuntimeError when it reports a
    failure, or its lifespan ends without a word (why, when it raised)."""
    await asyncio.wait([task, done], return_when=asyncio.FIRST_COMPLETED)
    if not done.done():
        error = task.exception() if not task.cancelled() else None
        raise RuntimeError(f"the app's lifespan ended before its {step}") from error
    if done.exception() is not None:
        await asyncio.wait([task])  # Starlette raises on after reporting: let it end
        if not task.cancelled():
            task.exception()  # retrieved: the failure is the one reported
    done.result()


class RsgiFront:
    """The app granian serves over RSGI (``TAGFEED_SERVER_INTERFACE=rsgi``); over ASGI,
    the default, it serves ``front`` itself (``app.app_from_environment``)."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.routes = front.routes
        self.parts = front.parts
        self.lifespan = Lifespan(front)

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            loop.run_until_complete(self.lifespan.startup())
        except Exception as exc:  # as granian does for an ASGI startup that fails
            log.error("startup_failed", error=repr(exc), exc_info=exc)
            sys.exit(1)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self.lifespan.shutdown())

    async def __rsgi__(self, scope: Scope, proto: HTTPProtocol) -> None:
        started = time.perf_counter()
        path, method, headers = scope.path, scope.method, scope.headers
        call_scope: dict[str, Any] = {
            "type": "http",
            "method": method,
            "path": path,
            "root_path": "",
            # granian took the raw query for UTF-8 (it refuses a request otherwise):
            # encoded again, it is ASGI's bytes.
            "query_string": scope.query_string.encode(),
            "headers": headers,
            "client": address(scope.client),
        }
        header = self.front.identify(call_scope)
        channel = ProtoChannel(proto)
        found = self.routes.find(path, method)
        if found is None:
            asgi_scope = self._asgi_scope(scope, headers, call_scope)
            await self.front.behind(asgi_scope, channel.receive, channel.send, header, started)
        else:
            call = Call(call_scope, channel.receive, self.parts, found[1])
            await self.front.direct(found[0], call, channel.send, header, started, proto)

    def _asgi_scope(
        self, scope: Scope, headers: Headers, call_scope: dict[str, Any]
    ) -> dict[str, Any]:
        """The whole ASGI scope of a request for the Starlette app behind."""
        call_scope.update(
            asgi=_ASGI,
            http_version=scope.http_version,
            scheme=scope.scheme,
            server=address(scope.server),
            headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
            state=self.lifespan.state.copy(),
        )
        return call_scope
