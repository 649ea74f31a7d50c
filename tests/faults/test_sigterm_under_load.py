"""SIGTERM under load is a graceful shutdown: the listener closes, every request the server
had accepted still gets its answer (none a 5xx), and the process exits by itself.

A request is *accepted* once the server has read it. Those it had not read when it closed
the connection fail on the client without an answer ("dropped"), and those sent after the
listener closed are refused; both are counted apart. That a dropped request really was
never accepted is checked afterwards: its retry (same Idempotency-Key) must create the
message rather than replay it. ``slow-database`` holds the write lock across the signal,
so requests are certainly in flight and must wait for the database, then finish.
"""

import asyncio
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import start_server
from tests.faults.fault_client import Load, kill_server, verify, wait_until
from tests.faults.fault_locks import HeldLock, hold_lock
from tests.faults.fault_tally import TALLY

pytestmark = pytest.mark.faults

WORKERS = 24
DB_TIMEOUT = 5  # seconds; the lock below is held for much less
# granian kills a worker still running TAGFEED_DB_TIMEOUT + TAGFEED_READ_TIMEOUT (10) + 5 s
# after the signal; one that had to be killed logs no "stopped", so the test fails on it.
EXIT_WITHIN = DB_TIMEOUT + 10 + 5 + 10


@pytest.mark.parametrize("slow", [False, True], ids=["plain", "slow-database"])
async def test_sigterm_answers_every_accepted_request(
    backend: tuple[str, str], slow: bool, tmp_path: Path
) -> None:
    name, url = backend
    env = {"TAGFEED_DB_TIMEOUT": str(DB_TIMEOUT)}
    server = await asyncio.to_thread(
        start_server, url, tmp_path / "server.log", "--no-migrate", env=env
    )
    load = Load(f"term-{name}-{'slow' if slow else 'plain'}")
    stop = asyncio.Event()
    posting = asyncio.create_task(load.run(server.base_url, WORKERS, stop, until_refused=True))
    lock: HeldLock | None = None
    try:
        assert await wait_until(lambda: len(load.acknowledged) >= 20, 10), "no load"
        if slow:
            lock = await hold_lock(name, url)
            await asyncio.sleep(0.3)  # requests pile up behind the lock
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        if lock is not None:
            await asyncio.sleep(0.5)
            await lock.release()
        code = await asyncio.to_thread(server.process.wait, EXIT_WITHIN)
        exited = time.monotonic() - signalled
        await asyncio.wait_for(posting, 30)
    finally:
        stop.set()
        if lock is not None:
            await lock.release()
        kill_server(server)
        if not posting.done():
            posting.cancel()

    outcomes = load.outcomes
    answered_late = [o for o in outcomes if o.status and o.started < signalled < o.ended]
    server_errors = [o for o in outcomes if o.status is not None and o.status >= 500]
    dropped = sum(o.error == "dropped" for o in outcomes)
    refused = sum(o.error == "refused" for o in outcomes)
    print(
        f"{name}{' slow' if slow else ''}: exited {code} in {exited:.2f} s; "
        f"{len(answered_late)} answered after SIGTERM "
        f"({sum(o.status == 201 for o in answered_late)} of them 201), {dropped} dropped, "
        f"{refused} refused, {len(server_errors)} 5xx"
    )
    TALLY.server_errors += len(server_errors)
    assert not server_errors, [o.status for o in server_errors]
    assert not [o for o in outcomes if o.error == "timeout"]
    assert code in (0, -signal.SIGTERM), f"exit code {code}"
    assert '"event":"stopped"' in server.log_path.read_text(), "no graceful stop logged"
    if slow:
        waited = [o for o in answered_late if o.status == 201 and o.ended - signalled >= 0.4]
        assert waited, "no request was in flight across the signal"

    # Nothing acknowledged is lost, and nothing unanswered was stored.
    acknowledged = load.acknowledged
    server = await asyncio.to_thread(
        start_server, url, tmp_path / "again.log", "--no-migrate", env=env
    )
    try:
        await load.complete(server.base_url, time.monotonic() + 30)
        verdict = await verify(server.base_url, load, acknowledged)
    finally:
        kill_server(server)
    TALLY.add_messages(verdict)
    assert verdict.ok, verdict
    replayed = [m.key for m in load.messages if m.replayed]
    assert not replayed, f"stored without the client getting an answer: {replayed}"
