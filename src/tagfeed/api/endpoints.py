"""The route table: each path's handler and, next to it, what its operations take and
answer. The app factory builds its routes from this table and ``openapi.py`` builds the
document from it, so a route cannot exist without its description, nor the reverse.

Values a server is configured with (limits, timeouts, the key TTL) come from the Settings
the app is built with; limits fixed in code come from the constants that enforce them.
"""

from dataclasses import dataclass, field
from typing import Any, Literal

from tagfeed.api import routes, streams
from tagfeed.api.exchange import Handler
from tagfeed.api.params import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    TRENDING_DEFAULT_LIMIT,
    TRENDING_MAX_LIMIT,
)
from tagfeed.api.schemas import (
    CountsOut,
    Health,
    MessageCount,
    MessageOut,
    NewMessage,
    Ready,
    TrendingOut,
)
from tagfeed.config import Settings
from tagfeed.domain.counting import MAX_BUCKETS, Granularity
from tagfeed.domain.idempotency import HEADER as IDEMPOTENCY_KEY
from tagfeed.domain.idempotency import MAX_KEY_LENGTH
from tagfeed.domain.positions import MAX_POSITION
from tagfeed.domain.timerange import DAY_OR_INSTANT_PATTERN
from tagfeed.domain.trends import DEFAULT_WINDOW, WINDOW_NAMES

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: Literal["query", "header", "path"]
    description: str
    schema: Json


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful response: its body is described by ``body``, a type msgspec can
    render as a JSON schema; ``headers`` maps a header name to its description."""

    status: int
    description: str
    body: Any
    headers: dict[str, Json] = field(default_factory=dict)
    media_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    operation_id: str
    summary: str
    ok: Answer
    params: tuple[Param, ...] = ()
    body: type | None = None  # the JSON request body, a msgspec Struct
    body_example: Json | None = None
    # The problems this operation answers besides those every operation may get (the
    # HTTP layer's, and, with ``secured`` and ``uses_store``, auth and database ones).
    refusals: dict[int, tuple[str, dict[str, Json]]] = field(default_factory=dict)
    secured: bool = True  # needs a caller (401/403)
    uses_store: bool = True  # may meet a database fault (500/503)
    counting: bool = False  # needs TAGFEED_COUNT_ROLE when it is set (403)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A path, its handler (called by the front for the table's methods, by Starlette's
    router for the rest: ``exchange.py``) and its operations."""

    path: str
    handler: Handler
    operations: tuple[Operation, ...]

    @property
    def methods(self) -> list[str]:
        return [operation.method for operation in self.operations]


def _query(name: str, description: str, schema: Json) -> Param:
    return Param(name, "query", description, schema)


def _header(description: str, schema: Json | None = None) -> Json:
    return {"schema": schema or {"type": "string"}, "description": description}


def endpoints(settings: Settings) -> tuple[Endpoint, ...]:
    """The v1 contract and the operations endpoints, as this server is configured."""
    day_or_instant = {"type": "string", "pattern": DAY_OR_INSTANT_PATTERN}
    filters = (
        _query("tag", "only this tag (normalised like on POST)", {"type": "string"}),
        _query(
            "dateStart",
            "YYYY-MM-DD (from 00:00:00Z) or RFC 3339 instant; inclusive. "
            "A '+' in an offset is sent as %2B",
            {**day_or_instant, "example": "2026-11-01"},
        ),
        _query(
            "dateEnd",
            "YYYY-MM-DD (through that whole day) or RFC 3339 instant (exclusive)",
            {**day_or_instant, "example": "2026-11-30"},
        ),
    )
    retry_after = {"Retry-After": _header("seconds", {"type": "integer"})}
    position_schema = {"type": "integer", "minimum": 0, "maximum": MAX_POSITION}
    wait = f"{settings.min_position_wait_seconds:g} s (TAGFEED_MIN_POSITION_WAIT_SECONDS)"
    min_position = Param(
        routes.MIN_POSITION,
        "header",
        "read your writes: answer only once this server's reads reflect at least this "
        f"log position (e.g. a POST's {routes.POSITION}); waits up to {wait}, then 503",
        position_schema,
    )
    reflected = {
        routes.POSITION: _header(
            "a log position the answer reflects at least (with "
            f"{routes.MIN_POSITION}: at least that one)",
            position_schema,
        )
    }
    not_reached = (
        "the database is unavailable or timed out, or the log did not reach "
        f"{routes.MIN_POSITION} within {wait}",
        retry_after,
    )
    invalid_query: dict[int, tuple[str, dict[str, Json]]] = {
        400: (f"an invalid query parameter or {routes.MIN_POSITION} (named in detail)", {}),
        503: not_reached,
    }
    post = Operation(
        "POST",
        "postMessage",
        "Post a tagged message",
        params=(
            Param(
                IDEMPOTENCY_KEY,
                "header",
                f"1-{MAX_KEY_LENGTH} printable ASCII characters; a retry with the same key "
                f"within {settings.idempotency_key_ttl_hours:g} h "
                "(TAGFEED_IDEMPOTENCY_KEY_TTL_HOURS) gets the first response again",
                {"type": "string", "pattern": f"^[ -~]{{1,{MAX_KEY_LENGTH}}}$"},
            ),
        ),
        body=NewMessage,
        body_example={"text": "A very meaningful message", "tag": "philotimo"},
        ok=Answer(
            201,
            "stored durably",
            MessageOut,
            {
                "Location": _header("/v1/messages/{id}"),
                routes.POSITION: _header(
                    "the log position of the new message's event (of the first answer's, "
                    "or past it, on a replay)",
                    position_schema,
                ),
                "Idempotent-Replayed": _header(
                    "present when this replays an earlier answer",
                    {"type": "string", "enum": ["true"]},
                ),
            },
        ),
        refusals={
            400: ("malformed JSON or an invalid field (named in detail)", {}),
            409: (f"a request with this {IDEMPOTENCY_KEY} is still being processed", retry_after),
            413: (
                f"body larger than {settings.max_body_bytes} bytes (TAGFEED_MAX_BODY_BYTES)",
                {"Connection": {"schema": {"type": "string", "enum": ["close"]}}},
            ),
            415: ("Content-Type is not application/json", {}),
            422: (f"this {IDEMPOTENCY_KEY} was used with a different body", {}),
        },
    )
    list_or_count = Operation(
        "GET",
        "listMessages",
        "List messages newest first, or count them (count=1)",
        params=(
            *filters,
            _query(
                "count",
                "1: answer with the number of matches instead",
                {"type": "string", "enum": ["0", "1"]},
            ),
            _query(
                "limit",
                f"page size in decimal digits, default {DEFAULT_LIMIT}",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            ),
            _query(
                "cursor", "opaque token from the previous page's Link header", {"type": "string"}
            ),
            min_position,
        ),
        ok=Answer(
            200,
            "a page of messages (Link rel=next when more match), or a bare integer with count=1",
            list[MessageOut] | MessageCount,
            {"Link": _header('RFC 8288: <...&cursor=...>; rel="next"'), **reflected},
        ),
        refusals=invalid_query,
        counting=True,
    )
    counts = Operation(
        "GET",
        "countMessages",
        "Count messages, in total and per minute, hour or day",
        params=(
            *filters,
            _query(
                "granularity",
                "buckets per UTC period, zeros included. An open end is now; an open start "
                "is 7 days of whole buckets up to the one holding the end",
                {"type": "string", "enum": [g.value for g in Granularity]},
            ),
            min_position,
        ),
        ok=Answer(200, "the total, and buckets when granularity is given", CountsOut, reflected),
        refusals={
            400: (
                f"an invalid parameter or {routes.MIN_POSITION}, a start after the end, or "
                f"more than {MAX_BUCKETS:,} buckets",
                {},
            ),
            503: not_reached,
        },
        counting=True,
    )
    get = Operation(
        "GET",
        "getMessage",
        "One message by id",
        params=(
            Param(
                "message_id",
                "path",
                "the id from a message or a Location; opaque: any other value is a 404, "
                "never a 400",
                {"type": "string"},
            ),
            min_position,
        ),
        ok=Answer(200, "the message", MessageOut, reflected),
        refusals={
            400: (f"an invalid {routes.MIN_POSITION}", {}),
            404: ("no message with this id", {}),
            503: not_reached,
        },
    )
    stream = Operation(
        "GET",
        "streamMessages",
        "Live stream of new messages (Server-Sent Events), optionally of one tag",
        params=(
            _query("tag", "only this tag (normalised like on POST)", {"type": "string"}),
            _query(
                "after",
                "resume after this log position (an event id): replay from the log, then "
                f"live; {streams.LAST_EVENT_ID} wins over it",
                position_schema,
            ),
            Param(
                streams.LAST_EVENT_ID,
                "header",
                "the id of the last event received: resume after it (EventSource sends it "
                "when it reconnects)",
                position_schema,
            ),
        ),
        ok=Answer(
            200,
            "text/event-stream, without end: one `message` event per post, `id:` its log "
            "position, `data:` the message JSON, oldest first; a comment line "
            f"(`: heartbeat`) after {settings.stream_heartbeat_seconds:g} s without events",
            str,
            {
                "Cache-Control": _header("no-cache", {"type": "string", "enum": ["no-cache"]}),
                "X-Accel-Buffering": _header(
                    "no: a proxy must pass each event on at once",
                    {"type": "string", "enum": ["no"]},
                ),
            },
            media_type=streams.EVENT_STREAM,
        ),
        refusals={
            400: (f"an invalid tag, after or {streams.LAST_EVENT_ID} (named in detail)", {}),
            503: (
                f"this server holds {settings.stream_max_clients} open streams "
                "(TAGFEED_STREAM_MAX_CLIENTS), is shutting down, or the database is "
                "unavailable",
                retry_after,
            ),
        },
    )
    trending = Operation(
        "GET",
        "trendingTags",
        "Tags used more than usual in the last hour, day or week, highest score first",
        params=(
            _query(
                "window",
                f"default {DEFAULT_WINDOW}: the UTC hour of the newest post and the hours "
                "before it, compared with the tag's own rate over the 7 days (7d: 28 days) "
                "before the window",
                {"type": "string", "enum": list(WINDOW_NAMES)},
            ),
            _query(
                "limit",
                f"how many tags, default {TRENDING_DEFAULT_LIMIT}",
                {"type": "integer", "minimum": 1, "maximum": TRENDING_MAX_LIMIT},
            ),
            min_position,
        ),
        ok=Answer(
            200,
            "score = (count - expected)^2 / expected for tags with count > expected and "
            "at least 5 uses (docs/api.md, Trending tags); kept by a catch-up reducer, so "
            f"{routes.POSITION} is that reducer's checkpoint, which may trail the log",
            TrendingOut,
            reflected,
        ),
        refusals=invalid_query,
    )
    healthz = Operation(
        "GET",
        "healthz",
        "200 while the process runs",
        ok=Answer(200, "alive", Health),
        secured=False,
        uses_store=False,
    )
    readyz = Operation(
        "GET",
        "readyz",
        "200 when the database answers",
        ok=Answer(200, "ready", Ready),
        secured=False,
    )
    return (
        Endpoint("/v1/messages", routes.messages, (post, list_or_count)),
        Endpoint("/v1/messages/counts", routes.count_messages, (counts,)),
        # Before /v1/messages/{message_id}, which would take "stream" for an id.
        Endpoint("/v1/messages/stream", streams.stream_messages, (stream,)),
        Endpoint("/v1/messages/{message_id}", routes.get_message, (get,)),
        Endpoint("/v1/tags/trending", routes.trending_tags, (trending,)),
        Endpoint("/healthz", routes.healthz, (healthz,)),
        Endpoint("/readyz", routes.readyz, (readyz,)),
    )
