"""Wire shapes: what clients send and receive. The same types validate requests and
produce the OpenAPI schemas, so the document cannot drift from the code."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec

from tagfeed.domain.counting import Bucket, Granularity
from tagfeed.domain.model import Message
from tagfeed.domain.tags import MAX_TAG_LENGTH
from tagfeed.domain.trends import Trending
from tagfeed.instants import format_utc


class NewMessage(msgspec.Struct):
    """The body of POST /v1/messages. Unknown fields are ignored."""

    # minLength in the schema only: the service's own checks name the rule broken.
    text: Annotated[
        str,
        msgspec.Meta(
            # The maximum is a setting: openapi.py writes it into this description.
            description="1 to TAGFEED_MAX_TEXT_LENGTH characters after trimming; no NUL",
            extra_json_schema={"minLength": 1},
        ),
    ]
    tag: Annotated[
        str,
        msgspec.Meta(
            description="normalised: NFKC, leading '#' dropped, case-folded, "
            f"inner whitespace to '-'; then 1-{MAX_TAG_LENGTH} letters, digits, '_' or '-'",
            extra_json_schema={"minLength": 1},
        ),
    ]


# Formats are for the OpenAPI document (response checks validate them); these types are
# only ever encoded, so msgspec never enforces them.
_INSTANT = {"format": "date-time"}


class MessageOut(msgspec.Struct):
    id: Annotated[
        str,
        msgspec.Meta(
            description="UUIDv7, ordered by creation time", extra_json_schema={"format": "uuid"}
        ),
    ]
    text: str
    tag: str
    user_id: str
    created_at: Annotated[
        str,
        msgspec.Meta(description="UTC, RFC 3339, microseconds, 'Z'", extra_json_schema=_INSTANT),
    ]


class Problem(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem detail."""

    type: str
    title: str
    status: int
    detail: str
    request_id: str = ""  # omitted when empty


MessageCount = Annotated[int, msgspec.Meta(ge=0)]  # GET /v1/messages?count=1


class Health(msgspec.Struct):
    status: Literal["ok"]


class Ready(msgspec.Struct):
    status: Literal["ready"]


class BucketOut(msgspec.Struct):
    start: Annotated[str, msgspec.Meta(description="inclusive, UTC", extra_json_schema=_INSTANT)]
    end: Annotated[str, msgspec.Meta(description="exclusive, UTC", extra_json_schema=_INSTANT)]
    count: int


class CountsOut(msgspec.Struct, omit_defaults=True):
    """The body of GET /v1/messages/counts; granularity and buckets only when asked for."""

    total: int
    granularity: str | msgspec.UnsetType = msgspec.UNSET
    buckets: list[BucketOut] | msgspec.UnsetType = msgspec.UNSET


class TrendOut(msgspec.Struct):
    tag: str
    count: Annotated[int, msgspec.Meta(description="uses in the window")]
    expected: Annotated[
        float, msgspec.Meta(description="uses the tag's own usual rate predicts (at least 1)")
    ]
    score: Annotated[float, msgspec.Meta(description="(count - expected)^2 / expected")]


class TrendingOut(msgspec.Struct):
    """The body of GET /v1/tags/trending (docs/api.md, "Trending tags")."""

    window: Literal["1h", "24h", "7d"]
    start: Annotated[
        str | None,
        msgspec.Meta(
            description="the window's first whole UTC hour (null before any post)",
            extra_json_schema=_INSTANT,
        ),
    ]
    end: Annotated[
        str | None,
        msgspec.Meta(
            description="the end of the hour of the newest post the view has folded",
            extra_json_schema=_INSTANT,
        ),
    ]
    tags: list[TrendOut]


def trending_out(trending: Trending) -> TrendingOut:
    return TrendingOut(
        trending.window,  # type: ignore[arg-type]  # one of WINDOW_NAMES, checked on input
        None if trending.start is None else format_utc(trending.start),
        None if trending.end is None else format_utc(trending.end),
        [TrendOut(t.tag, t.count, round(t.expected, 3), round(t.score, 3)) for t in trending.tags],
    )


def render_buckets(buckets: Sequence[Bucket]) -> bytes:
    """Buckets as the elements of a JSON array, without the brackets, so renderings of
    consecutive runs join with a comma (see ``counts_body``)."""
    return encoder.encode(
        [BucketOut(format_utc(b.start), format_utc(b.end), b.count) for b in buckets]
    )[1:-1]


def counts_body(total: int, granularity: Granularity, *renderings: bytes) -> bytes:
    """The CountsOut JSON with buckets given as renderings from ``render_buckets``."""
    head = b'{"total":%d,"granularity":"%s","buckets":[' % (total, granularity.value.encode())
    # One join, one copy of what may be tens of kilobytes of buckets.
    return b"".join([head, b",".join(r for r in renderings if r), b"]}"])


class _MessageBytes(msgspec.Struct):
    """MessageOut as it is encoded (msgspec encodes by value, not by annotation): the
    instant as the datetime itself when msgspec writes it as format_utc would (UTC, a
    fraction: six digits and a Z), saving format_utc's copy for nearly every message."""

    id: str
    text: str
    tag: str
    user_id: str
    created_at: datetime | str


def _wire(message: Message) -> _MessageBytes:
    at = message.created_at
    created = at if at.microsecond and at.tzinfo is UTC else format_utc(at)
    return _MessageBytes(message.id, message.text, message.tag, message.user_id, created)


def message_json(message: Message) -> bytes:
    """The MessageOut JSON of ``message``."""
    return encoder.encode(_wire(message))


def messages_json(messages: Sequence[Message]) -> bytes:
    """The JSON array of the MessageOut of each of ``messages``."""
    return encoder.encode([_wire(m) for m in messages])


encoder = msgspec.json.Encoder()
new_message_decoder = msgspec.json.Decoder(NewMessage)
