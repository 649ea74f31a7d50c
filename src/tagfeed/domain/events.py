"""Events: what happened (past tense), and an event as the log holds it.

The log (``docs/events.md``) is the source of truth: every read model is a fold of it.
``MessagePosted`` is the one event type so far; its id is the message's id, so an event
appended twice (a retried import) is refused by the log's unique ``event_id``.
"""

from dataclasses import dataclass
from datetime import datetime

from tagfeed.domain.model import Message

MESSAGE_POSTED = "MessagePosted"
MESSAGE_POSTED_VERSION = 1  # the payload's schema: the five fields of a message


@dataclass(frozen=True, slots=True)
class MessagePosted:
    message: Message


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the log holds it. ``position`` is its place in the log: strictly
    increasing in commit order, without gaps, so a reader that has seen position P has
    seen every event up to P. ``payload`` is the event's JSON document as stored (UTF-8
    bytes, undecoded: a relay or a stream can pass it on as it is); for
    ``MessagePosted`` v1 it is the message as the API shows it."""

    position: int
    event_id: str
    type: str
    version: int
    payload: bytes
    recorded_at: datetime  # when the log appended it (UTC)


@dataclass(frozen=True, slots=True)
class Recorded:
    """A decoded event with its position: what reducers fold."""

    position: int
    event: MessagePosted
