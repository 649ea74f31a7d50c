"""Kill rounds of the log's followers (``tagfeed relay``, ``tagfeed reduce NAME``) under
load: posts go on over HTTP the whole time, from a real ``tagfeed serve`` whose own
reducers are off (so the processes under test are the only ones holding theirs).

    async with posts_meanwhile(url, tmp_path) as loads:   # the load, until the block ends
        await kill_rounds(start, rounds, rng)             # start, wait, SIGKILL; N times
"""

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from tests.e2e.conftest import start_server, stop_server
from tests.faults.fault_client import Load, wait_until

# A follower process and the file its output goes to (appended, across rounds).
Follower = tuple["subprocess.Popen[bytes]", Path]
# Several tags, so the views have more than one row to get wrong.
TAGS = ("alpha", "beta", "gamma")
WORKERS_PER_TAG = 3


@asynccontextmanager
async def posts_meanwhile(url: str, tmp_path: Path) -> AsyncIterator[list[Load]]:
    """Posts to each of TAGS, WORKERS_PER_TAG at a time, from before the block (at
    least 20 acknowledged) to its end, then waits for the last answers. Raises if any
    post got a 5xx: nothing kills the server here."""
    server = await asyncio.to_thread(
        start_server,
        url,
        tmp_path / "server.log",
        "--no-migrate",
        env={"TAGFEED_RUN_REDUCERS": "false", "TAGFEED_LOG_LEVEL": "warning"},
    )
    loads = [Load(f"rounds-{tag}") for tag in TAGS]
    stop = asyncio.Event()
    posting = [
        asyncio.create_task(load.run(server.base_url, WORKERS_PER_TAG, stop)) for load in loads
    ]
    try:
        started = await wait_until(lambda: sum(len(x.acknowledged) for x in loads) >= 20, 20)
        assert started, "no load"
        yield loads
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*posting), 60)
        await asyncio.to_thread(stop_server, server)
    errors = [o for load in loads for o in load.outcomes if o.status is None or o.status >= 500]
    assert not errors, f"{len(errors)} posts failed without a kill of the server: {errors[:3]}"


def start_reducer(url: str, name: str, batch: int, log: Path) -> Follower:
    """``tagfeed reduce NAME`` as a process of its own. Its SQLite lease is 1 s, so the
    next one takes over from a killed one at once."""
    env = {
        **os.environ,
        "TAGFEED_DATABASE_URL": url,
        "TAGFEED_LOG_LEVEL": "info",
        "TAGFEED_REDUCER_LEASE_SECONDS": "1",
    }
    command = [sys.executable, "-m", "tagfeed", "reduce", name, "--batch-size", str(batch)]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT), log


Start = Callable[[int], Sequence[Follower]]
STARTED = '_started"'  # the log event relay_started / reducer_started: it holds its lease


def _starts(log: Path) -> int:
    return log.read_text().count(STARTED) if log.exists() else 0


async def kill_rounds(
    start: Start, rounds: int, rng: random.Random, after_round: Callable[[int], None]
) -> None:
    """``rounds`` times: ``start(round)`` the processes, wait until each holds its lease
    (it logged ``..._started``: the interpreter's start takes 0.5-3 s on a busy machine,
    and a killed holder's lease may have to run out first), let them work 0-1.2 s and
    SIGKILL each at an instant of its own. ``after_round(round)`` runs in a thread once
    they are reaped (e.g. to note a checkpoint)."""
    for round_ in range(rounds):
        followers = start(round_)
        # Counted as it returns: a new interpreter takes far longer to log anything.
        before = {log: _starts(log) for _, log in followers}
        try:
            for _, log in followers:

                def started(log: Path = log, count: int = before[log]) -> bool:
                    return _starts(log) > count

                assert await wait_until(started, 30), f"round {round_}: {log.name} never started"
            for process, _ in followers:
                await asyncio.sleep(rng.uniform(0.0, 1.2))
                process.send_signal(signal.SIGKILL)
        finally:
            for process, _ in followers:
                if process.poll() is None:
                    process.kill()
                await asyncio.to_thread(process.wait, 30)
        codes = [process.returncode for process, _ in followers]
        assert codes == [-signal.SIGKILL] * len(followers), (
            f"round {round_}: a process exited before it was killed: {codes}"
        )
        await asyncio.to_thread(after_round, round_)
