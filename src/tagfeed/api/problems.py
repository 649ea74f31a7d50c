"""problem+json (RFC 9457): one table maps every exception we expect to an HTTP problem.
Handlers raise; they never build error responses by hand. The answer to an exception is
made here for both ways a request reaches a handler: the front's (``answer_to``) and
Starlette's exception handlers (``make_handlers``)."""

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request

from tagfeed.api.exchange import Reply, raw_headers
from tagfeed.api.schemas import Problem, encoder
from tagfeed.auth.errors import AuthError, Forbidden, NotAuthenticated
from tagfeed.domain.errors import InvalidInput, MessageNotFound
from tagfeed.domain.idempotency import IdempotencyKeyReused, RequestInFlight
from tagfeed.headers import HasScope
from tagfeed.store.errors import StoreError, StoreUnavailable

PROBLEM_JSON = "application/problem+json"
_PROBLEM_JSON = (b"content-type", PROBLEM_JSON.encode())
log = structlog.get_logger("tagfeed.api")


class ApiError(Exception):
    """An HTTP-level refusal (identity, media type, size) raised by the API layer."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class ProblemKind:
    slug: str
    title: str


# status -> the kind of problem; "type" is a relative reference documented in docs/api.md.
KINDS: dict[int, ProblemKind] = {
    400: ProblemKind("invalid-request", "Invalid request"),
    401: ProblemKind("unauthenticated", "Authentication required"),
    403: ProblemKind("forbidden", "Forbidden"),
    404: ProblemKind("not-found", "Not found"),
    405: ProblemKind("method-not-allowed", "Method not allowed"),
    408: ProblemKind("request-timeout", "Request timeout"),
    409: ProblemKind("conflict", "Conflict"),
    413: ProblemKind("content-too-large", "Content too large"),
    415: ProblemKind("unsupported-media-type", "Unsupported media type"),
    422: ProblemKind("unprocessable", "Unprocessable content"),
    500: ProblemKind("internal-error", "Internal server error"),
    503: ProblemKind("unavailable", "Service unavailable"),
}

# The one table from exception to status, looked up along the exception's MRO; the app
# registers one handler for each class here (make_handlers), so the two cannot disagree.
STATUS_OF: dict[type[Exception], int] = {
    InvalidInput: 400,
    MessageNotFound: 404,
    RequestInFlight: 409,
    IdempotencyKeyReused: 422,
    # Date arithmetic on a client's bound next to year 1 or 9999 (a period's default
    # start, a bucket's end) leaves the calendar: the input is out of range, not a fault.
    OverflowError: 400,
    StoreUnavailable: 503,
    StoreError: 500,
    NotAuthenticated: 401,
    Forbidden: 403,
}


def request_id_of(request: HasScope) -> str:
    return _request_id(request.scope)


def _request_id(scope: MutableMapping[str, Any]) -> str:
    value = scope.get("tagfeed.request_id")
    return value if isinstance(value, str) else ""


def problem(
    status: int, detail: str, request_id: str, headers: dict[str, str] | None = None
) -> Reply:
    """The one rendering of a problem, for the app's handlers and middleware."""
    kind = KINDS.get(status) or ProblemKind(f"http-{status}", "Error")
    body = encoder.encode(Problem(f"/problems/{kind.slug}", kind.title, status, detail, request_id))
    return Reply(body, status, raw_headers(headers), _PROBLEM_JSON)


def status_for(exc: Exception) -> int:
    """The status of a refusal that carries its own (ApiError, Starlette's HTTPException),
    else from STATUS_OF, else 500."""
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, HTTPException):
        return exc.status_code
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 500


def _public_detail(
    scope: MutableMapping[str, Any], exc: Exception, status: int, retry_after: int
) -> tuple[str, dict[str, str]]:
    """What the client is told, and the headers that go with it."""
    if isinstance(exc, ApiError):  # the API's own refusals, 503s included, say why
        return exc.detail, exc.headers
    if status == 503:
        return "the database is unavailable; retry later", {"Retry-After": str(retry_after)}
    if status == 500:
        return "an unexpected error occurred; quote the request_id when reporting it", {}
    if isinstance(exc, InvalidInput):
        return f"{exc.field}: {exc.detail}", {}
    if isinstance(exc, AuthError):
        return exc.detail, exc.headers
    if isinstance(exc, HTTPException):
        detail = {
            404: f"no such path: {Request(scope).url.path}",
            405: f"{scope['method']} is not allowed here",
        }.get(exc.status_code, exc.detail)
        return detail, dict(exc.headers or {})
    if isinstance(exc, RequestInFlight):  # the first request with the key: soon done
        return str(exc), {"Retry-After": "1"}
    if isinstance(exc, OverflowError):
        return f"a date is too close to year 1 or 9999 for this request ({exc})", {}
    return str(exc), {}


# The refusals Starlette's ExceptionMiddleware answers (``refusal``); anything else is
# unexpected, answered by its ServerErrorMiddleware, which raises it on to the server.
EXPECTED: tuple[type[Exception], ...] = (*STATUS_OF, ApiError, HTTPException)


def refusal(scope: MutableMapping[str, Any], exc: Exception, retry_after: int) -> Reply:
    """The problem answering an expected exception; a fault (5xx but an ApiError) is
    logged in full (never the message text), keyed by the request id."""
    status = status_for(exc)
    detail, headers = _public_detail(scope, exc, status, retry_after)
    request_id = _request_id(scope)
    if status >= 500 and not isinstance(exc, ApiError):  # an ApiError is no fault
        log.error(
            "backend_error",
            error=repr(exc),
            request_id=request_id,
            exc_info=exc if status == 500 else None,
        )
    return problem(status, detail, request_id, headers)


def unexpected(scope: MutableMapping[str, Any], exc: Exception, retry_after: int) -> Reply:
    """The 500 answering anything else, logged with its traceback."""
    request_id = _request_id(scope)
    log.error("unhandled_error", request_id=request_id, exc_info=exc)
    detail, _ = _public_detail(scope, exc, 500, retry_after)
    return problem(500, detail, request_id)


def answer_to(scope: MutableMapping[str, Any], exc: Exception, retry_after: int) -> Reply:
    """What the front answers a handler's exception with: what Starlette's handlers
    would. The caller raises an unexpected one on after answering, as Starlette does."""
    if isinstance(exc, EXPECTED):
        return refusal(scope, exc, retry_after)
    return unexpected(scope, exc, retry_after)


def make_handlers(retry_after: int) -> dict[type[Exception] | int, object]:
    """Exception handlers for Starlette: one for every class of STATUS_OF and for the
    refusals that carry their status (ApiError, Starlette's 404 and 405 with Allow), and
    a last one for anything unexpected (500)."""

    async def on_refusal(request: Request, exc: Exception) -> Reply:
        return refusal(request.scope, exc, retry_after)

    async def on_unexpected(request: Request, exc: Exception) -> Reply:
        return unexpected(request.scope, exc, retry_after)

    handlers: dict[type[Exception] | int, object] = dict.fromkeys(EXPECTED, on_refusal)
    handlers[Exception] = on_unexpected
    return handlers
