"""HTTP handlers for the v1 contract. Each reads the request (a ``Call``), calls the
service, and shapes the answer (a ``Reply``); errors are raised and turned into problems
by ``problems.py``. The front calls them for the methods the route table gives, Starlette
for the rest (``exchange.py``): one implementation of every rule, whichever way."""

import asyncio
from types import TracebackType
from urllib.parse import urlencode

from tagfeed.api.exchange import Call, Header, Reply
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
    message_json,
    messages_json,
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

JSON = "application/json"
# The log position a response reflects (docs/api.md, "Positions"): a POST's new event;
# for reads a position the view had reached at least when the read began.
POSITION = "Tagfeed-Position"
# A read's request to reflect at least this position (read your writes): it waits, within
# TAGFEED_MIN_POSITION_WAIT_SECONDS, until this process knows the log has reached it.
MIN_POSITION = "Tagfeed-Min-Position"
_POSITION = POSITION.lower().encode()
_MIN_POSITION = MIN_POSITION.lower().encode()
_LOCATION = b"location"
REPLAYED = (b"idempotent-replayed", b"true")  # a replay's mark, counted by the front
_CLOSE = {"Connection": "close"}


def _user(call: Call) -> str:
    return require_user(call, call.parts.authenticator)


def _require_count_role(call: Call) -> None:
    """Counting is for holders of ``TAGFEED_COUNT_ROLE`` when it is set (403 otherwise)."""
    role = call.parts.settings.count_role
    if role is not None:
        require_role(call, role, call.parts.authenticator)


def _json(body: object, headers: list[Header] | None = None) -> Reply:
    return Reply(encoder.encode(body), 200, headers)


def _require_json(call: Call) -> None:
    content_type = call.header(b"content-type") or ""
    media_type, _, parameters = content_type.partition(";")
    charset = parameters.strip().lower().replace(" ", "")
    if media_type.strip().lower() != JSON or charset not in ("", "charset=utf-8"):
        raise ApiError(415, f"Content-Type must be {JSON}, got {content_type or 'none'!r}")


def _too_large(limit: int) -> ApiError:
    # Made when refusing, not for every body read (a profile of POSTs found it there).
    return ApiError(413, f"the body must be at most {limit} bytes", _CLOSE)


async def _read_body(call: Call, limit: int, within: float) -> bytes:
    """The whole body, refusing with 413 as soon as it is known to exceed ``limit``
    (from Content-Length before reading, or while streaming), and with 408 when it has
    not all arrived ``within`` seconds. Both close the connection: the rest of
    the body is not worth reading."""
    declared = call.header(b"content-length") or ""
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(within):
            async for chunk in call.chunks():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, f"the body did not arrive within {within:g} s", _CLOSE) from None
    return b"".join(chunks)


async def post_message(call: Call) -> Reply:
    user_id = _user(call)
    _require_json(call)
    settings = call.parts.settings
    body = await _read_body(call, settings.max_body_bytes, settings.read_timeout)
    fields = decode_new_message(body)
    command = PostMessage(fields.text, fields.tag, user_id)
    raw_key = call.header(b"idempotency-key")
    service = call.parts.service
    if raw_key is None:
        posted = await service.post(command)
        message = posted.message
        headers = [
            (_LOCATION, f"/v1/messages/{message.id}".encode()),
            (_POSITION, b"%d" % posted.position),
        ]
        return Reply(message_json(message), 201, headers)
    answer = await service.post_once(
        command,
        idempotency.parse_key(raw_key),
        idempotency.fingerprint(fields.text, fields.tag),
        _created,
    )
    record = answer.record
    headers = [(_LOCATION, record.location.encode()), (_POSITION, b"%d" % answer.position)]
    if answer.replayed:
        headers.append(REPLAYED)
    return Reply(record.body, record.status, headers)


def _created(message: Message) -> tuple[int, str, bytes]:
    """The 201 answer to a new message, as stored for idempotent replays."""
    return 201, f"/v1/messages/{message.id}", message_json(message)


def _min_position(call: Call) -> int | None:
    """``Tagfeed-Min-Position`` when sent: 400 when it is not a position or is repeated."""
    values = call.headers_named(_MIN_POSITION)
    if len(values) > 1:
        raise InvalidInput(MIN_POSITION, f"must be sent at most once, got it {len(values)} times")
    return parse_position(MIN_POSITION, values[0]) if values else None


class _Reading:
    """The view a read's queries run in, and its position header, taken before they
    begin; first, with ``Tagfeed-Min-Position``, the wait until the view reaches that
    position (400 when the header is not a position or is repeated; 503 when the wait
    runs out). A class rather than ``@asynccontextmanager``: every read enters one."""

    __slots__ = ("_view", "_wanted", "_within")

    def __init__(self, call: Call) -> None:
        self._wanted = _min_position(call)
        self._within = call.parts.settings.min_position_wait_seconds
        self._view = call.parts.service.reading(self._wanted, self._within)

    async def __aenter__(self) -> list[Header]:
        reached = await self._view.__aenter__()
        wanted = self._wanted
        if wanted is not None and reached < wanted:
            refusal = ApiError(
                503,
                f"{MIN_POSITION}: the log has not reached position {wanted} within "
                f"{self._within:g} s (this server knows it up to {reached}); retry later",
                {"Retry-After": "1"},
            )
            await self._view.__aexit__(ApiError, refusal, None)
            raise refusal
        return [(_POSITION, b"%d" % reached)]

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> bool | None:
        return await self._view.__aexit__(kind, error, trace)


async def get_message(call: Call) -> Reply:
    _user(call)
    async with _Reading(call) as headers:
        message = await call.parts.service.get(call.path_params["message_id"])
    return Reply(message_json(message), 200, headers)


async def list_messages(call: Call) -> Reply:
    _user(call)
    scope = call.scope
    query = query_of(scope["query_string"])
    params = parse_list_params(query)
    if params.count:
        _require_count_role(call)  # refused at once, not after a position's wait
    service = call.parts.service
    async with _Reading(call) as headers:
        if params.count:
            return _json(await service.count(params.where), headers)
        page = await service.page_json(params.where, params.page, messages_json)
    if page.next is not None:
        kept = [(k, v) for k, v in query.multi_items() if k != "cursor" and v]
        next_query = urlencode([*kept, ("cursor", page.next.encode())])
        path = scope.get("root_path", "") + scope["path"]  # as request.url has it
        headers.append((b"link", f'<{path}?{next_query}>; rel="next"'.encode("latin-1")))
    return Reply(page.body, 200, headers)


async def count_messages(call: Call) -> Reply:
    _user(call)
    _require_count_role(call)
    query = query_of(call.scope["query_string"])
    where = parse_filter(query)
    granularity = parse_granularity(query_value(query, "granularity"))
    service = call.parts.service
    async with _Reading(call) as headers:
        if granularity is None:
            return _json(CountsOut(total=await service.count(where)), headers)
        series = await service.count_series(where, granularity, render_buckets)
    return Reply(counts_body(series.total, granularity, series.sealed, series.live), 200, headers)


async def trending_tags(call: Call) -> Reply:
    _user(call)
    query = query_of(call.scope["query_string"])
    window = parse_window(query_value(query, "window"))
    limit = parse_trending_limit(query_value(query, "limit"))
    trends = call.parts.trends
    # A catch-up view, behind the head by its reducer's lag: its position is the reducer's
    # checkpoint, read before the view (the two commit together), not the known head.
    wanted = _min_position(call)
    if wanted is None:
        position = await trends.position()
    else:
        within = call.parts.settings.min_position_wait_seconds
        position = await trends.reach(wanted, within)
        if position < wanted:
            raise ApiError(
                503,
                f"{MIN_POSITION}: trending has not reached position {wanted} within {within:g} s "
                f"(it reflects the log up to {position}); retry later",
                {"Retry-After": "1"},
            )
    body = await trends.rendered(window, limit, position, _render_trending)
    return Reply(body, 200, [(_POSITION, b"%d" % position)])


def _render_trending(ranking: Trending) -> bytes:
    return encoder.encode(trending_out(ranking))


async def messages(call: Call) -> Reply:
    """One route per path, so a 405 lists every allowed method in ``Allow``."""
    if call.scope["method"] == "POST":
        return await post_message(call)
    return await list_messages(call)


async def healthz(call: Call) -> Reply:
    return _json(Health("ok"))


async def readyz(call: Call) -> Reply:
    await call.parts.service.ready()
    return _json(Ready("ready"))
