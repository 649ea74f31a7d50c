"""The HTTP side of a stream, driven through ASGI with a send that records: frames, the
end of the response at shutdown, and at a store fault during a replay."""

import asyncio
from typing import Any

from tagfeed.api.streams import HEARTBEAT, EventStream, sse_frame
from tagfeed.service.streams import StreamHub
from tagfeed.store.errors import StoreUnavailable
from tagfeed.store.memory import MemoryStore
from tagfeed.store.port import StoredEvent
from tests.unit.test_streams_hub import post


def test_a_frame_is_one_message_event_with_the_payload_as_data() -> None:
    assert sse_frame(7, b'{"a":1}') == b'id: 7\nevent: message\ndata: {"a":1}\n\n'
    # a line break in the stored bytes (JSON allows it between tokens) cannot end the event
    assert sse_frame(8, b'{"a":\n1}') == b'id: 8\nevent: message\ndata: {"a":\ndata: 1}\n\n'


class Recorder:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    async def receive(self) -> dict[str, Any]:
        await asyncio.Event().wait()  # the client never leaves
        raise AssertionError

    def bodies(self) -> list[tuple[bytes, bool]]:
        return [(m["body"], m["more_body"]) for m in self.messages[1:]]


async def run(stream: EventStream, recorder: Recorder) -> None:
    await stream({"type": "http"}, recorder.receive, recorder.send)  # type: ignore[arg-type]


async def test_frames_then_heartbeats_then_a_clean_end_at_shutdown() -> None:
    store = MemoryStore()
    hub = StreamHub(store, sse_frame, max_streams=10, capacity=10)
    subscription = await hub.subscribe(None, None)
    recorder = Recorder()
    stream = EventStream(subscription, heartbeat=0.05, write_timeout=1, request_id="r")
    running = asyncio.create_task(run(stream, recorder))
    await post(store, "a")
    async with asyncio.timeout(5):
        while (HEARTBEAT, True) not in recorder.bodies():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        hub.end_streams()
        await running
    assert recorder.messages[0]["status"] == 200
    bodies = recorder.bodies()
    assert bodies[0][0].startswith(b"id: 1\nevent: message\ndata: {")
    assert bodies[-1] == (b"", False)  # the response ends: the client may reconnect
    await hub.close()


class FailingLog(MemoryStore):
    async def read_events(self, after: int, limit: int) -> list[StoredEvent]:
        raise StoreUnavailable("down")


async def test_a_store_fault_during_a_replay_ends_the_response() -> None:
    store = FailingLog()
    await post(store, "a")
    hub = StreamHub(store, sse_frame, max_streams=10, capacity=10)
    subscription = await hub.subscribe(None, 0)  # replays position 1: the read fails
    recorder = Recorder()
    async with asyncio.timeout(5):
        await run(EventStream(subscription, heartbeat=1, write_timeout=1, request_id="r"), recorder)
    assert recorder.bodies() == [(b"", False)]
    assert hub.open_streams == 0
    await hub.close()
