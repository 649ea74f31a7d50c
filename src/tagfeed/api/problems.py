"""problem+json (RFC 9457): one table maps every exception we expect to an HTTP problem.
Handlers raise; they never build error responses by hand."""

import re
from dataclasses import dataclass

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from tagfeed.api.schemas import Problem, encoder
from tagfeed.auth.errors import AuthError, Forbidden, NotAuthenticated
from tagfeed.domain.errors import InvalidInput, MessageNotFound
from tagfeed.domain.idempotency import IdempotencyKeyReused, RequestInFlight
from tagfeed.store.errors import StoreError, StoreUnavailable

PROBLEM_JSON = "application/problem+json"
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
    414: ProblemKind("uri-too-long", "URI too long"),
    415: ProblemKind("unsupported-media-type", "Unsupported media type"),
    422: ProblemKind("unprocessable", "Unprocessable content"),
    431: ProblemKind("header-fields-too-large", "Request header fields too large"),
    500: ProblemKind("internal-error", "Internal server error"),
    503: ProblemKind("unavailable", "Service unavailable"),
}

# The one table from exception to status; looked up along the exception's MRO.
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


def request_id_of(request: Request) -> str:
    value = request.scope.get("tagfeed.request_id")
    return value if isinstance(value, str) else ""


def problem_body(status: int, detail: str, request_id: str) -> bytes:
    kind = KINDS.get(status) or ProblemKind(f"http-{status}", "Error")
    return encoder.encode(Problem(f"/problems/{kind.slug}", kind.title, status, detail, request_id))


def problem_response(
    request: Request, status: int, detail: str, headers: dict[str, str] | None = None
) -> Response:
    body = problem_body(status, detail, request_id_of(request))
    return Response(body, status, headers, media_type=PROBLEM_JSON)


def status_for(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 500


def _public_detail(exc: Exception, status: int, retry_after: int) -> tuple[str, dict[str, str]]:
    if status == 503:
        return "the database is unavailable; retry later", {"Retry-After": str(retry_after)}
    if status == 409:  # the first request with the key is still running: soon done
        return str(exc), {"Retry-After": "1"}
    if status == 500:
        return "an unexpected error occurred; quote the request_id when reporting it", {}
    if isinstance(exc, OverflowError):
        return f"a date is too close to year 1 or 9999 for this request ({exc})", {}
    return str(exc.detail if isinstance(exc, InvalidInput) else exc), {}


def make_handlers(retry_after: int) -> dict[type[Exception] | int, object]:
    """Exception handlers for Starlette: domain and store errors through STATUS_OF,
    API refusals and Starlette's own HTTP errors (404 path, 405 with Allow) as problems."""

    async def domain_or_store(request: Request, exc: Exception) -> Response:
        status = status_for(exc)
        detail, headers = _public_detail(exc, status, retry_after)
        if isinstance(exc, InvalidInput):
            detail = f"{exc.field}: {exc.detail}"
        if status >= 500:
            # Full detail (never the message text) in the log, keyed by the request id.
            log.error(
                "backend_error",
                error=repr(exc),
                request_id=request_id_of(request),
                exc_info=exc if status == 500 else None,
            )
        return problem_response(request, status, detail, headers)

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return problem_response(request, exc.status, exc.detail, exc.headers)

    async def auth_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AuthError)
        return problem_response(request, status_for(exc), exc.detail, exc.headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = {
            404: f"no such path: {request.url.path}",
            405: f"{request.method} is not allowed here",
        }.get(exc.status_code, exc.detail)
        return problem_response(request, exc.status_code, detail, dict(exc.headers or {}))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled_error", request_id=request_id_of(request), exc_info=exc)
        return problem_response(request, 500, _public_detail(exc, 500, retry_after)[0])

    return {
        InvalidInput: domain_or_store,
        MessageNotFound: domain_or_store,
        RequestInFlight: domain_or_store,
        IdempotencyKeyReused: domain_or_store,
        OverflowError: domain_or_store,
        StoreError: domain_or_store,
        ApiError: api_error,
        AuthError: auth_error,
        HTTPException: http_error,
        Exception: unexpected,
    }


_MSGSPEC_FIELD = re.compile(r"`\$\.([A-Za-z_]+)`|field `([A-Za-z_]+)`")


def field_of_decode_error(message: str) -> str:
    """The field a msgspec validation message points at, else ``body``."""
    match = _MSGSPEC_FIELD.search(message)
    return (match.group(1) or match.group(2)) if match else "body"
