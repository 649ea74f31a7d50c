"""Per-request context as plain ASGI middleware: a request id on every response and one
structured log line per request (method, path, status, duration, request id, user id;
never message texts, query values or secrets)."""

import random
import re
import time
from collections.abc import Iterable

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_CLIENT_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,128}")
log = structlog.get_logger("tagfeed.access")


def incoming_request_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The client's ``X-Request-ID`` (lower-case header names, as ASGI and uvicorn keep
    them) when it is usable: 1-128 printable ASCII characters."""
    for name, value in headers:
        if name == b"x-request-id":
            return value.decode("ascii") if _CLIENT_REQUEST_ID.fullmatch(value) else None
    return None


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                request_id=request_id,
                user_id=scope.get("tagfeed.user_id"),
            )
