"""Reading an import file into batches of valid messages, and what happens to bad lines."""

import threading
from collections.abc import Callable, Iterator, Sequence, Set
from dataclasses import dataclass, field
from typing import BinaryIO

from tagfeed.bulk.lines import Fields, parse_fields
from tagfeed.domain.errors import InvalidInput

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


@dataclass(slots=True)
class Batch:
    """Valid messages (as ``Fields``) in file order, with the numbers of their lines."""

    numbers: list[int] = field(default_factory=list)
    rows: list[Fields] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def without(self, dropped: set[int]) -> "Batch":
        """This batch minus the messages at the indexes in ``dropped``."""
        keep = [i for i in range(len(self.rows)) if i not in dropped]
        return Batch([self.numbers[i] for i in keep], [self.rows[i] for i in keep])


def read_batches(
    lines: BinaryIO,
    *,
    batch_size: int,
    max_text_length: int,
    rejections: Rejections,
    on_batch: Callable[[int], None] = lambda lines_read: None,
) -> Iterator[Batch]:
    """Batches of up to ``batch_size`` valid messages; blank lines are passed over, bad
    ones handed to ``rejections`` (which may raise ImportAborted). ``on_batch`` hears the
    number of lines read so far after each batch. Memory: one batch."""
    batch = Batch()
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
            batch = Batch()
    if batch.rows:
        yield batch
    on_batch(number)


def duplicate_indexes(ids: Sequence[str], stored: Set[str]) -> set[int]:
    """Indexes of the ids already ``stored`` or appearing earlier in ``ids``."""
    seen: set[str] = set()
    dropped: set[int] = set()
    for index, message_id in enumerate(ids):
        if message_id in stored or message_id in seen:
            dropped.add(index)
        seen.add(message_id)
    return dropped
