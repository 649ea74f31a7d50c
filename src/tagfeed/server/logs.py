"""structlog set up for one JSON object per line on stdout.

The processors are few and cheap because the access log runs once per request: the
level, a UTC timestamp built from ``time.time()``, and msgspec for the JSON. Lines are
written by a thread of their own (``LineWriter``), so a slow stdout never stalls the
event loop.
"""

import atexit
import logging
import queue
import select
import sys
import threading
import time
from collections.abc import MutableMapping
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()


def _level(logger: object, method: str, event: MutableMapping[str, Any]) -> Any:
    event["level"] = method
    return event


def _timestamp(logger: object, method: str, event: MutableMapping[str, Any]) -> Any:
    now = time.time()
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    event["timestamp"] = f"{seconds}.{int(now % 1 * 1_000_000):06d}Z"
    return event


def _render(event: MutableMapping[str, Any], **_: object) -> bytes:
    return _encoder.encode(event)


class LineWriter:
    """A structlog logger that hands lines to a writer thread.

    A write to stdout can block (a full pipe, a slow terminal or disk); on the event loop
    that would stall every request. The thread writes whole lines, several per write but
    never more than PIPE_BUF bytes, so lines of several worker processes sharing a pipe
    never interleave mid-line. Lines still queued when the process is killed are lost;
    ``close`` (called at exit) writes out the rest.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._lines: queue.SimpleQueue[bytes | threading.Event | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def msg(self, line: bytes) -> None:
        self._lines.put(line + b"\n")

    debug = info = warning = warn = error = err = critical = exception = fatal = log = msg

    def close(self) -> None:
        self._lines.put(None)
        self._thread.join(timeout=5)

    def flush(self, timeout: float = 5) -> bool:
        """Return once every line logged so far is written: True, or False when
        ``timeout`` ran out first (the thread is stuck on a blocked stream, or dead)."""
        done = threading.Event()
        self._lines.put(done)
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            items = [self._lines.get()]
            while True:  # take whatever else is queued, to write it in few calls
                try:
                    items.append(self._lines.get_nowait())
                except queue.Empty:
                    break
            chunk: list[bytes] = []
            for item in items:
                if isinstance(item, bytes):
                    if chunk and sum(map(len, chunk)) + len(item) > select.PIPE_BUF:
                        self._write(chunk)
                        chunk = []
                    chunk.append(item)
                    continue
                self._write(chunk)  # a stop or a flush: everything before it goes out
                chunk = []
                if item is None:
                    return
                item.set()
            self._write(chunk)

    def _write(self, lines: list[bytes]) -> None:
        if not lines:
            return
        try:
            self._stream.write(b"".join(lines))
            self._stream.flush()
        except (OSError, ValueError):  # stdout closed or broken: drop, keep draining
            pass


def flush_logs() -> None:
    """Write out every queued log line: call before the process may exit abruptly
    (uvicorn ends a graceful shutdown by re-raising SIGTERM, which skips atexit)."""
    if _writer is not None:
        _writer.flush()


_writer: LineWriter | None = None


def _process_writer() -> LineWriter:
    global _writer  # one writer thread per process, made on first use
    if _writer is None:
        _writer = LineWriter(sys.stdout.buffer)
        atexit.register(_writer.close)
    return _writer


def _number(level: str) -> int:
    return logging.getLevelNamesMapping()[level.upper()]


def log_event(threshold: str, level: str, event: str, **fields: Any) -> None:
    """One line, as a structlog logger set up by ``configure_logging(threshold)`` would
    write it, without importing structlog: for granian's main process
    (``server/launch.py``), which writes one line (``started``) and keeps lean."""
    if _number(level) < _number(threshold):
        return
    line: MutableMapping[str, Any] = {**fields, "event": event}
    _process_writer().msg(_render(_timestamp(None, level, _level(None, level, line))))


def processors() -> list[Any]:
    """structlog's chain for our lines: level, UTC timestamp, exception text, JSON."""
    import structlog  # here, not at import: log_event's process never needs it

    return [
        _level,
        _timestamp,
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(serializer=_render),
    ]


def configure_logging(level: str) -> None:
    """Idempotent; called by the app factory, never at import."""
    import structlog

    writer = _process_writer()
    structlog.configure(
        processors=processors(),
        wrapper_class=structlog.make_filtering_bound_logger(_number(level)),
        logger_factory=lambda *args: writer,
        cache_logger_on_first_use=True,
    )
