"""HTTP handlers for the v1 contract. Each reads the request, calls the service, and
shapes the answer; errors are raised and turned into problems by ``problems.py``."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from tagfeed.api.json_body import decode_new_message
from tagfeed.api.params import (
    parse_filter,
    parse_list_params,
    parse_trending_limit,
    query_of,
    query_value,
)
from tagfeed.api.problems import ApiError
from tagfeed.api.schemas import (
    CountsOut,
    Health,
    Ready,
    counts_body,
    encoder,
    message_out,
    render_buckets,
    trending_out,
)
from tagfeed.auth.identity import require_role, require_user
from tagfeed.domain import idempotency
from tagfeed.domain.commands import PostMessage
from tagfeed.domain.counting import parse_granularity
from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.model import Message
from tagfeed.domain.positions import parse_position
from tagfeed.domain.trends import Trending, parse_window
from tagfeed.service.messages import MessageService
from tagfeed.service.trends import TrendService

JSON = "application/json"
# The log position a response reflects (docs/api.md, "Positions"): a POST's new event;
# for reads a position the view had reached at least when the read began.
POSITION = "Tagfeed-Position"
# A read's request to reflect at least this position (read your writes): it waits, within
# TAGFEED_MIN_POSITION_WAIT_SECONDS, until this process knows the log has reached it.
MIN_POSITION = "Tagfeed-Min-Position"


def _service(request: Request) -> MessageService:
    service: MessageService = request.app.state.service
    return service


def _require_count_role(request: Request) -> None:
    """Counting is for holders of ``TAGFEED_COUNT_ROLE`` when it is set (403 otherwise)."""
    role: str | None = request.app.state.settings.count_role
    if role is not None:
        require_role(request, role)


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encoder.encode(body), status, headers, media_type=JSON)


def _require_json(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    media_type, _, parameters = content_type.partition(";")
    charset = parameters.strip().lower().replace(" ", "")
    if media_type.strip().lower() != JSON or charset not in ("", "charset=utf-8"):
        raise ApiError(415, f"Content-Type must be {JSON}, got {content_type or 'none'!r}")


async def _read_body(request: Request, limit: int, within: float) -> bytes:
    """The whole body, refusing with 413 as soon as it is known to exceed ``limit``
    (from Content-Length before reading, or while streaming), and with 408 when it has
    not all arrived ``within`` seconds. Both close the connection: the rest of
    the body is not worth reading."""
    close = {"Connection": "close"}
    too_large = ApiError(413, f"the body must be at most {limit} bytes", close)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(within):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, f"the body did not arrive within {within:g} s", close) from None
    return b"".join(chunks)


async def post_message(request: Request) -> Response:
    user_id = require_user(request)
    _require_json(request)
    settings = request.app.state.settings
    body = await _read_body(request, settings.max_body_bytes, settings.read_timeout)
    fields = decode_new_message(body)
    command = PostMessage(fields.text, fields.tag, user_id)
    raw_key = request.headers.get("idempotency-key")
    if raw_key is None:
        posted = await _service(request).post(command)
        message = posted.message
        headers = {"Location": f"/v1/messages/{message.id}", POSITION: str(posted.position)}
        return _json(message_out(message), 201, headers)
    answer = await _service(request).post_once(
        command,
        idempotency.parse_key(raw_key),
        idempotency.fingerprint(fields.text, fields.tag),
        _created,
    )
    headers = {"Location": answer.record.location, POSITION: str(answer.position)}
    if answer.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(answer.record.body, answer.record.status, headers, media_type=JSON)


def _created(message: Message) -> tuple[int, str, bytes]:
    """The 201 answer to a new message, as stored for idempotent replays."""
    return 201, f"/v1/messages/{message.id}", encoder.encode(message_out(message))


def _min_position(request: Request) -> int | None:
    """``Tagfeed-Min-Position`` when sent: 400 when it is not a position or is repeated."""
    values = request.headers.getlist(MIN_POSITION)
    if len(values) > 1:
        raise InvalidInput(MIN_POSITION, f"must be sent at most once, got it {len(values)} times")
    return parse_position(MIN_POSITION, values[0]) if values else None


@asynccontextmanager
async def _reading(request: Request, service: MessageService) -> AsyncIterator[dict[str, str]]:
    """The view a read's queries run in, and its position header, taken before they
    begin; first, with ``Tagfeed-Min-Position``, the wait until the view reaches that
    position (400 when the header is not a position or is repeated; 503 when the wait
    runs out)."""
    wanted = _min_position(request)
    within: float = request.app.state.settings.min_position_wait_seconds
    async with service.reading(wanted, within) as reached:
        if wanted is not None and reached < wanted:
            raise ApiError(
                503,
                f"{MIN_POSITION}: the log has not reached position {wanted} within {within:g} s "
                f"(this server knows it up to {reached}); retry later",
                {"Retry-After": "1"},
            )
        yield {POSITION: str(reached)}


async def get_message(request: Request) -> Response:
    require_user(request)
    service = _service(request)
    async with _reading(request, service) as headers:
        message = await service.get(request.path_params["message_id"])
    return _json(message_out(message), headers=headers)


async def list_messages(request: Request) -> Response:
    require_user(request)
    query = query_of(request.scope["query_string"])
    params = parse_list_params(query)
    if params.count:
        _require_count_role(request)  # refused at once, not after a position's wait
    service = _service(request)
    async with _reading(request, service) as headers:
        if params.count:
            return _json(await service.count(params.where), headers=headers)
        page = await service.page(params.where, params.page)
    if page.next is not None:
        kept = [(k, v) for k, v in query.multi_items() if k != "cursor" and v]
        next_query = urlencode([*kept, ("cursor", page.next.encode())])
        path = request.scope.get("root_path", "") + request.scope["path"]  # as request.url has it
        headers["Link"] = f'<{path}?{next_query}>; rel="next"'
    return _json([message_out(m) for m in page.messages], headers=headers)


async def count_messages(request: Request) -> Response:
    require_user(request)
    _require_count_role(request)
    query = query_of(request.scope["query_string"])
    where = parse_filter(query)
    granularity = parse_granularity(query_value(query, "granularity"))
    service = _service(request)
    async with _reading(request, service) as headers:
        if granularity is None:
            return _json(CountsOut(total=await service.count(where)), headers=headers)
        series = await service.count_series(where, granularity, render_buckets)
    return Response(
        counts_body(series.total, granularity, series.sealed, series.live),
        headers=headers,
        media_type=JSON,
    )


async def trending_tags(request: Request) -> Response:
    require_user(request)
    query = query_of(request.scope["query_string"])
    window = parse_window(query_value(query, "window"))
    limit = parse_trending_limit(query_value(query, "limit"))
    trends: TrendService = request.app.state.trends
    # A catch-up view, behind the head by its reducer's lag: its position is the reducer's
    # checkpoint, read before the view (the two commit together), not the known head.
    wanted = _min_position(request)
    if wanted is None:
        position = await trends.position()
    else:
        within: float = request.app.state.settings.min_position_wait_seconds
        position = await trends.reach(wanted, within)
        if position < wanted:
            raise ApiError(
                503,
                f"{MIN_POSITION}: trending has not reached position {wanted} within {within:g} s "
                f"(it reflects the log up to {position}); retry later",
                {"Retry-After": "1"},
            )
    body = await trends.rendered(window, limit, position, _render_trending)
    return Response(body, headers={POSITION: str(position)}, media_type=JSON)


def _render_trending(ranking: Trending) -> bytes:
    return encoder.encode(trending_out(ranking))


async def messages(request: Request) -> Response:
    """One route per path, so a 405 lists every allowed method in ``Allow``."""
    if request.method == "POST":
        return await post_message(request)
    return await list_messages(request)


async def healthz(request: Request) -> Response:
    return _json(Health("ok"))


async def readyz(request: Request) -> Response:
    await _service(request).ready()
    return _json(Ready("ready"))
