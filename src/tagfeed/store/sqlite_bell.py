"""SQLite's wake-up across processes: the bell beside the database file.

SQLite tells no other process of a commit (PostgreSQL has NOTIFY). So each tagfeed
writer *rings* after every commit that moves the head: it writes one byte to the file
``<database>-bell``. A process that waits for the head (a stream follower, a catch-up
reducer, a read waiting for a position) watches that file with inotify, the kernel's
own notification of file changes, and reads the head again when it rings: woken within
a scheduler tick of the commit, with no thread and no polling loop.

Why a bell and not the ``-wal`` file itself: SQLite writes a transaction's frames to the
WAL *before* it makes them visible (it fsyncs, then updates the WAL index in shared
memory, which inotify does not see), so a reader woken by the WAL's write could read the
old head and then sleep through the commit. The bell is rung after COMMIT returned: a
head read after it sees the commit. Why inotify through ``inotify_simple`` (a ctypes
wrapper of the three system calls): its descriptor goes straight into the event loop
(``add_reader``), each ring arrives as it happens; ``watchfiles`` runs a thread of its
own and batches changes over a debounce interval meant for reloading code, tens of
milliseconds at least.

Where inotify is missing (not Linux) or the bell cannot be made (a read-only directory),
waiters fall back to reading the head every ``RECHECK_WITHOUT_BELL`` seconds
(``store/sqlite.py``). A writer that does not ring (the ``sqlite3`` shell, another
program) is seen at the waiters' slower re-read.
"""

import asyncio
import contextlib
import os
from collections.abc import Callable

import structlog
from inotify_simple import INotify, flags

log = structlog.get_logger("tagfeed.store")

SUFFIX = "-bell"


def bell_path(database: str) -> str:
    return database + SUFFIX


class Bell:
    """The writer's side: ``ring()`` after each commit that moved the head. Costs one
    ``pwrite`` of one byte (no fsync: nothing is kept, only the event matters)."""

    def __init__(self, database: str) -> None:
        self._path = bell_path(database)
        self._fd: int | None = None

    def ring(self) -> None:
        if self._fd is None:
            try:
                self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                self._fd = -1  # waiters fall back to reading the head now and then
                log.warning("sqlite_bell_unavailable", path=self._path, error=repr(exc))
        if self._fd >= 0:
            # A full or vanished disk: the commit stands; waiters re-read the head anyway.
            with contextlib.suppress(OSError):
                os.pwrite(self._fd, b"\n", 0)

    def close(self) -> None:
        if self._fd is not None and self._fd >= 0:
            os.close(self._fd)
        self._fd = None


class BellWatch:
    """The waiter's side, on one event loop: calls ``on_ring()`` (on the loop) each time
    the bell rang since the last call, however many rings that was."""

    def __init__(self, database: str, on_ring: Callable[[], None]) -> None:
        self._path = bell_path(database)
        self._on_ring = on_ring
        self._inotify: INotify | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> bool:
        """Watch the bell (made if missing); False when inotify or the file is not to
        be had here, and then nothing is watched."""
        loop = asyncio.get_running_loop()
        try:
            os.close(os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
            inotify = INotify(nonblocking=True)
        except (OSError, AttributeError) as exc:  # AttributeError: no inotify in this libc
            log.warning("sqlite_bell_unwatched", path=self._path, error=repr(exc))
            return False
        try:
            inotify.add_watch(self._path, flags.MODIFY)
            loop.add_reader(inotify.fileno(), self._readable)
        except OSError as exc:
            inotify.close()
            log.warning("sqlite_bell_unwatched", path=self._path, error=repr(exc))
            return False
        self._inotify, self._loop = inotify, loop
        return True

    def _readable(self) -> None:
        if self._inotify is None:
            return
        try:
            self._inotify.read(timeout=0)  # drain: any number of rings is one reason to look
        except BlockingIOError:
            return
        self._on_ring()

    def close(self) -> None:
        if self._inotify is not None and self._loop is not None:
            if not self._loop.is_closed():
                self._loop.remove_reader(self._inotify.fileno())
            self._inotify.close()
        self._inotify = self._loop = None
