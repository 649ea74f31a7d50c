"""The JSON Lines format of ``tagfeed import`` and ``tagfeed export``: one message a line.

A line read is validated exactly as ``POST /v1/messages`` validates a body, plus the two
fields the server would otherwise assign: ``user_id`` (the ``X-User-ID`` rule) and
``created_at`` (an RFC 3339 instant with a zone). A line written is
``{"id","text","tag","user_id","created_at"}`` with ``created_at`` as the API writes it,
so what ``export`` writes, ``import`` reads back to the same message.
"""

import re
from datetime import datetime
from functools import lru_cache
from typing import Any

import msgspec

from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.ids import EPOCH, new_message_id
from tagfeed.domain.model import DEFAULT_MAX_TEXT_LENGTH, Message, validate_text
from tagfeed.domain.tags import normalise_tag
from tagfeed.domain.timerange import parse_instant
from tagfeed.domain.users import validate_user_id
from tagfeed.instants import format_utc


class LineIn(msgspec.Struct):
    """One line as read. Unknown fields are ignored, as on POST."""

    text: str
    tag: str
    user_id: str
    created_at: str
    # Any JSON value: an id that is not a canonical UUID is replaced, not refused.
    id: Any = None


class LineOut(msgspec.Struct):
    """One line as written, fields in the order of the API's message."""

    id: str
    text: str
    tag: str
    user_id: str
    created_at: str


# A message's fields in Message's order: (id, text, tag, user_id, created_at). The
# loaders need only the fields, by position, as they need them from a Message (a named
# tuple of the same shape).
Fields = tuple[str, str, str, str, datetime]

_decoder = msgspec.json.Decoder(LineIn)
_encoder = msgspec.json.Encoder()
# Exactly what tagfeed.domain.ids.is_message_id accepts (a canonical lower-case UUID),
# without building a uuid.UUID: fifteen times cheaper, and every exported line has one.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Users repeat (thousands of distinct values in a million lines), so each distinct value
# is checked once (normalise_tag caches its own); values that fail are not cached.
_validate_user_id = lru_cache(maxsize=65_536)(validate_user_id)


def _invalid(reason: str) -> InvalidInput:
    """msgspec says "Expected `str`, got `int` - at `$.tag`" or "Object missing required
    field `tag`"; name the field and keep the rest."""
    if reason.startswith("Object missing required field `"):
        return InvalidInput(reason.split("`")[1], "is required")
    detail, found, where = reason.partition(" - at `$.")
    if found:
        return InvalidInput(where.partition("`")[0], detail)
    return InvalidInput("line", reason)


def parse_fields(raw: bytes, max_text_length: int = DEFAULT_MAX_TEXT_LENGTH) -> Fields:
    """The fields of the message a line holds, validated and normalised like a POST.

    ``id`` is kept when it is a canonical (lower-case) UUID, and made from ``created_at``
    (a UUIDv7, as the server makes them) when absent or anything else — which needs
    ``created_at`` in 1970 or later. Raises InvalidInput naming the offending field
    (``line`` when the line is not a JSON object).
    """
    try:
        line = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        reason = str(exc)
        if reason.startswith("Expected `object`"):
            raise InvalidInput("line", "must be a JSON object") from None
        raise _invalid(reason) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput("line", f"is not valid JSON ({exc})") from None
    except UnicodeDecodeError:
        raise InvalidInput("line", "is not valid UTF-8") from None
    text = validate_text(line.text, max_text_length)
    tag = normalise_tag(line.tag)
    user_id = _validate_user_id(line.user_id)
    created_at = parse_instant("created_at", line.created_at)
    given = line.id
    if type(given) is str and _CANONICAL_UUID.fullmatch(given):
        return (given, text, tag, user_id, created_at)
    if created_at < EPOCH:  # a UUIDv7 holds milliseconds since 1970, unsigned
        raise InvalidInput("created_at", "is before 1970: such a line needs its own id (a UUID)")
    return (new_message_id(created_at), text, tag, user_id, created_at)


def parse_line(raw: bytes, max_text_length: int = DEFAULT_MAX_TEXT_LENGTH) -> Message:
    """The message a line holds; see ``parse_fields``."""
    return Message(*parse_fields(raw, max_text_length))


def format_line(message: Message) -> bytes:
    """One line of export, newline included."""
    out = LineOut(
        message.id, message.text, message.tag, message.user_id, format_utc(message.created_at)
    )
    return _encoder.encode(out) + b"\n"
