"""JetStream: the relay's stream, created or checked on start, and how one batch of
events is published to it.

Every message carries ``Nats-Msg-Id`` = the event id, so JetStream drops a copy that
arrives within the stream's duplicate window (a republish after a crash);
``Nats-Expected-Last-Sequence``, so the stream never holds a gap nor events out of
order (``publish``); and ``Tagfeed-Position`` = the event's position, so a relay that
starts reads where the stream ends (``stream_position``) instead of trusting the window
alone. Driver errors
become ``RelayError`` here; nothing above this module sees a NATS type.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, PubAck, RetentionPolicy, StorageType, StreamConfig

from tagfeed.domain.events import MESSAGE_POSTED, StoredEvent
from tagfeed.relay.subjects import subject_for

MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST_SEQ = "Nats-Expected-Last-Sequence"
POSITION = "Tagfeed-Position"
# The errors of a connection or a server that may pass: the relay tries again later.
NATS_ERRORS: tuple[type[BaseException], ...] = (nats.errors.Error, OSError, TimeoutError)


class _Tagged(msgspec.Struct):
    """Of a MessagePosted payload (``store/codec.py``) the relay reads only the tag."""

    tag: str


_tag_of = msgspec.json.Decoder(_Tagged).decode


class RelayError(Exception):
    """JetStream refused or did not answer; the relay starts over from its checkpoint."""


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """What the relay publishes to, and the stream's settings (docs/events.md)."""

    name: str = "tagfeed"
    subject_prefix: str = "tagfeed.messages"
    replicas: int = 1  # 3 in a cluster: a stream survives the loss of one server
    max_age_days: float = 7.0  # limits retention: consumers have a week to catch up
    duplicate_window_seconds: float = 120.0

    def config(self) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            description="tagfeed's event log, one message per event, in log order",
            subjects=[f"{self.subject_prefix}.>"],
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.OLD,
            max_age=self.max_age_days * 86_400,
            storage=StorageType.FILE,
            num_replicas=self.replicas,
            duplicate_window=self.duplicate_window_seconds,
        )


_OWNED = ("subjects", "retention", "max_age", "storage", "num_replicas", "duplicate_window")


async def ensure_stream(js: JetStreamContext, stream: StreamSettings) -> None:
    """Create the stream, or bring an existing one to these settings (only the fields
    listed in ``_OWNED``; others an operator set are kept). Idempotent. Raises
    RelayError if JetStream refuses, e.g. another stream holds these subjects."""
    wanted = stream.config()
    try:
        try:
            info = await js.stream_info(stream.name)
        except nats.js.errors.NotFoundError:
            await js.add_stream(wanted)
            return
        current = info.config
        changes = {
            field: getattr(wanted, field)
            for field in _OWNED
            if getattr(current, field) != getattr(wanted, field)
        }
        if changes:
            await js.update_stream(current.evolve(**changes))
    except NATS_ERRORS as exc:
        raise RelayError(f"stream {stream.name}: {exc!r}") from exc


async def stream_position(js: JetStreamContext, stream: StreamSettings) -> int:
    """The position of the stream's last message (0 if it is empty, or if its last
    message is not one of ours): everything up to it is in the stream already."""
    try:
        info = await js.stream_info(stream.name)
        last = info.state.last_seq
        if not last:
            return 0
        message = await js.get_msg(stream.name, seq=last)
    except nats.js.errors.NotFoundError:
        return 0  # the last message was removed since (limits): start from the checkpoint
    except NATS_ERRORS as exc:
        raise RelayError(f"stream {stream.name}: {exc!r}") from exc
    raw = (message.headers or {}).get(POSITION, "")
    return int(raw) if isinstance(raw, str) and raw.isdigit() else 0


def headers_of(event: StoredEvent, after_seq: int) -> dict[str, str]:
    return {
        MSG_ID: event.event_id,
        EXPECTED_LAST_SEQ: str(after_seq),
        POSITION: str(event.position),
    }


@dataclass(frozen=True, slots=True)
class Sent:
    """A batch on its way: stored in full once ``ack`` says its last message got
    sequence ``last_seq`` (as a new message, not a duplicate)."""

    position: int  # the batch's last event
    last_seq: int
    ack: "asyncio.Future[PubAck]"


async def last_sequence(js: JetStreamContext, stream: StreamSettings) -> int:
    """The stream's last sequence number (0 when it never held a message)."""
    try:
        return int((await js.stream_info(stream.name)).state.last_seq)
    except NATS_ERRORS as exc:
        raise RelayError(f"stream {stream.name}: {exc!r}") from exc


async def publish(
    nc: NATS, js: JetStreamContext, stream: StreamSettings, events: Sequence[StoredEvent], seq: int
) -> Sent:
    """Send ``events`` (not empty) in order, the stream's last sequence being ``seq``,
    without waiting; only the last message asks for an ack.

    Each message is conditional on the sequence before it (``Nats-Expected-Last-Sequence``):
    JetStream stores it only right after its predecessor, so once one is refused every
    later one is too, and the stream never holds a gap. One ack for the last message thus
    proves the whole batch stored, in order, for the cost of one reply instead of one per
    message (three times the throughput)."""
    prefix = stream.subject_prefix
    if any(event.type != MESSAGE_POSTED for event in events):
        raise RelayError("the relay knows only MessagePosted events; upgrade it")
    try:
        for event in events[:-1]:
            tag = _tag_of(event.payload).tag
            await nc.publish(
                subject_for(prefix, tag), event.payload, headers=headers_of(event, seq)
            )
            seq += 1
        last = events[-1]
        ack = await js.publish_async(
            subject_for(prefix, _tag_of(last.payload).tag),
            last.payload,
            stream=stream.name,  # refused unless it lands in this stream
            headers=headers_of(last, seq),
        )
    except NATS_ERRORS as exc:
        raise RelayError(f"publish: {exc!r}") from exc
    return Sent(last.position, seq + 1, ack)


async def acknowledged(sent: Sent, within: float) -> None:
    """Return once the batch's ack says it is stored; raise RelayError if JetStream
    refused it (a message out of sequence: an earlier one failed, or another publisher
    wrote to the stream), took its last message for a duplicate, or did not answer in
    ``within`` seconds (an ack lost with a connection never comes)."""
    try:
        async with asyncio.timeout(within):
            ack = await sent.ack
    except TimeoutError:
        raise RelayError(f"no ack within {within:g} s") from None
    except NATS_ERRORS as exc:
        raise RelayError(f"refused: {exc!r}") from exc
    finally:
        sent.ack.cancel()  # a no-op once done
    if ack.duplicate or ack.seq != sent.last_seq:
        raise RelayError(
            f"position {sent.position} stored as sequence {ack.seq} (duplicate: "
            f"{bool(ack.duplicate)}), expected {sent.last_seq}: starting over"
        )
