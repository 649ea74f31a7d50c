"""Posts through the store's own append path, without HTTP, at a fixed rate: the load of
``python -m bench.lag --driver append`` (docs/performance.md, "Reducer lag").

    python -m bench.appender --start EPOCH [--rate 5000] [--seconds 20] [--reducers]

One process, as one ``tagfeed serve`` worker would be: the store of
``TAGFEED_DATABASE_URL`` (``store_from_settings``), ``MessageService.post`` for each post
(validation, the unit of work, the group commit: the dispatcher), and with
``--reducers`` the catch-up reducers in the same event loop, as ``serve`` runs them.
Open loop: post n is started at ``start + n / rate``, whether earlier ones were
answered or not. Prints one JSON line: posts, answered, failures, how late posts
started, how long it all took.
"""

import argparse
import asyncio
import json
import random
import time

import uvloop

from tagfeed.config import load_settings
from tagfeed.domain.commands import PostMessage
from tagfeed.metrics import METRICS
from tagfeed.server.logs import configure_logging
from tagfeed.server.runtime import tune_for_serving
from tagfeed.service.messages import MessageService
from tagfeed.service.reducing import CATCH_UP, keep_running
from tagfeed.store.errors import StoreError
from tagfeed.store.factory import store_from_settings

# How often the scheduler wakes to start the posts that are due (a timer per post
# would cost more than the post).
TICK_SECONDS = 0.001


def _late_summary(late_ms: list[float]) -> dict[str, float]:
    ordered = sorted(late_ms) or [0.0]
    return {
        "p50": round(ordered[len(ordered) // 2], 2),
        "p99": round(ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)], 2),
        "max": round(ordered[-1], 2),
    }


async def append_at_rate(args: argparse.Namespace) -> dict[str, object]:
    settings = load_settings()
    configure_logging(settings.log_level)  # as serve does: warnings only, in the bench
    store = store_from_settings(settings)
    await store.open()
    service = MessageService(store, max_text_length=settings.max_text_length)
    reducers = [
        asyncio.create_task(
            keep_running(
                store,
                reducer,
                every=settings.reducer_lease_seconds / 3,
                metrics=METRICS if settings.metrics else None,
            )
        )
        for reducer in (CATCH_UP.values() if args.reducers else ())
    ]
    rng = random.Random(20261201)
    total = int(args.rate * args.seconds)
    answered = failures = 0
    late_ms: list[float] = []
    running: set[asyncio.Task[None]] = set()

    async def post(number: int) -> None:
        nonlocal answered, failures
        command = PostMessage(f"p{number} appended", f"t{rng.randrange(args.tags)}", "bench")
        try:
            await service.post(command)
        except StoreError:
            failures += 1
        else:
            answered += 1

    await asyncio.sleep(max(args.start - time.time(), 0.0))
    began = time.perf_counter()
    sent = 0
    while sent < total:
        now = time.perf_counter()
        due = min(total, int((now - began) * args.rate) + 1)
        for number in range(sent, due):
            late_ms.append((now - began - number / args.rate) * 1000)
            task = asyncio.create_task(post(number))
            running.add(task)
            task.add_done_callback(running.discard)
        sent = due
        await asyncio.sleep(TICK_SECONDS)
    while running:
        await asyncio.wait(set(running))
    took = time.perf_counter() - began
    await asyncio.sleep(args.linger)  # the reducers' last batches, inside this process
    for task in reducers:
        task.cancel()
    await asyncio.gather(*reducers, return_exceptions=True)
    await store.close()
    return {
        "posts": total,
        "answered": answered,
        "failures": failures,
        "took": took,
        "late_post_starts_ms": _late_summary(late_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", type=float, required=True, help="epoch seconds")
    parser.add_argument("--rate", type=int, default=5000, help="posts per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--linger", type=float, default=3, help="seconds after the last post")
    parser.add_argument("--reducers", action="store_true", help="run them in this process")
    args = parser.parse_args()
    tune_for_serving()  # the interpreter settings of a server process
    print(json.dumps(uvloop.run(append_at_rate(args))), flush=True)


if __name__ == "__main__":
    main()
