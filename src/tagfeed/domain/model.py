"""The message, and the rules a new one must satisfy."""

from datetime import datetime
from typing import NamedTuple

from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.ids import new_message_id
from tagfeed.domain.tags import normalise_tag

DEFAULT_MAX_TEXT_LENGTH = 280


class Message(NamedTuple):
    """Immutable. A named tuple rather than a frozen dataclass: a page builds 51 of them
    per request, and a frozen dataclass costs 4x as much to build (one
    ``object.__setattr__`` per field)."""

    id: str
    text: str
    tag: str
    user_id: str
    created_at: datetime  # aware, UTC


def validate_text(raw: str, max_length: int = DEFAULT_MAX_TEXT_LENGTH) -> str:
    """Trim surrounding whitespace and check 1..max_length code points.

    NUL and unpaired surrogates are refused: no database stores them faithfully.
    """
    text = raw.strip()
    if not text:
        raise InvalidInput("text", "must not be empty")
    if len(text) > max_length:
        raise InvalidInput("text", f"must be at most {max_length} characters, got {len(text)}")
    if "\x00" in text:
        raise InvalidInput("text", "must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("text", "must be valid Unicode (no unpaired surrogates)") from None
    return text


def new_message(
    *, text: str, tag: str, user_id: str, now: datetime, max_text_length: int
) -> Message:
    """Validate and normalise a new message; raises InvalidInput naming the bad field."""
    return Message(
        id=new_message_id(now),
        text=validate_text(text, max_text_length),
        tag=normalise_tag(tag),
        user_id=user_id,
        created_at=now,
    )
