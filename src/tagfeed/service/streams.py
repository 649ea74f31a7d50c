"""Live streams of the log, fanned out as Mastodon's streaming server does it: ONE
follower per process reads the log (``read_events`` after its position, woken by the
store's ``wait_for_head``) and hands each event to the bounded queues of the subscribers
whose tag it has. Each event is rendered once (``Render``) for all of them.

A subscriber that resumes from position A is registered first, at the follower's
position L, in the same turn of the event loop: every event after L reaches its queue
live, and it replays (A, L] from the log before it takes them. Live frames at or below
what it already has (A, when A is beyond L) are dropped, so the switch has no gap and no
duplicate. Should its queue fill while it replays (a long replay under heavy traffic),
the queued frames are dropped and it replays again, up to the follower's new position:
the log still has them. Once live, a full queue means the client stopped reading: it is
dropped (``Subscription.ended == "dropped"``), and may resume with its last id.

Knows the storage port only; the HTTP side (SSE, heartbeats) is ``api/streams.py``.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Literal

import structlog

from tagfeed.metrics import Metrics
from tagfeed.service.heartbeats import Heartbeats
from tagfeed.store.codec import UnknownEvent, decode
from tagfeed.store.port import Store, StoredEvent

log = structlog.get_logger("tagfeed.streams")

# (position, stored payload) -> the bytes a client is sent for that event.
Render = Callable[[int, bytes], bytes]
Ending = Literal["closed", "dropped", "gone"]
READ_BATCH = 500  # events per read of the log, live and replay
FOLLOWER_IDLE_WAIT = 30.0  # seconds per wait_for_head call; it loops
RETRY_AFTER_FAULT = 1.0  # seconds before the follower retries after a store fault


class StreamsFull(Exception):
    """This process holds as many open streams as it may."""


class StreamsClosed(Exception):
    """The process is shutting down: no new stream."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One event as every stream sends it, rendered once."""

    position: int
    tag: str
    data: bytes


class Subscription:
    """One client's view of the stream: replay, then live. Iterate ``batches``; stop
    when it ends. ``on_drop`` (set by the HTTP side) is called once when the client is
    dropped, e.g. to abort a write it is stuck in."""

    __slots__ = (
        "_capacity",
        "_floor",
        "_hub",
        "_overflowed",
        "_pending",
        "_replay_to",
        "_replayed",
        "_waiter",
        "ended",
        "on_drop",
        "tag",
    )

    def __init__(
        self, hub: "StreamHub", tag: str | None, after: int, replay_to: int, capacity: int
    ) -> None:
        self._hub = hub
        self.tag = tag
        self._capacity = capacity
        # Live frames at or below the floor are dropped: the client has them (from the
        # replay, or before it resumed ahead of the follower), or they are queued.
        self._floor = max(after, replay_to)
        self._replayed = after  # the client has every matching event up to here
        self._replay_to = replay_to  # ... and is sent (replayed, replay_to] from the log
        self._overflowed = False
        self._pending: list[Frame] = []
        # Set while the client waits for frames: a bare future, made only then (an
        # asyncio.Event would hold a deque of ~700 bytes for each of 10,000 streams).
        self._waiter: asyncio.Future[None] | None = None
        self.ended: Ending | None = None
        self.on_drop: Callable[[], None] | None = None

    @property
    def replaying(self) -> bool:
        return self._replay_to > self._replayed

    # -- the follower's side ----------------------------------------------------------

    def offer(self, frames: list[Frame]) -> None:
        """Queue live frames, in position order."""
        if self.ended is not None or self._overflowed:
            return
        if frames[0].position <= self._floor:
            frames = [f for f in frames if f.position > self._floor]
            if not frames:
                return
        if len(self._pending) + len(frames) > self._capacity:
            if self.replaying:  # not the client's fault: replay again, from the log
                self._overflowed = True
                self._pending.clear()
            else:
                self._end("dropped")
            return
        self._pending.extend(frames)
        self._floor = frames[-1].position
        self._wake()

    def _end(self, why: Ending) -> None:
        if self.ended is None:
            self.ended = why
            self._wake()
            if why == "dropped" and self.on_drop is not None:
                self.on_drop()

    # -- the client's side ------------------------------------------------------------

    def close(self) -> None:
        """The client left (or the stream ended): unregister."""
        self._end("gone")
        self._hub._forget(self)

    async def batches(self, idle: float) -> AsyncIterator[list[bytes]]:
        """The frames to send, in position order: the replay, then live batches as they
        come; an empty batch after ``idle`` seconds without any (time for a heartbeat).
        Ends when the subscription ends."""
        while self.replaying:
            async for batch in self._hub._replay(self.tag, self._replayed, self._replay_to):
                yield batch
                if self._over():
                    return
            self._replayed = self._replay_to
            if self._overflowed:
                # Live frames were lost while replaying; the log has them. Replay up to
                # the follower's position now, and take live frames from there on.
                self._overflowed = False
                self._pending.clear()
                self._replay_to = self._floor = max(self._hub.position, self._replayed)
        heartbeats = self._hub.heartbeats
        while not self._over():
            if not self._pending:
                self._waiter = asyncio.get_running_loop().create_future()
                heartbeats.wait(self, idle)  # one timer for all: service/heartbeats.py
                try:
                    await self._waiter
                finally:
                    self._waiter = None
                    heartbeats.cancel(self, idle)
                if self._over():
                    return
                if not self._pending:  # woken by the heartbeat: idle for ``idle`` s
                    yield []
                    continue
            taken, self._pending = self._pending, []
            yield [frame.data for frame in taken]

    def beat(self) -> None:
        """The heartbeat is due (``Heartbeats``): wake the client's side."""
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _over(self) -> bool:
        # A method, not ``self.ended is None`` inline: the type checker would take the
        # attribute for unchanged across an await.
        return self.ended is not None


class StreamHub:
    """The process's one follower of the log, and its subscribers."""

    def __init__(
        self,
        store: Store,
        render: Render,
        *,
        max_streams: int,
        capacity: int,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics  # tagfeed_streams_open follows the count; None: off
        self._render = render
        self._max_streams = max_streams
        self._capacity = capacity
        self.position = 0  # every event up to here has been offered to subscribers
        self._untagged: set[Subscription] = set()
        self._by_tag: dict[str, set[Subscription]] = {}
        self._count = 0
        self._follower: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        self._closed = False
        self.heartbeats = Heartbeats()  # the idle streams' one timer

    @property
    def open_streams(self) -> int:
        return self._count

    async def subscribe(self, tag: str | None, after: int | None) -> Subscription:
        """A subscription to events with ``tag`` (None: all) after position ``after``
        (None: from now on). Raises StreamsFull beyond the cap, StreamsClosed during
        shutdown, a StoreError when the log cannot be read to start following."""
        self._admit()
        await self._follow_from_now()
        self._admit()  # others may have come in while this waited
        now = self.position
        subscription = Subscription(self, tag, now if after is None else after, now, self._capacity)
        if tag is None:
            self._untagged.add(subscription)
        else:
            self._by_tag.setdefault(tag, set()).add(subscription)
        self._count += 1
        if self._metrics is not None:
            self._metrics.streams_open(1)
        return subscription

    def _admit(self) -> None:
        if self._closed:
            raise StreamsClosed
        if self._count >= self._max_streams:
            raise StreamsFull

    def _forget(self, subscription: Subscription) -> None:
        tag = subscription.tag
        group = self._untagged if tag is None else self._by_tag.get(tag)
        if group is not None and subscription in group:
            group.discard(subscription)
            self._count -= 1
            if self._metrics is not None:
                self._metrics.streams_open(-1)
            if tag is not None and not group:
                del self._by_tag[tag]

    def end_streams(self) -> None:
        """Shutdown has begun: end every stream now (each finishes its response) and
        refuse new ones. No await: callable from a signal handler's callback."""
        self._closed = True
        for group in (self._untagged, *self._by_tag.values()):
            for subscription in group:
                subscription._end("closed")

    async def close(self) -> None:
        """End every stream and stop following; idempotent."""
        self.end_streams()
        self.heartbeats.close()
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
            self._follower = None

    # -- following the log ----------------------------------------------------------------

    async def _follow_from_now(self) -> None:
        """Start the follower at the log's head, the first time a stream needs it."""
        if self._follower is not None:
            return
        async with self._starting:
            if self._follower is None:
                self.position = await self._store.head()
                self._follower = asyncio.create_task(self._follow(), name="stream-follower")

    async def _follow(self) -> None:
        while True:
            try:
                head = await self._store.wait_for_head(self.position, FOLLOWER_IDLE_WAIT)
                if self._count == 0:
                    # Nobody to tell: skip ahead without reading. A subscriber that comes
                    # later and resumes from before this replays from the log.
                    self.position = max(self.position, head)
                    continue
                while self.position < head:
                    events = await self._store.read_events(self.position, READ_BATCH)
                    if not events:
                        break
                    self._fan_out(events)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a stream must outlive a database fault
                log.warning("stream_follower_fault", error=repr(exc))
                await asyncio.sleep(RETRY_AFTER_FAULT)

    def _fan_out(self, events: list[StoredEvent]) -> None:
        """Offer a batch to every subscriber it concerns, one list per tag, then move the
        position; no await in between, so a subscriber registers either before (and gets
        these live) or after (and replays them)."""
        everything: list[Frame] = []
        by_tag: dict[str, list[Frame]] = {}
        for event in events:
            frame = self._frame(event)
            if frame is not None:
                everything.append(frame)
                if frame.tag in self._by_tag:
                    by_tag.setdefault(frame.tag, []).append(frame)
        if everything:
            for subscription in list(self._untagged):
                subscription.offer(everything)
        for tag, frames in by_tag.items():
            for subscription in list(self._by_tag[tag]):
                subscription.offer(frames)
        self.position = events[-1].position

    def _frame(self, event: StoredEvent) -> Frame | None:
        """The frame of a MessagePosted; None for events streams do not show."""
        try:
            recorded = decode(event)
        except UnknownEvent:
            return None
        return Frame(
            event.position, recorded.event.message.tag, self._render(event.position, event.payload)
        )

    async def _replay(self, tag: str | None, after: int, until: int) -> AsyncIterator[list[bytes]]:
        """The rendered frames of the matching events in (after, until], read from the
        log a page at a time (positions have no gaps, so a page never passes ``until``)."""
        while after < until:
            events = await self._store.read_events(after, min(READ_BATCH, until - after))
            if not events:
                return
            batch = []
            for event in events:
                frame = self._frame(event)
                if frame is not None and (tag is None or frame.tag == tag):
                    batch.append(frame.data)
            after = events[-1].position
            if batch:
                yield batch
