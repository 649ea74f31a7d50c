"""The relay's loop: read the log after the checkpoint, publish to JetStream, and move
the checkpoint only past events JetStream acknowledged.

    relay(store, js, stream)          follow the log for ever (until cancelled)
    keep_relaying(settings, ...)      ``tagfeed relay``: connect, relay, start over on faults

Exactly once, in order: the checkpoint (the ``relay`` row of ``reducer_checkpoints``,
held through ``Store.reducer_session``, so one relay runs at a time) moves only past
events whose acks came back, in log order. A relay killed at any instant starts again
after its checkpoint: it first reads the position of the stream's last message and skips
what the stream holds; anything in flight when it died and stored after that read is
dropped by JetStream as a duplicate (``Nats-Msg-Id`` within the duplicate window).

Throughput: only a batch's last message asks for an ack, which proves the whole batch
stored (``jetstream.publish``); batches are sent without waiting for acks, the next one
read and sent while the previous one's ack comes back, and at most ``PIPELINE`` batches
are in flight, so the window of unacknowledged events is bounded (PIPELINE * batch).
"""

import asyncio
import contextlib
from collections import deque

import nats
import nats.errors
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from tagfeed.config import Settings
from tagfeed.metrics import METRICS, Metrics
from tagfeed.relay import NAME
from tagfeed.relay.jetstream import (
    NATS_ERRORS,
    RelayError,
    Sent,
    StreamSettings,
    acknowledged,
    ensure_stream,
    last_sequence,
    publish,
    stream_position,
)
from tagfeed.store.errors import LeaseHeld, StoreError
from tagfeed.store.port import ReducerSession, Store

log = structlog.get_logger("tagfeed.relay")

BATCH = 1000
PIPELINE = 4  # batches in flight: the window of outstanding acks is PIPELINE * batch
ACK_SECONDS = 10.0  # a batch's acks must all be back within this
IDLE_SECONDS = 5.0


def nats_servers(url: str) -> list[str]:
    """``TAGFEED_NATS_URL`` as a list: one server, or several of a cluster separated by
    commas. The client shuffles them, so each new connection (after a fault) may find
    another server when one is down."""
    return [part.strip() for part in url.split(",") if part.strip()]


def stream_settings(settings: Settings) -> StreamSettings:
    return StreamSettings(
        settings.nats_stream,
        settings.nats_subject_prefix,
        settings.nats_replicas,
        settings.nats_max_age_days,
        settings.nats_duplicate_window_seconds,
    )


async def _skip_held(
    store: Store, js: JetStreamContext, stream: StreamSettings, session: ReducerSession
) -> None:
    """Move the checkpoint past what the stream already holds (published before a crash,
    acked or not). A stream ahead of the log relays another database: refuse it."""
    held = await stream_position(js, stream)
    if held <= session.position:
        return
    head = await store.head()
    if held > head:
        raise RelayError(
            f"stream {stream.name} holds position {held} but this log ends at {head}:"
            " it relays another database (TAGFEED_NATS_STREAM)"
        )
    log.info("relay_skips_held", stream=stream.name, checkpoint=session.position, held=held)
    await session.apply(None, held)


async def relay(
    store: Store,
    nc: NATS,
    stream: StreamSettings,
    *,
    batch: int = BATCH,
    idle: float = IDLE_SECONDS,
    metrics: Metrics | None = None,
) -> None:
    """Follow the log for ever. Raises LeaseHeld if another relay runs, RelayError if
    JetStream refuses or does not answer, StoreError if the database fails: in every
    case the checkpoint is where the last acknowledged batch left it. With ``metrics``,
    reports its checkpoint (reducer ``relay``) after each one and when idle."""
    js = nc.jetstream()
    async with store.reducer_session(NAME) as session:
        await _skip_held(store, js, stream, session)
        seq = await last_sequence(js, stream)
        log.info("relay_started", stream=stream.name, position=session.position, seq=seq)
        in_flight: deque[Sent] = deque()
        sent = session.position  # the last position published (acked or not)
        try:
            while True:
                stored = []
                if len(in_flight) < PIPELINE:
                    stored = await store.read_events(sent, batch)
                    if stored:
                        in_flight.append(await publish(nc, js, stream, stored, seq))
                        sent, seq = in_flight[-1].position, in_flight[-1].last_seq
                if in_flight and (not stored or len(in_flight) >= PIPELINE):
                    oldest = in_flight.popleft()  # its ack, then its checkpoint
                    await acknowledged(oldest, ACK_SECONDS)
                    await session.apply(None, oldest.position)
                    if metrics is not None:
                        position = session.position
                        metrics.reducer_position(NAME, position, max(store.seen_head(), position))
                elif not in_flight and (moved := await store.wait_for_head(sent, idle)) <= sent:
                    if metrics is not None:
                        position = session.position
                        metrics.reducer_position(NAME, position, max(moved, position))
                    await session.keep()
        finally:
            for unsettled in in_flight:
                unsettled.ack.cancel()


async def keep_relaying(
    store: Store,
    settings: Settings,
    *,
    batch: int = BATCH,
    retry: float = 2.0,
    metrics: Metrics | None = None,
) -> None:
    """``tagfeed relay``: connect to NATS, make sure of the stream, relay; after a fault
    of NATS or of the database, or while another relay holds the checkpoint, try again
    ``retry`` seconds later."""
    stream = stream_settings(settings)
    while True:
        connection = None
        try:
            connection = await nats.connect(
                nats_servers(settings.nats_url),
                name="tagfeed-relay",
                connect_timeout=5,
                allow_reconnect=False,
            )
            await ensure_stream(connection.jetstream(), stream)
            await relay(store, connection, stream, batch=batch, metrics=metrics)
        except LeaseHeld:
            pass  # another relay publishes: stand by
        except (RelayError, StoreError, nats.errors.Error, OSError, TimeoutError) as exc:
            log.warning("relay_failed", error=repr(exc))
        finally:
            if connection is not None:
                await _close(connection)
        await asyncio.sleep(retry)


async def _close(connection: NATS) -> None:
    with contextlib.suppress(*NATS_ERRORS):
        await asyncio.wait_for(connection.close(), 5)


def run_until_stopped(settings: Settings, *, batch: int = BATCH) -> int:
    """``tagfeed relay``: relay until SIGINT/SIGTERM; the exit status."""
    import signal

    from tagfeed.server.logs import configure_logging
    from tagfeed.store.factory import store_from_settings

    configure_logging(settings.log_level)

    async def main() -> None:
        store = store_from_settings(settings)
        await store.open()
        metrics = METRICS if settings.metrics else None
        task = asyncio.ensure_future(keep_relaying(store, settings, batch=batch, metrics=metrics))
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            await store.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0
