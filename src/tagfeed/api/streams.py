"""GET /v1/messages/stream: Server-Sent Events of the log, one ``message`` event per post
(``id:`` its position, ``data:`` the message JSON as the log stores it), fed by the
process's one follower (``service/streams.py``).

The HTTP side: the query and the resume position, the SSE frames (rendered once per
event for every client), a heartbeat comment when a stream has been idle, and the bound on
a client that stops reading: its queue fills (dropped by the hub) or a write stays blocked
for ``TAGFEED_STREAM_WRITE_TIMEOUT_SECONDS``; either way the write is abandoned and the
connection closed. Streams end cleanly when shutdown begins (``StreamHub.end_streams``).
"""

import asyncio
import contextlib

import structlog
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tagfeed.api.exchange import Call
from tagfeed.api.params import query_of, query_value
from tagfeed.api.problems import ApiError, request_id_of
from tagfeed.auth.identity import require_user
from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.positions import parse_position
from tagfeed.domain.tags import normalise_tag
from tagfeed.service.streams import StreamsClosed, StreamsFull, Subscription
from tagfeed.store.errors import StoreError

log = structlog.get_logger("tagfeed.streams")

EVENT_STREAM = "text/event-stream"
LAST_EVENT_ID = "Last-Event-ID"
HEARTBEAT = b": heartbeat\n\n"
# How long a check for a departed client waits for the server to say so: it says it at
# once, a connected client says nothing.
DISCONNECT_CHECK_SECONDS = 0.005
STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx (and proxies that follow it) would otherwise buffer the stream.
    "X-Accel-Buffering": "no",
}


def sse_frame(position: int, payload: bytes) -> bytes:
    """One ``message`` event. A JSON document has no line break outside its strings, but
    the stored bytes are passed through, so any line break is split into data lines."""
    if b"\n" in payload or b"\r" in payload:
        data = b"\n".join(b"data: " + line for line in payload.splitlines())
    else:
        data = b"data: " + payload
    return b"id: %d\nevent: message\n%s\n\n" % (position, data)


def resume_position(call: Call) -> int | None:
    """Where the client resumes: ``Last-Event-ID`` (what a reconnecting EventSource
    sends, so it wins over the URL's ``after``), else ``?after=``, else None (from now
    on). Empty counts as absent; twice, or not a position, is a 400 naming it."""
    ids = call.headers_named(LAST_EVENT_ID.lower().encode())
    if len(ids) > 1:
        raise InvalidInput(LAST_EVENT_ID, f"must be sent at most once, got it {len(ids)} times")
    if ids and ids[0]:
        return parse_position(LAST_EVENT_ID, ids[0])
    after = query_value(query_of(call.scope["query_string"]), "after")
    return None if after is None else parse_position("after", after)


async def stream_messages(call: Call) -> Response:
    require_user(call, call.parts.authenticator)
    raw_tag = query_value(query_of(call.scope["query_string"]), "tag")
    tag = None if raw_tag is None else normalise_tag(raw_tag)
    after = resume_position(call)
    settings = call.parts.settings
    hub = call.parts.streams
    try:
        subscription = await hub.subscribe(tag, after)
    except StreamsFull:
        raise ApiError(
            503,
            f"this server holds its maximum of {settings.stream_max_clients} open streams "
            "(TAGFEED_STREAM_MAX_CLIENTS); retry later",
            {"Retry-After": str(settings.retry_after_seconds)},
        ) from None
    except StreamsClosed:
        raise ApiError(
            503, "the server is shutting down; reconnect", {"Retry-After": "1"}
        ) from None
    return EventStream(
        subscription,
        heartbeat=settings.stream_heartbeat_seconds,
        write_timeout=settings.stream_write_timeout_seconds,
        request_id=request_id_of(call),
    )


_RAW_HEADERS = [
    *((name.lower().encode(), value.encode()) for name, value in STREAM_HEADERS.items()),
    (b"content-type", f"{EVENT_STREAM}; charset=utf-8".encode()),
]


class EventStream(Response):
    """The response of one stream: its head, then each batch of frames in one write."""

    media_type = EVENT_STREAM

    def __init__(
        self, subscription: Subscription, *, heartbeat: float, write_timeout: float, request_id: str
    ) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = _RAW_HEADERS  # the same for every stream: one list for all
        self._subscription = subscription
        self._heartbeat = heartbeat
        self._write_timeout = write_timeout
        self._request_id = request_id
        self._writing: asyncio.Timeout | None = None  # the write under way, if any

    def _abandon_write(self) -> None:
        """The hub dropped this client: stop waiting for the write it is stuck in. A
        method, not a closure: ~150 bytes less for each open stream."""
        if self._writing is not None:
            self._writing.reschedule(asyncio.get_running_loop().time())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subscription = self._subscription
        loop = asyncio.get_running_loop()
        subscription.on_drop = self._abandon_write
        checked = loop.time()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for batch in subscription.batches(self._heartbeat):
                body = b"".join(batch) if batch else HEARTBEAT
                async with asyncio.timeout(self._write_timeout) as self._writing:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                self._writing = None
                if loop.time() - checked >= self._heartbeat:
                    if await _disconnected(receive):
                        return
                    checked = loop.time()
            if subscription.ended != "dropped":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
        except StoreError as exc:
            # The log could not be read for a replay: end the stream (the same way as at
            # shutdown); the client resumes with its last id, from here or elsewhere.
            log.warning("stream_store_fault", request_id=self._request_id, error=repr(exc))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._write_timeout):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        except TimeoutError:
            pass  # a write blocked past the bound, or the hub dropped the client
        finally:
            subscription.close()
        # Returning with the response unfinished makes the server close the connection
        # (uvicorn logs that the response was not completed).
        log.warning("stream_dropped", request_id=self._request_id, reason="client not reading")


async def _disconnected(receive: Receive) -> bool:
    """Whether the client has gone. Asked once per heartbeat interval rather than by a
    task per stream waiting on ``receive`` (a task and its frames are ~2 KB for each of
    10,000 streams): a client that left holds its place for one interval at most, and
    writes to it meanwhile are dropped by the server."""
    try:
        message = await asyncio.wait_for(receive(), DISCONNECT_CHECK_SECONDS)
    except TimeoutError:
        return False
    return bool(message["type"] == "http.disconnect")
