"""Event payloads as the log stores them: JSON, encoded and decoded with msgspec.

A ``MessagePosted`` (version 1) payload is the message as the API shows it
(``{"id", "text", "tag", "user_id", "created_at"}``, the instant in RFC 3339 UTC with
microseconds), so a stream or a relay can hand the stored bytes on unchanged.
"""

from datetime import datetime

import msgspec

from tagfeed.domain.events import MESSAGE_POSTED, MessagePosted, Recorded, StoredEvent
from tagfeed.domain.model import Message
from tagfeed.instants import format_utc


class _MessagePostedV1(msgspec.Struct):
    id: str
    text: str
    tag: str
    user_id: str
    created_at: datetime


class _MessagePostedV1Out(msgspec.Struct):
    id: str
    text: str
    tag: str
    user_id: str
    created_at: str


_encode = msgspec.json.Encoder().encode
_decode_v1 = msgspec.json.Decoder(_MessagePostedV1).decode


class UnknownEvent(ValueError):
    """A stored event of a type or version this code cannot read."""


def message_payload(message: tuple[str, str, str, str, datetime]) -> bytes:
    """The payload of the ``MessagePosted`` of ``message`` (a Message, or its five
    fields as a plain tuple)."""
    return _encode(
        _MessagePostedV1Out(message[0], message[1], message[2], message[3], format_utc(message[4]))
    )


def decode(stored: StoredEvent) -> Recorded:
    """The domain event of a stored one. Raises UnknownEvent for a type or version
    this code does not know (a newer writer)."""
    if stored.type != MESSAGE_POSTED or stored.version != 1:
        raise UnknownEvent(f"cannot read event {stored.type} v{stored.version}")
    p = _decode_v1(stored.payload)
    return Recorded(
        stored.position, MessagePosted(Message(p.id, p.text, p.tag, p.user_id, p.created_at))
    )
