"""Per-request context as plain ASGI middleware: a request id on every response, one
structured log line per request (method, path, status, duration, request id, user id;
never message texts, query values or secrets) and, with metrics on, the request's count
and latency by route template (``tagfeed.metrics``)."""

import random
import re
import time
from collections.abc import Iterable

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tagfeed.metrics import UNMATCHED, Metrics

_CLIENT_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,128}")
log = structlog.get_logger("tagfeed.access")
_REPLAYED = (b"idempotent-replayed", b"true")  # as routes.post_message marks a replay


def incoming_request_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The client's ``X-Request-ID`` (lower-case header names, as ASGI and uvicorn keep
    them) when it is usable: 1-128 printable ASCII characters."""
    for name, value in headers:
        if name == b"x-request-id":
            return value.decode("ascii") if _CLIENT_REQUEST_ID.fullmatch(value) else None
    return None


class RequestContext:
    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.record = metrics.requests.record if metrics is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Unique, not secret: the random module is much cheaper than os.urandom here.
        request_id = incoming_request_id(scope["headers"]) or f"{random.getrandbits(128):032x}"
        scope["tagfeed.request_id"] = request_id
        header = (b"x-request-id", request_id.encode("ascii"))
        status = 500
        record, metrics = self.record, self.metrics

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", ())
                if status == 201 and metrics is not None and _REPLAYED in headers:
                    metrics.idempotent_replay()
                message["headers"] = [*headers, header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round(seconds * 1000, 3),
                request_id=request_id,
                user_id=scope.get("tagfeed.user_id"),
            )
            if record is not None:
                # Starlette's router leaves the matched route (or Mount) in the scope;
                # its path is the template, e.g. /v1/messages/{message_id}.
                route = scope.get("route")
                record(UNMATCHED if route is None else route.path, scope["method"], status, seconds)
