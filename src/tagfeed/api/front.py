"""The app as the server calls it, in plain ASGI (over RSGI, ``rsgi_front.py`` wraps it
and uses its routes, request ids, ``direct`` and ``behind``): a request id on every response, one
structured log line per request (method, path, status, duration, request id, user id;
never message texts, query values or secrets) and, with metrics on, the request's count
and latency by route template (``tagfeed.metrics``).

The requests the route table (``endpoints.py``) serves with one of its methods go
straight to their handler: the path is matched by string comparisons decided when the app
is built, the handler's ``Reply`` is sent with the request id in its head, and an exception
is answered with the problem Starlette's handlers would give (``problems.answer_to``).
Everything else (HEAD, other methods and their 405 with ``Allow``, unknown paths, the
document, the page, ``/metrics``) goes to the Starlette app behind, whose routes call the
same handlers, so a rule has one implementation whichever way a request takes.
"""

import random
import re
import time
from collections.abc import MutableMapping, Sequence
from typing import Any, NamedTuple

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tagfeed.api.endpoints import Endpoint
from tagfeed.api.exchange import Call, Header, Reply, RsgiProto
from tagfeed.api.parts import AppParts
from tagfeed.api.problems import EXPECTED, answer_to
from tagfeed.api.routes import REPLAYED
from tagfeed.headers import first_header
from tagfeed.metrics import UNMATCHED, Metrics

_CLIENT_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")
log = structlog.get_logger("tagfeed.access")


def request_id_for(scope: MutableMapping[str, Any]) -> str:
    """The client's ``X-Request-ID`` when it is usable (1-128 printable ASCII
    characters), else a new one."""
    value = first_header(scope, b"x-request-id")
    if value is not None and _CLIENT_REQUEST_ID.fullmatch(value):
        return value
    # Unique, not secret: the random module is much cheaper than os.urandom here.
    return f"{random.getrandbits(128):032x}"


class _Template(NamedTuple):
    """A path of the table ending in its one parameter, as Starlette's ``{name}`` (the
    ``str`` convertor: one or more characters, no ``/``) matches it."""

    prefix: str
    name: str
    methods: dict[str, Endpoint]


def _template_of(path: str) -> tuple[str, str] | None:
    """(prefix, parameter name) of a templated path; None for a plain path."""
    if "{" not in path:
        return None
    prefix, _, rest = path.partition("{")
    name = rest.removesuffix("}")
    if not rest.endswith("}") or not name.isidentifier() or not prefix.endswith("/"):
        raise ValueError(f"the front matches one trailing {{parameter}} only, not {path!r}")
    return prefix, name


def _matches(template: tuple[str, str] | None, table_path: str, path: str) -> bool:
    if template is None:
        return path == table_path
    prefix, _ = template
    value = path[len(prefix) :]
    return path.startswith(prefix) and value != "" and "/" not in value


class Routes:
    """Which endpoint of the table a (path, method) reaches, as Starlette's router would
    decide it (the first route in table order matching both), for the table's methods.
    The plain paths are decided when built; a path they do not name is tried against the
    templates in order."""

    def __init__(self, table: Sequence[Endpoint]) -> None:
        templates = [_template_of(endpoint.path) for endpoint in table]
        self.exact: dict[str, dict[str, Endpoint]] = {}
        for path in (e.path for e, t in zip(table, templates, strict=True) if t is None):
            methods = self.exact.setdefault(path, {})
            for endpoint, template in zip(table, templates, strict=True):
                if _matches(template, endpoint.path, path):
                    for method in endpoint.methods:
                        methods.setdefault(method, endpoint)
        self.templates: list[_Template] = []
        for endpoint, template in zip(table, templates, strict=True):
            if template is not None:
                self.templates.append(
                    _Template(*template, dict.fromkeys(endpoint.methods, endpoint))
                )

    def find(self, path: str, method: str) -> tuple[Endpoint, dict[str, str]] | None:
        """The endpoint and the path's parameters; None when the table does not serve
        this method on this path, or Starlette might read the path otherwise (a final
        newline, which its patterns' ``$`` accepts)."""
        methods = self.exact.get(path)
        if methods is not None:
            endpoint = methods.get(method)
            return None if endpoint is None else (endpoint, {})
        if path.endswith("\n"):
            return None
        for prefix, name, by_method in self.templates:
            if path.startswith(prefix):
                value = path[len(prefix) :]
                if value and "/" not in value:
                    endpoint = by_method.get(method)
                    if endpoint is not None:
                        return endpoint, {name: value}
        return None


class SendWithId:
    """``send`` adding the request id to the head; ``status`` is the one sent (500 until
    a head is). An object with slots, not a closure: a live stream holds it as long as it
    is open, ~100 bytes instead of ~600 (a function and its cells) for each of 10,000."""

    __slots__ = ("header", "metrics", "send", "status")

    def __init__(self, send: Send, header: Header, metrics: Metrics | None) -> None:
        self.send = send
        self.header = header
        self.metrics = metrics
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = status = message["status"]
            headers = message.get("headers", ())
            if status == 201 and self.metrics is not None and REPLAYED in headers:
                self.metrics.idempotent_replay()
            message["headers"] = [*headers, self.header]
        await self.send(message)


class Front:
    """The ASGI app ``create_app`` returns. ``app`` is the Starlette app behind it."""

    def __init__(
        self,
        app: ASGIApp,
        table: Sequence[Endpoint],
        parts: AppParts,
        metrics: Metrics | None = None,
        *,
        log_requests: bool = True,
        retry_after: int = 2,
    ) -> None:
        self.app = app
        self.routes = Routes(table)
        self.parts = parts
        self.metrics = metrics
        self.record = metrics.requests.record if metrics is not None else None
        self.log_requests = log_requests  # False when the log level drops the line anyway
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        header = self.identify(scope)
        found = None if scope.get("root_path") else self.routes.find(scope["path"], scope["method"])
        if found is None:
            await self.behind(scope, receive, send, header, started)
        else:
            call = Call(scope, receive, self.parts, found[1])
            await self.direct(found[0], call, send, header, started)

    @staticmethod
    def identify(scope: MutableMapping[str, Any]) -> Header:
        """Give the request its id (in the scope, for the log and the problems); the
        header that carries it on the answer."""
        request_id = scope["tagfeed.request_id"] = request_id_for(scope)
        return (b"x-request-id", request_id.encode("ascii"))

    async def direct(
        self,
        endpoint: Endpoint,
        call: Call,
        send: Send,
        header: Header,
        started: float,
        proto: RsgiProto | None = None,
    ) -> None:
        """Serve a request of the table with its handler. The answer goes out on ``send``
        (ASGI), or, given ``proto`` (RSGI), a Reply through it and a live stream on
        ``send``, which then writes to ``proto`` (``rsgi_front.py``)."""
        scope = call.scope
        status = 500  # the status sent, for the log and the metrics
        try:
            failure: Exception | None = None
            try:
                answer = await endpoint.handler(call)
            except Exception as exc:
                answer = answer_to(scope, exc, self.retry_after)
                if not isinstance(exc, EXPECTED):
                    failure = exc  # answered, then raised on to the server, as Starlette does
            if isinstance(answer, Reply):
                status = answer.status
                if status == 201 and self.metrics is not None and REPLAYED in answer.headers:
                    self.metrics.idempotent_replay()
                if proto is None:
                    await answer.send(send, header)
                else:
                    answer.respond(proto, header)
            else:  # a live stream, an ASGI response of its own
                sender = SendWithId(send, header, self.metrics)
                try:
                    await answer(scope, call.receive, sender)
                finally:
                    status = sender.status
            if failure is not None:
                raise failure
        finally:
            self._done(scope, endpoint.path, status, started)

    async def behind(
        self, scope: Scope, receive: Receive, send: Send, header: Header, started: float
    ) -> None:
        """Serve a request through the Starlette app behind."""
        sender = SendWithId(send, header, self.metrics)
        try:
            await self.app(scope, receive, sender)
        finally:
            # Starlette's router leaves the matched route (or Mount) in the scope; its
            # path is the template, e.g. /v1/messages/{message_id}.
            route = scope.get("route")
            self._done(scope, UNMATCHED if route is None else route.path, sender.status, started)

    def _done(self, scope: Scope, route: str, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        if self.log_requests:
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round(seconds * 1000, 3),
                request_id=scope["tagfeed.request_id"],
                user_id=scope.get("tagfeed.user_id"),
            )
        if self.record is not None:
            self.record(route, scope["method"], status, seconds)
