"""Events: what happened (past tense). Today the write path records them in the unit of
work; the event-log work (outbox, NATS) will publish them from there."""

from dataclasses import dataclass

from tagfeed.domain.model import Message


@dataclass(frozen=True, slots=True)
class MessagePosted:
    message: Message
