"""Settings of the interpreter for a server process (not for tests or the CLI tools), and
its tie to the process that started it (``stop_with_parent``).

The garbage collector. CPython collects its youngest generation every 700 net
allocations of container objects. Under load that is every ~1.5 ms, and a request
waiting for its group commit (several ms) outlives two such collections, so request
state floods the oldest generation and sets off full collections: measured under
POST load, 21 full collections in 7 s taking 0.9 s, up to 52 ms each, with every request
stalled meanwhile (POST 6,700/s, p90 29 ms). Nearly all of that garbage is freed by
reference counting anyway, and the objects made at start-up (modules, routes, caches)
never become garbage. So: freeze what start-up made (it is never scanned again), and
collect the youngest generation every 10,000 net allocations (POST 9,100/s, p90 12 ms,
pauses of at most ~20 ms, a few times a minute).

The GIL's switch interval. The SQLite writer thread gives the GIL up around every
statement and must get it back from the event loop, which, busy, yields it only when
the interval runs out: 5 ms by default, several times per batch. At 1 ms the writer
keeps up: POST with random tags on 1M messages 8,700 -> 10,300/s, p99 15 -> 12.5 ms;
reads, where no other thread wants the GIL, do not change (within 2%).
"""

import ctypes
import gc
import multiprocessing
import os
import signal
import sys

YOUNGEST_THRESHOLD = 10_000
SWITCH_INTERVAL_SECONDS = 0.001
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def tune_for_serving() -> None:
    _, middle, oldest = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNGEST_THRESHOLD, middle, oldest)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


def stop_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies. A granian worker is a
    child of granian's main process, and nothing else ends it: were the main process
    killed with SIGKILL, the worker would go on serving on its own listening socket, an
    orphan nobody stops. With this, it shuts down gracefully instead (in-flight requests
    answered, the store closed). Elsewhere than on Linux, nothing is done."""
    if not sys.platform.startswith("linux"):
        return
    spawner = multiprocessing.parent_process()  # granian's main process, for its workers
    parent = spawner.pid if spawner is not None else os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # it died before the request took effect: stop now
        os.kill(os.getpid(), signal.SIGTERM)
