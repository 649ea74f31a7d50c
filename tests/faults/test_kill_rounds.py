"""SIGKILL in the middle of concurrent POSTs loses nothing that was acknowledged, and with
idempotency keys and client retries each logical message is stored exactly once.

Each round: 24 workers post for a random 0.2-1.2 s, the server gets SIGKILL (no chance to
flush or answer), a new server starts on the same database, the client re-sends every
request that got no 201 with the same key and body until it gets one, and everything is
read back: every acknowledged id by GET, the tag's count from the counters (``count=1``
and ``/counts``: the counters survived the kill too), and a walk over the tag's pages.
"""

import asyncio
import os
import random
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, start_server
from tests.faults.fault_client import Load, kill_server, verify, wait_until
from tests.faults.fault_tally import TALLY

pytestmark = pytest.mark.faults

ROUNDS = int(os.environ.get("TAGFEED_FAULT_ROUNDS", "20"))
WORKERS = 24


async def kill_round(
    server: Server, url: str, load: Load, pause: float, log: Path, env: dict[str, str]
) -> tuple[Server, list[str]]:
    """Load, SIGKILL after ``pause`` s, restart, retry, verify. Returns the new server
    and what went wrong."""
    stop = asyncio.Event()
    posting = asyncio.create_task(load.run(server.base_url, WORKERS, stop))
    try:
        assert await wait_until(lambda: len(load.acknowledged) >= 10, 10), "no load"
        await asyncio.sleep(pause)
        in_flight = load.in_flight
        kill_server(server)
    finally:
        stop.set()
        await asyncio.wait_for(posting, 30)
    acknowledged = load.acknowledged
    unanswered = len(load.messages) - len(acknowledged)
    server = await asyncio.to_thread(start_server, url, log, "--no-migrate", env=env)
    try:
        await load.complete(server.base_url, time.monotonic() + 30)
        verdict = await verify(server.base_url, load, acknowledged)
    except BaseException:
        kill_server(server)  # the caller only knows the one killed above
        raise
    replayed = sum(m.replayed for m in load.messages)
    server_errors = sum(
        o.status is not None and o.status >= 500 and o.status != 503 for o in load.outcomes
    )
    TALLY.add_round(load.tag.rpartition("-")[0].removeprefix("kill-"), verdict, replayed)
    TALLY.server_errors += server_errors
    print(
        f"{load.tag}: {len(acknowledged)} acknowledged, {in_flight} in flight at the kill,"
        f" {unanswered} unanswered, {replayed} replayed, {verdict.logical} stored;"
        f" {verdict.problems or 'ok'}"
    )
    problems = [*verdict.problems, *([f"{server_errors} 5xx"] if server_errors else [])]
    return server, problems


async def kill_rounds(
    name: str, url: str, rounds: int, tmp_path: Path, env: dict[str, str] | None = None
) -> None:
    seed = int(os.environ.get("TAGFEED_FAULT_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    env = env or {}
    failures: dict[int, list[str]] = {}
    server = await asyncio.to_thread(
        start_server, url, tmp_path / "server-0.log", "--no-migrate", env=env
    )
    try:
        for round_no in range(rounds):
            load = Load(f"kill-{name}-{round_no}")
            log = tmp_path / f"server-{round_no + 1}.log"
            pause = rng.uniform(0.2, 1.2)
            server, problems = await kill_round(server, url, load, pause, log, env)
            if problems:
                failures[round_no] = problems
    finally:
        kill_server(server)
    assert not failures, f"seed {seed} (TAGFEED_FAULT_SEED): {failures}"


async def test_sigkill_loses_nothing_acknowledged(backend: tuple[str, str], tmp_path: Path) -> None:
    """SQLite with its default synchronous=FULL, and PostgreSQL."""
    name, url = backend
    await kill_rounds(name, url, ROUNDS, tmp_path)


async def test_sigkill_loses_nothing_with_sqlite_synchronous_normal(
    sqlite_url: str, tmp_path: Path
) -> None:
    """NORMAL skips the fsync per commit, yet a killed process loses nothing: its
    committed writes sit in the OS's page cache, which outlives it. Only a power loss
    (or an OS crash) tells NORMAL from FULL; see docs/reliability.md."""
    env = {"TAGFEED_SQLITE_SYNCHRONOUS": "NORMAL"}
    await kill_rounds("sqlite-normal", sqlite_url, max(1, ROUNDS // 4), tmp_path, env)
