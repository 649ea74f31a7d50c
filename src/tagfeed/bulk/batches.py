"""Reading an import file into batches of valid messages, and what happens to bad lines."""

import threading
from collections.abc import Callable, Iterator
from typing import BinaryIO

from tagfeed.bulk.lines import parse_fields
from tagfeed.domain.errors import InvalidInput
from tagfeed.store.port import ImportBatch

DUPLICATE_ID = "id: a message with this id already exists"


class ImportAborted(Exception):
    """A bad line under ``--on-error abort``: the import stops and writes nothing."""

    def __init__(self, number: int, reason: str) -> None:
        super().__init__(f"line {number}: {reason}")
        self.number = number
        self.reason = reason


class Rejections:
    """The policy for bad lines. In skip mode each is reported (``line N: reason``) and
    counted; in abort mode the first raises ImportAborted. Safe to call from the reading
    thread and the loading thread at once."""

    def __init__(self, *, abort: bool, report: Callable[[str], None]) -> None:
        self.abort = abort
        self.skipped = 0
        self._report = report
        self._lock = threading.Lock()

    def reject(self, number: int, reason: str) -> None:
        if self.abort:
            raise ImportAborted(number, reason)
        with self._lock:
            self.skipped += 1
            self._report(f"line {number}: {reason}")


def read_batches(
    lines: BinaryIO,
    *,
    batch_size: int,
    max_text_length: int,
    rejections: Rejections,
    on_batch: Callable[[int], None] = lambda lines_read: None,
) -> Iterator[ImportBatch]:
    """Batches of up to ``batch_size`` valid messages; blank lines are passed over, bad
    ones handed to ``rejections`` (which may raise ImportAborted). ``on_batch`` hears the
    number of lines read so far after each batch. Memory: one batch."""
    batch = ImportBatch()
    number = 0
    for number, raw in enumerate(lines, 1):
        try:
            fields = parse_fields(raw, max_text_length)
        except InvalidInput as exc:
            if not raw.isspace():
                rejections.reject(number, str(exc))
            continue
        batch.rows.append(fields)
        batch.numbers.append(number)
        if len(batch.rows) >= batch_size:
            yield batch
            on_batch(number)
            batch = ImportBatch()
    if batch.rows:
        yield batch
    on_batch(number)
