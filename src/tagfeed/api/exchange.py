"""A request as the API's handlers read it (``Call``) and their whole answer (``Reply``),
in plain ASGI.

The handlers of the route table (``endpoints.py``) take a Call and return a Reply (or,
for a live stream, any ASGI response). The front (``front.py``) calls them straight from
the server for the methods the table gives; Starlette's router calls the same handlers
through ``served`` for everything else on their paths (HEAD, and the 405 with ``Allow``
it answers itself). On the first way no framework object is made per request: a Call is
the ASGI scope with a few lookups, a Reply a status, a header list and a body, sent as the
two messages ASGI requires.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from tagfeed.headers import first_header, header_values

if TYPE_CHECKING:
    from tagfeed.api.parts import AppParts

Header = tuple[bytes, bytes]
JSON: Header = (b"content-type", b"application/json")
RawHeaders = Sequence[Header]


class RsgiProto(Protocol):
    """What a Reply uses of granian's RSGI HTTP protocol object (``granian.rsgi``)."""

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None: ...


class Call:
    """One HTTP request to a handler of the table: its scope, its body channel, the
    app's parts the handlers use (made once, ``parts.py``) and the path's parameters."""

    __slots__ = ("parts", "path_params", "receive", "scope")

    def __init__(
        self,
        scope: MutableMapping[str, Any],
        receive: Receive,
        parts: "AppParts",
        path_params: dict[str, str],
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.parts = parts
        self.path_params = path_params

    def header(self, name: bytes) -> str | None:
        return first_header(self.scope, name)

    def headers_named(self, name: bytes) -> list[str]:
        return header_values(self.scope, name)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (as Starlette's ``request.stream()``): raises
        ClientDisconnect when the client leaves first."""
        while True:
            message = await self.receive()
            if message["type"] == "http.request":
                body: bytes = message.get("body", b"")
                if body:
                    yield body
                if not message.get("more_body", False):
                    return
            elif message["type"] == "http.disconnect":
                raise ClientDisconnect()


def raw_headers(headers: Mapping[str, str] | None) -> list[Header]:
    """Headers as ASGI sends them: lower-case names, latin-1 bytes."""
    if not headers:
        return []
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


class Reply:
    """A whole answer. Its head is one list, built here: the given headers, then
    ``content-length`` and ``content-type`` (the order Starlette's Response used)."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self,
        body: bytes,
        status: int = 200,
        headers: list[Header] | None = None,
        content_type: Header = JSON,
    ) -> None:
        self.body = body
        self.status = status
        head = headers if headers is not None else []
        head.append((b"content-length", b"%d" % len(body)))
        head.append(content_type)
        self.headers = head

    async def send(self, send: Send, *extra: Header) -> None:
        """Send the head (with ``extra`` headers at its end) and the body; once."""
        headers = self.headers
        if extra:
            headers.extend(extra)
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})

    def respond(self, proto: RsgiProto, *extra: Header) -> None:
        """Answer over RSGI (``rsgi_front.py``): the same head, as ``str``; once."""
        headers = self.headers
        if extra:
            headers.extend(extra)
        head = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]
        proto.response_bytes(self.status, head, self.body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """As an ASGI app, for Starlette (its router and its exception handlers)."""
        await self.send(send)


# A handler's answer: a Reply, or for a live stream its own ASGI response.
Answer = Reply | Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[[Call], Awaitable[Answer]]


class served:
    """A handler of the table as the ASGI app of its Starlette route, which Starlette
    calls for the requests the front leaves to it. Refusals raised propagate to
    Starlette's exception handlers (``problems.make_handlers``)."""

    __slots__ = ("handler", "parts")

    def __init__(self, handler: Handler, parts: "AppParts") -> None:
        self.handler = handler
        self.parts = parts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = Call(scope, receive, self.parts, scope.get("path_params", {}))
        answer = await self.handler(call)
        await answer(scope, receive, send)
