"""One timer for the heartbeats of every idle stream of a process, instead of one each.

A stream waiting for events must be woken after ``interval`` seconds without any, to send
its heartbeat. A timer per waiting stream (``asyncio.timeout``: a ``Timeout`` and the
loop's timer handle, ~750 bytes) is ~7 MB for 10,000 idle streams, re-made every time a
stream waits. Here a waiting stream is one entry of a dict instead: the entries of one
interval are due in the order they were made (each is now + the same interval, and time
only grows), so the dict, which keeps insertion order, is a queue sorted by due time, and
one loop timer set for its head is enough. The heartbeat is due at the same instant as
with a timer of its own (docs/events.md, "Live streams").
"""

import asyncio
from itertools import islice
from typing import Protocol

# A timer may run a little before its instant (the loop runs what is due within its clock
# resolution, libuv counts whole milliseconds): wake what is due within this much, rather
# than re-arm for a millisecond.
EARLY = 0.002


class Sleeper(Protocol):
    def beat(self) -> None:
        """Called once, when ``interval`` has passed since ``wait``."""


class Heartbeats:
    """``wait(sleeper, interval)``: ``sleeper.beat()`` in ``interval`` seconds, unless
    ``cancel(sleeper, interval)`` comes first. One ``wait`` at a time per sleeper."""

    def __init__(self) -> None:
        self._due: dict[float, dict[Sleeper, float]] = {}  # interval -> {sleeper: due}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")

    def __len__(self) -> int:
        return sum(map(len, self._due.values()))

    def wait(self, sleeper: Sleeper, interval: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + interval
        self._due.setdefault(interval, {})[sleeper] = due
        if due < self._timer_at:
            self._arm(loop, due)

    def cancel(self, sleeper: Sleeper, interval: float) -> None:
        """Forget the sleeper's wait (a no-op once it has had its beat). The timer stays
        set: when it runs for nothing it is set again for the next one due."""
        queue = self._due.get(interval)
        if queue is not None:
            queue.pop(sleeper, None)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, float("inf")
        self._due.clear()

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = loop.call_at(at, self._fire, loop), at

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._timer_at = None, float("inf")
        now = loop.time() + EARLY
        woken: list[Sleeper] = []
        next_due = float("inf")
        for interval, queue in list(self._due.items()):
            count = 0
            for due in queue.values():  # in due order: stop at the first not due
                if due > now:
                    next_due = min(next_due, due)
                    break
                count += 1
            due_now = list(islice(queue, count))
            for sleeper in due_now:
                del queue[sleeper]
            if not queue:
                del self._due[interval]
            woken += due_now
        if next_due != float("inf"):
            self._arm(loop, next_due)
        for sleeper in woken:
            sleeper.beat()
