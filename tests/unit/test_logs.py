"""The log writer thread: whole lines, in order, in writes no larger than PIPE_BUF."""

import io
import json
import logging
import select
import threading

import pytest
import structlog

from tagfeed.server import logs
from tagfeed.server.logs import LineWriter


class RecordingStream(io.RawIOBase):
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.gate = threading.Event()

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.gate.wait(5)
        self.writes.append(bytes(data))
        return len(data)


def test_lines_come_out_whole_in_order_and_in_pipe_sized_writes() -> None:
    stream = RecordingStream()
    writer = LineWriter(stream)
    lines = [f'{{"n":{i},"pad":"{"x" * (i % 300)}"}}'.encode() for i in range(500)]
    for line in lines:
        writer.msg(line)
    stream.gate.set()  # the writer was blocked meanwhile: it now drains in batches
    assert writer.flush()
    assert b"".join(stream.writes) == b"".join(line + b"\n" for line in lines)
    assert all(w.endswith(b"\n") for w in stream.writes)
    assert max(map(len, stream.writes)) <= select.PIPE_BUF
    assert len(stream.writes) < len(lines)  # several lines per write
    writer.close()


def test_flush_says_when_the_lines_did_not_go_out() -> None:
    stream = RecordingStream()  # its gate stays shut: every write blocks for 5 s
    writer = LineWriter(stream)
    writer.msg(b"stuck")
    assert not writer.flush(timeout=0.1)
    stream.gate.set()
    assert writer.flush()
    writer.close()


class BreaksOnce(io.RawIOBase):
    """A stdout that fails its first write (a reader went away), then works again."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes.append(bytes(data))
        if len(self.writes) == 1:
            raise BrokenPipeError
        return len(data)


def test_a_broken_stream_drops_lines_but_keeps_draining() -> None:
    stream = BreaksOnce()
    writer = LineWriter(stream)
    writer.msg(b"lost")
    # Generous: the only wait is for the writer thread to be scheduled on a busy machine.
    assert writer.flush(timeout=30), "the writer thread died on the broken write"
    writer.msg(b"kept")
    assert writer.flush(timeout=30)
    assert stream.writes == [b"lost\n", b"kept\n"]
    writer.close()


def test_log_event_writes_the_line_structlog_would_and_honours_the_level(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """granian's main process writes its ``started`` line without structlog
    (server/launch.py): the same keys, in the same order, as a structlog logger set up by
    ``configure_logging`` writes, and nothing below the configured level."""
    stream = RecordingStream()
    stream.gate.set()
    writer = LineWriter(stream)
    monkeypatch.setattr(logs, "_writer", writer)  # log_event's
    wrapper = structlog.make_filtering_bound_logger(logging.INFO)
    logger = structlog.wrap_logger(writer, processors=logs.processors(), wrapper_class=wrapper)
    logger.info("started", address="http://h:1", workers=2)
    logs.log_event("info", "info", "started", address="http://h:1", workers=2)
    logs.log_event("warning", "info", "started", address="http://h:1", workers=2)  # dropped
    assert writer.flush()
    via_structlog, direct = (json.loads(line) for line in b"".join(stream.writes).splitlines())
    assert (
        list(direct)
        == list(via_structlog)
        == [
            "address",
            "workers",
            "event",
            "level",
            "timestamp",
        ]
    )
    assert {**direct, "timestamp": 0} == {**via_structlog, "timestamp": 0}
    assert direct["timestamp"].endswith("Z")
    writer.close()
