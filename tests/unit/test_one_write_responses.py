"""_OneWriteResponses against a transport that records what it is asked to send."""

import asyncio
from typing import Any

from tagfeed.server.protocol import _OneWriteResponses

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Recording:
    def __init__(self) -> None:
        self.sent: list[bytes] = []  # one entry per system call the real one would make
        self.closed = False

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    def writelines(self, parts: Any) -> None:
        self.sent.append(b"".join(parts))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> str:
        return f"extra {name}"


def view() -> tuple[_OneWriteResponses, Recording]:
    recording = Recording()
    return _OneWriteResponses(recording, asyncio.get_running_loop()), recording  # type: ignore[arg-type]


async def test_the_head_goes_out_with_the_first_body_write() -> None:
    transport, recording = view()
    transport.write(HEAD)
    assert recording.sent == []
    transport.write(b"{}")
    transport.write(b"more")
    assert recording.sent == [HEAD + b"{}", b"more"]
    await asyncio.sleep(0)
    assert recording.sent == [HEAD + b"{}", b"more"]  # nothing left to flush


async def test_a_head_without_body_goes_out_at_the_end_of_the_turn() -> None:
    transport, recording = view()
    transport.write(HEAD)
    await asyncio.sleep(0)
    assert recording.sent == [HEAD]


async def test_100_continue_is_not_held_back() -> None:
    transport, recording = view()
    transport.write(CONTINUE)
    assert recording.sent == [CONTINUE]
    transport.write(HEAD)
    transport.write(b"{}")
    assert recording.sent == [CONTINUE, HEAD + b"{}"]


async def test_close_sends_a_held_head_first() -> None:
    transport, recording = view()
    transport.write(HEAD)
    transport.close()
    assert recording.sent == [HEAD]
    assert transport.is_closing()


async def test_other_transport_calls_pass_through() -> None:
    transport, _ = view()
    assert transport.get_extra_info("peername") == "extra peername"
