"""The event loop end to end, every part a real process or a real client: ``tagfeed serve``
(an SQLite file; PostgreSQL), posts over HTTP, a real SSE client on
``GET /v1/messages/stream?tag=T``, and ``tagfeed relay`` publishing into a JetStream stream
of the test's own (unique name and subjects, deleted afterwards), followed by a real
JetStream consumer (nats-py: a durable pull consumer acknowledging each message).

While posts arrive, the relay is SIGKILLed twice and restarted: once while it follows the
posts, once while it publishes the backlog that built up while it was down (batches of 10,
several in flight). Then every post must have reached the SSE client once, in order, with
``id:`` its position and ``data:`` the 201's body; and the consumer once, in log order,
with ``Nats-Msg-Id`` = the event id (the message id) and ``Tagfeed-Position`` = its
position, on its tag's subject, stream sequences without a gap, nothing redelivered.
"""

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import pytest
from nats.js import JetStreamContext

from tagfeed.relay.jetstream import MSG_ID, POSITION, StreamSettings, ensure_stream
from tagfeed.relay.subjects import subject_for
from tests.e2e.conftest import Server
from tests.e2e.sse_client import USER, Event, stream
from tests.integration.relay_helpers import connected, delete_stream, start_relay, unique_stream

POSTS = 1200
RATE = 100.0  # posts/s, so the relay's kills land while posts go on
TAG = "loop"
OTHER = "elsewhere"  # every third post: the stream of TAG must not show it
RELAY_BATCH = 10
KILL_TRIES = 3  # kills of a relay catching up, until one lands with a backlog
BACKLOG_SECONDS = 3.0  # the relay dead before each restart


@dataclass(frozen=True)
class Posted:
    position: int  # the 201's Tagfeed-Position
    id: str
    tag: str
    body: bytes


@dataclass(frozen=True)
class Consumed:
    seq: int
    subject: str
    msg_id: str
    position: int
    data: bytes
    deliveries: int


@pytest.fixture
async def jetstream() -> AsyncIterator[tuple[JetStreamContext, StreamSettings]]:
    settings = unique_stream()
    async with connected() as nc:
        js = nc.jetstream()
        await ensure_stream(js, settings)  # as the relay makes it: the consumer comes first
        try:
            yield js, settings
        finally:
            await delete_stream(settings.name)


async def post_paced(http: httpx.AsyncClient, posted: list[Posted], workers: int = 4) -> None:
    """POSTS posts, at RATE per second over ``workers`` connections."""
    started = time.monotonic()

    async def worker(first: int) -> None:
        for n in range(first, POSTS, workers):
            await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))
            tag = OTHER if n % 3 == 2 else TAG
            created = await http.post(
                "/v1/messages", json={"text": f"post {n}", "tag": tag}, headers=USER
            )
            assert created.status_code == 201, created.text
            position = int(created.headers["tagfeed-position"])
            posted.append(Posted(position, created.json()["id"], tag, created.content))

    await asyncio.gather(*(worker(first) for first in range(workers)))


async def consume(
    js: JetStreamContext, settings: StreamSettings, into: list[Consumed], stop: asyncio.Event
) -> None:
    """What a service following the stream does: fetch, record, acknowledge; until
    ``stop``. Not only cancelled: on Python 3.11 nats-py's fetch waits with
    ``asyncio.wait_for``, which can swallow a cancellation that lands as its wait ends
    (fixed in 3.12), and a full run once hung here with this loop going on."""
    subscription = await js.pull_subscribe(
        f"{settings.subject_prefix}.>", durable="e2e", stream=settings.name
    )
    while not stop.is_set():
        try:
            batch = await subscription.fetch(100, timeout=1)
        except TimeoutError:  # nothing new for a second (nats-py raises either kind)
            continue
        for message in batch:
            headers = message.headers or {}
            metadata = message.metadata
            into.append(
                Consumed(
                    metadata.sequence.stream,
                    message.subject,
                    headers[MSG_ID],
                    int(headers[POSITION]),
                    message.data,
                    metadata.num_delivered,
                )
            )
            await message.ack()


async def wait_until(
    condition: Callable[[], bool], seconds: float, what: str, tasks: list["asyncio.Task[None]"]
) -> None:
    """Until ``condition``; fails after ``seconds`` or as soon as one of ``tasks`` (the
    posts, the SSE client, the consumer) has failed."""
    deadline = time.monotonic() + seconds
    while not condition():
        for task in tasks:
            if task.done() and task.exception() is not None:
                raise AssertionError(f"waiting for {what}") from task.exception()
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.01)


def _moved_on(consumed: list[Consumed], beyond: int) -> bool:
    return len(consumed) > beyond


def kill(relay: "subprocess.Popen[bytes]") -> None:
    relay.send_signal(signal.SIGKILL)
    relay.wait(timeout=10)


@dataclass
class Seen:
    posted: list[Posted] = field(default_factory=list)
    consumed: list[Consumed] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    backlog_at_second_kill: int = 0


async def post_kill_and_follow(
    server: Server, database_url: str, js: JetStreamContext, settings: StreamSettings, log: Path
) -> Seen:
    """Post while the SSE client and the consumer follow; SIGKILL the relay twice; return
    once every post has reached both (or fail)."""
    seen = Seen()
    consumed = seen.consumed
    stop = asyncio.Event()
    relay = start_relay(database_url, settings, log, RELAY_BATCH)
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as http,
        stream(http, f"?tag={TAG}") as live,
    ):

        async def follow() -> None:
            while True:
                seen.events.append(await live.next_event(within=3600))

        tasks = [
            asyncio.create_task(post_paced(http, seen.posted)),
            asyncio.create_task(follow()),
            asyncio.create_task(consume(js, settings, consumed, stop)),
        ]
        try:
            # 1: while it follows the posts.
            await wait_until(lambda: len(consumed) >= 60, 60, "the first relay", tasks)
            kill(relay)
            # 2: while it publishes the backlog that built up meanwhile, batches in flight.
            # On a loaded machine this process may look only once the relay has caught
            # up; then the kill proved nothing, and it is tried again (posts go on).
            for _ in range(KILL_TRIES):
                # A backlog builds up meanwhile: ~300 posts, ~30 batches to publish, long
                # enough (woken by the bell, the relay catches up in milliseconds) for
                # the kill to land while it publishes them.
                await asyncio.sleep(BACKLOG_SECONDS)
                relay = start_relay(database_url, settings, log, RELAY_BATCH)
                await wait_until(
                    partial(_moved_on, consumed, len(consumed) + 5), 60, "the relay again", tasks
                )
                kill(relay)
                seen.backlog_at_second_kill = len(seen.posted) - len(consumed)
                if seen.backlog_at_second_kill > RELAY_BATCH or tasks[0].done():
                    break
            relay = start_relay(database_url, settings, log, RELAY_BATCH)
            await tasks[0]
            tagged = sum(p.tag == TAG for p in seen.posted)

            def everything() -> bool:
                return len(consumed) >= POSTS and len(seen.events) >= tagged

            await wait_until(everything, 60, "every post", tasks)
            await asyncio.sleep(1.0)  # a copy would arrive by now
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=10)  # each ends within a fetch, cancelled or not
            for task in tasks:
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: wait_until has raised it already
            relay.send_signal(signal.SIGTERM)
            relay.wait(timeout=30)
    return seen


async def test_every_post_reaches_the_stream_and_jetstream_once_across_relay_kills(
    server: Server,
    database_url: str,
    jetstream: tuple[JetStreamContext, StreamSettings],
    tmp_path: Path,
) -> None:
    js, settings = jetstream
    log = tmp_path / "relay.log"
    seen = await post_kill_and_follow(server, database_url, js, settings, log)
    assert seen.backlog_at_second_kill > RELAY_BATCH  # it died with more to publish

    log_order = sorted(seen.posted, key=lambda p: p.position)
    assert [p.position for p in log_order] == list(range(1, POSTS + 1))
    # The SSE client: each post of its tag once, in order, id = its position.
    mine = [p for p in log_order if p.tag == TAG]
    assert [e.id for e in seen.events] == [str(p.position) for p in mine]
    assert [e.event for e in seen.events] == ["message"] * len(mine)
    assert [e.data for e in seen.events] == [[p.body.decode()] for p in mine]
    # The JetStream consumer: every event once, in log order, Nats-Msg-Id = the event id.
    consumed = seen.consumed
    assert [c.position for c in consumed] == list(range(1, POSTS + 1))
    assert [c.msg_id for c in consumed] == [p.id for p in log_order]
    assert [c.data for c in consumed] == [p.body for p in log_order]
    assert [c.subject for c in consumed] == [
        subject_for(settings.subject_prefix, p.tag) for p in log_order
    ]
    assert [c.seq for c in consumed] == list(range(1, POSTS + 1))
    assert {c.deliveries for c in consumed} == {1}
    assert (await js.stream_info(settings.name)).state.messages == POSTS
    assert log.read_text().count("relay_started") >= 3  # more if one started over
