"""The fan-out of live streams over the in-memory store: one follower, many bounded
queues; a resume replays from the log and switches to live with no gap and no
duplicate; a client that stops reading is dropped; the per-process cap."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from tagfeed.domain.ids import new_message_id
from tagfeed.domain.model import Message
from tagfeed.service import streams
from tagfeed.service.streams import StreamHub, StreamsClosed, StreamsFull, Subscription
from tagfeed.store.memory import MemoryStore
from tagfeed.store.port import StoredEvent, unit_of_work

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def render(position: int, payload: bytes) -> bytes:
    return b"%d;" % position  # the tests read the positions back from the frames


async def post(store: MemoryStore, *tags: str) -> None:
    async with unit_of_work(store) as work:
        for tag in tags:
            n = len(store.events) + len(work.events)
            at = T0 + timedelta(microseconds=n)
            work.add_message(Message(new_message_id(at), f"m{n}", tag, "u", at))
        await work.commit()


async def settled(hub: StreamHub, store: MemoryStore) -> None:
    """Until the follower has offered every event of the log (it has no event to wait
    on: the test looks at it from outside, as seldom as it can)."""
    async with asyncio.timeout(5):
        while hub.position < len(store.events):  # noqa: ASYNC110
            await asyncio.sleep(0.001)


def positions(batch: list[bytes]) -> list[int]:
    return [int(frame.rstrip(b";")) for frame in batch]


async def receive(subscription: Subscription, until: int) -> list[int]:
    """Positions received until ``until`` (heartbeats skipped), bounded in time."""
    got: list[int] = []
    async with asyncio.timeout(5):
        async for batch in subscription.batches(idle=0.05):
            got += positions(batch)
            if got and got[-1] >= until:
                break
    return got


@pytest.fixture
async def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
async def hub(store: MemoryStore) -> AsyncIterator[StreamHub]:
    running = StreamHub(store, render, max_streams=100, capacity=1000)
    yield running
    await running.close()


async def test_live_events_reach_every_subscriber_of_their_tag(
    store: MemoryStore, hub: StreamHub
) -> None:
    await post(store, "old")  # before anyone listens: not part of a live stream
    everything = await hub.subscribe(None, None)
    news = await hub.subscribe("news", None)
    await post(store, "news", "sport", "news")
    assert await receive(everything, 4) == [2, 3, 4]
    assert await receive(news, 4) == [2, 4]


async def test_a_resume_replays_the_missed_events_then_follows_live(
    store: MemoryStore, hub: StreamHub
) -> None:
    await post(store, "a", "b", "a", "a")
    await hub.subscribe(None, None)  # the follower runs and has passed position 4
    await post(store, "a", "b")
    await settled(hub, store)
    resumed = await hub.subscribe("a", 1)
    await post(store, "a")
    assert await receive(resumed, 7) == [3, 4, 5, 7]


class PostingWhileReplaying(MemoryStore):
    """Appends a new event every time the log is read below ``replay_below``, as posts
    arriving while a client replays: the live feed then holds events the replay began
    without, and the switch must neither skip nor repeat one."""

    replay_below = 0
    appended = 0

    async def read_events(self, after: int, limit: int) -> list[StoredEvent]:
        page = await super().read_events(after, limit)
        if after < self.replay_below:
            self.appended += 1
            await post(self, "t" if self.appended % 3 else "other")
        return page


async def test_events_posted_during_a_replay_arrive_once_each_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(streams, "READ_BATCH", 3)  # ten pages, a post after each
    store = PostingWhileReplaying()
    await post(store, *["t"] * 30)
    hub = StreamHub(store, render, max_streams=10, capacity=1000)
    try:
        await hub.subscribe(None, None)
        await settled(hub, store)
        store.replay_below = 30
        resumed = await hub.subscribe("t", 0)
        got = await receive(resumed, 40)  # 30 replayed, then 31-40 less every third
        assert store.appended == 10  # the replay did overlap with live events
        expected = [e.position for e in store.events if b'"tag":"t"' in e.payload]
        assert got == expected
        assert expected == [*range(1, 33), 34, 35, 37, 38, 40]
    finally:
        await hub.close()


async def test_a_resume_ahead_of_the_follower_skips_what_the_client_has(
    store: MemoryStore, hub: StreamHub
) -> None:
    await hub.subscribe(None, None)
    await post(store, "a")
    await settled(hub, store)
    ahead = await hub.subscribe(None, 3)  # seen elsewhere, e.g. from another process
    await post(store, "a", "a", "a", "a")
    assert await receive(ahead, 5) == [4, 5]


async def test_a_queue_that_fills_while_replaying_replays_again_instead_of_dropping(
    store: MemoryStore,
) -> None:
    hub = StreamHub(store, render, max_streams=10, capacity=2)
    try:
        await post(store, *["x"] * 5)
        resumed = await hub.subscribe("x", 0)  # registered, replay not started yet
        await post(store, *["x"] * 4)  # more than its queue holds, while "replaying"
        await settled(hub, store)
        assert resumed.ended is None
        assert await receive(resumed, 9) == list(range(1, 10))
    finally:
        await hub.close()


async def test_a_client_that_stops_reading_is_dropped_when_its_queue_is_full(
    store: MemoryStore,
) -> None:
    hub = StreamHub(store, render, max_streams=10, capacity=3)
    try:
        reader = await hub.subscribe(None, None)
        stuck = await hub.subscribe(None, None)
        dropped: list[bool] = []
        stuck.on_drop = lambda: dropped.append(True)
        await post(store, "a", "a", "a")
        await settled(hub, store)
        assert await receive(reader, 3) == [1, 2, 3]
        endings = [stuck.ended]  # three queued: at the bound, not past it
        await post(store, "a")
        await settled(hub, store)
        endings.append(stuck.ended)
        assert endings == [None, "dropped"]
        assert dropped == [True]
        assert [batch async for batch in stuck.batches(idle=1)] == []
        assert await receive(reader, 4) == [4]  # the others go on
    finally:
        await hub.close()


async def test_the_cap_refuses_one_stream_too_many_and_frees_a_place_on_close(
    store: MemoryStore,
) -> None:
    hub = StreamHub(store, render, max_streams=2, capacity=10)
    try:
        first = await hub.subscribe(None, None)
        await hub.subscribe("a", None)
        with pytest.raises(StreamsFull):
            await hub.subscribe("b", None)
        first.close()
        first.close()  # twice is harmless
        assert hub.open_streams == 1
        await hub.subscribe("b", None)
        assert hub.open_streams == 2
    finally:
        await hub.close()


async def test_shutdown_ends_every_stream_and_refuses_new_ones(
    store: MemoryStore, hub: StreamHub
) -> None:
    subscription = await hub.subscribe(None, None)
    hub.end_streams()
    async with asyncio.timeout(5):
        assert [batch async for batch in subscription.batches(idle=10)] == []
    assert subscription.ended == "closed"
    with pytest.raises(StreamsClosed):
        await hub.subscribe(None, None)


async def test_an_idle_stream_yields_an_empty_batch_for_a_heartbeat(
    store: MemoryStore, hub: StreamHub
) -> None:
    subscription = await hub.subscribe(None, None)
    async with asyncio.timeout(5):
        batches = aiter(subscription.batches(idle=0.05))
        assert await anext(batches) == []
        await post(store, "a")
        assert positions(await anext(batches)) == [1]


async def test_without_subscribers_the_follower_reads_nothing(
    store: MemoryStore, hub: StreamHub
) -> None:
    calls: list[int] = []
    read = store.read_events

    async def counted(after: int, limit: int) -> list[StoredEvent]:
        calls.append(after)
        return await read(after, limit)

    store.read_events = counted  # type: ignore[method-assign]
    subscription = await hub.subscribe(None, None)
    subscription.close()
    await post(store, "a", "a")
    await settled(hub, store)
    assert calls == []
    late = await hub.subscribe(None, 0)  # and a late resume still gets them, from the log
    assert await receive(late, 2) == [1, 2]


async def test_the_shared_heartbeat_reaches_every_idle_stream_and_events_still_come(
    store: MemoryStore, hub: StreamHub
) -> None:
    """One timer for the hub's idle streams (service/heartbeats.py): each of many gets an
    empty batch (its heartbeat) once idle that long, and an event after it still arrives."""
    subscriptions = [await hub.subscribe(None, None) for _ in range(100)]
    streams = [s.batches(idle=0.05) for s in subscriptions]
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with asyncio.timeout(5):
        first = await asyncio.gather(*(anext(stream) for stream in streams))
    assert first == [[]] * 100
    assert loop.time() - began >= 0.05 - 0.002
    await post(store, "any")
    async with asyncio.timeout(5):
        then = await asyncio.gather(*(anext(stream) for stream in streams))
    assert [positions(batch) for batch in then] == [[1]] * 100
    for subscription in subscriptions:
        subscription.close()
