"""Where lines come from and go to: files, gzip, standard input and output."""

import gzip
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

STDIO = "-"
GZIP_MAGIC = b"\x1f\x8b"
_UNPACKED = 1 << 16  # bytes of decompressed lines buffered at a time


@dataclass(slots=True)
class Input:
    """Lines to read, and the stream under them that says how far reading has got."""

    lines: BinaryIO
    raw: io.BufferedReader
    size: int | None  # bytes of the underlying file; None for pipes

    def position(self) -> int | None:
        """Bytes of the underlying file read so far (compressed bytes for gzip), or None
        when the stream cannot tell (a pipe)."""
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return None


def _buffered(stream: BinaryIO) -> io.BufferedReader:
    if isinstance(stream, io.BufferedReader):
        return stream
    return io.BufferedReader(cast(io.RawIOBase, stream))


def _size_of(stream: io.BufferedReader) -> int | None:
    try:
        return os.fstat(stream.fileno()).st_size or None
    except (OSError, ValueError):
        return None


@contextmanager
def open_input(name: str) -> Iterator[Input]:
    """Open ``name`` (``-``: standard input) for reading lines, decompressing it when its
    first bytes are the gzip magic number, whatever its name. Raises OSError."""
    owned = name != STDIO
    raw = _buffered(open(name, "rb") if owned else sys.stdin.buffer)  # noqa: SIM115
    try:
        size = _size_of(raw) if owned else None
        lines: BinaryIO = raw
        if raw.peek(2)[:2] == GZIP_MAGIC:
            # GzipFile's own readline is Python, per line; a BufferedReader over it reads
            # lines in C (a third less time to read the bench's 1M lines).
            unpacked = gzip.GzipFile(fileobj=raw, mode="rb")
            lines = cast(BinaryIO, io.BufferedReader(cast(io.RawIOBase, unpacked), _UNPACKED))
        yield Input(lines, raw, size)
    finally:
        if owned:
            raw.close()


@contextmanager
def open_output(name: str | None) -> Iterator[BinaryIO]:
    """Write to ``name`` (``-`` or None: standard output), gzip-compressed when the name
    ends in ``.gz``. A file appears under its name only once everything is written: the
    lines go to a temporary file beside it (mode 0600, as ``mkstemp`` makes it), renamed
    at the end and removed on failure."""
    if name is None or name == STDIO:
        out = sys.stdout.buffer
        yield out
        out.flush()
        return
    target = Path(name)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            if target.suffix == ".gz":
                # Level 1: several times faster than the default for a little more size;
                # mtime 0 so that the same export gives the same bytes.
                with gzip.GzipFile(fileobj=file, mode="wb", compresslevel=1, mtime=0) as packed:
                    yield cast(BinaryIO, packed)
            else:
                yield file
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
