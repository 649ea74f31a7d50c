"""The log writer thread: whole lines, in order, in writes no larger than PIPE_BUF."""

import io
import select
import threading

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
    writer.flush()
    assert b"".join(stream.writes) == b"".join(line + b"\n" for line in lines)
    assert all(w.endswith(b"\n") for w in stream.writes)
    assert max(map(len, stream.writes)) <= select.PIPE_BUF
    assert len(stream.writes) < len(lines)  # several lines per write
    writer.close()


def test_a_broken_stream_drops_lines_but_keeps_draining() -> None:
    class Broken(io.RawIOBase):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            raise BrokenPipeError

    writer = LineWriter(Broken())
    writer.msg(b"lost")
    writer.flush(timeout=2)  # returns: the thread is still alive and answering
    writer.close()
