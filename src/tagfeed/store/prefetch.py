"""Reading ahead on a thread, so that parsing the next batch overlaps writing this one.

The database does its part without holding the GIL (SQLite inside ``sqlite3_step``,
PostgreSQL in another process while asyncpg waits on the socket), so a reader thread
that parses while the loader waits brings the second core into play.
"""

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")

_POLL_SECONDS = 0.1


class _End:
    """Put after the last item."""


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Producer(Generic[T]):
    def __init__(self, items: Iterator[T], depth: int) -> None:
        self._items = items
        self._queue: queue.Queue[T | _End | _Failed] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bulk-read", daemon=True)

    def _put(self, item: "T | _End | _Failed") -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed over to the consumer, which re-raises it
            self._put(_Failed(exc))
            return
        self._put(_End())

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def read_ahead(items: Iterator[T], depth: int = 2) -> Iterator[Iterator[T]]:
    """Iterate ``items`` on a background thread, at most ``depth`` items ahead. An
    exception raised by ``items`` is raised by the returned iterator at the same point.
    Leaving the block stops the thread and waits for it, so whatever ``items`` reads
    from may be closed right after."""
    producer = _Producer(items, depth)
    producer.start()
    try:
        yield iter(producer)
    finally:
        producer.stop()
