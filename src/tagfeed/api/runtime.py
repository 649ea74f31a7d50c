"""Settings of the interpreter for a server process (not for tests or the CLI tools).

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
"""

import gc

YOUNGEST_THRESHOLD = 10_000


def tune_for_serving() -> None:
    _, middle, oldest = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNGEST_THRESHOLD, middle, oldest)
