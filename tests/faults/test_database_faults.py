"""A database that stops, hangs or is locked costs a request at most the configured timeout
and a 503 with Retry-After, never a 500 or a hang; once it is back, the same server process
answers normally again within 2 s, and nothing acknowledged was lost."""

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest

from tests.e2e.conftest import Server, start_server
from tests.faults.fault_client import Load, Outcome, http_client, kill_server, verify, wait_until
from tests.faults.fault_locks import postgres_lock, sqlite_lock
from tests.faults.fault_postgres import OwnPostgres
from tests.faults.fault_tally import TALLY

pytestmark = pytest.mark.faults

RETRY_AFTER = "2"
SLACK = 1.0  # seconds past TAGFEED_DB_TIMEOUT for the event loop, the network, a busy CPU
RECOVERY = 2.0  # seconds from the database being back to normal answers
OK = {"POST": 201, "GET": 200, "LIST": 200, "READY": 200}


def serve(url: str, tmp_path: Path, timeout: float, wait_for: str = "/readyz") -> Server:
    env = {"TAGFEED_DB_TIMEOUT": str(timeout), "TAGFEED_RETRY_AFTER_SECONDS": RETRY_AFTER}
    log = tmp_path / "server.log"
    return start_server(url, log, "--no-migrate", env=env, wait_for=wait_for)


def refusals(outcomes: list[Outcome], timeout: float) -> list[str]:
    """Everything wrong with answers given while the database is unusable: anything but a
    503 with Retry-After, or an answer slower than the timeout (plus slack)."""
    wrong = []
    for o in outcomes:
        if o.status != 503 or o.retry_after != RETRY_AFTER:
            wrong.append(f"{o.kind} {o.status or o.cause} (Retry-After {o.retry_after})")
        elif o.seconds > timeout + SLACK:
            wrong.append(f"{o.kind} took {o.seconds:.2f} s")
    return wrong


async def burst(load: Load, base_url: str, message_id: str, posts: int, gets: int) -> None:
    """``posts`` POSTs (more than the PostgreSQL pool), ``gets`` each of GET by id, list and
    /readyz, all at once."""
    async with http_client(base_url, posts + 3 * gets) as client:
        await asyncio.gather(
            *(load.post(client, load.new_message()) for _ in range(posts)),
            *(
                load.request(client, "GET", "GET", f"/v1/messages/{message_id}")
                for _ in range(gets)
            ),
            *(load.request(client, "LIST", "GET", "/v1/messages?limit=5") for _ in range(gets)),
            *(load.request(client, "READY", "GET", "/readyz") for _ in range(gets)),
        )


async def recovery_time(load: Load, base_url: str, message_id: str, since: float) -> float:
    """Seconds from ``since`` until a POST gets 201 and a GET 200 again (bounded)."""
    async with http_client(base_url) as client:
        while time.monotonic() - since < 30:
            posted = await load.post(client, load.new_message())
            got, _ = await load.request(client, "GET", "GET", f"/v1/messages/{message_id}")
            if posted.status == 201 and got.status == 200:
                return got.ended - since
            await asyncio.sleep(0.02)
    return float("inf")


async def first_message(load: Load, base_url: str) -> str:
    async with http_client(base_url) as client:
        message = load.new_message()
        outcome = await load.post(client, message)
    assert outcome.status == 201, outcome
    assert message.id is not None
    return message.id


async def settle(load: Load, server: Server) -> None:
    """Retry what got no 201, then read everything back: each message exactly once."""
    acknowledged = load.acknowledged
    await load.complete(server.base_url, time.monotonic() + 30)
    verdict = await verify(server.base_url, load, acknowledged)
    TALLY.add_messages(verdict)
    TALLY.server_errors += sum(
        o.status is not None and o.status >= 500 and o.status != 503 for o in load.outcomes
    )
    assert verdict.ok, verdict


async def test_postgres_stopped_then_started_under_load(
    own_postgres: OwnPostgres, own_postgres_url: str, tmp_path: Path
) -> None:
    timeout = 2.0
    server = await asyncio.to_thread(serve, own_postgres_url, tmp_path, timeout)
    load = Load("db-stop")
    stop = asyncio.Event()

    async def probe(client_url: str) -> None:  # readiness and a list, all along
        async with http_client(client_url, 2) as client:
            while not stop.is_set():
                await load.request(client, "READY", "GET", "/readyz")
                await load.request(client, "LIST", "GET", f"/v1/messages?tag={load.tag}&limit=5")
                await asyncio.sleep(0.05)

    posting = asyncio.gather(
        load.run(server.base_url, 16, stop, read_back=True), probe(server.base_url)
    )
    try:
        assert await wait_until(lambda: len(load.acknowledged) >= 20, 10), "no load"
        await asyncio.to_thread(own_postgres.stop, "fast")
        down = time.monotonic()
        await asyncio.sleep(2.5 * timeout)
        starting = time.monotonic()
        await asyncio.to_thread(own_postgres.start)
        up = time.monotonic()
        assert await wait_until(
            lambda: any(o.status == 201 and o.started > up for o in load.outcomes), 30
        ), "no 201 after the database came back"
        await asyncio.sleep(1)
    finally:
        stop.set()
        await asyncio.wait_for(posting, 60)
    try:
        outage = [o for o in load.outcomes if o.started >= down and o.ended <= starting]
        after = [o for o in load.outcomes if o.started >= up]
        kinds = {o.kind for o in outage}
        print(
            f"outage {starting - down:.1f} s: {len(outage)} answers, slowest"
            f" {max(o.seconds for o in outage):.2f} s; first 201 after start"
            f" {min(o.ended for o in after if o.status == 201) - up:.2f} s, first ready"
            f" {min(o.ended for o in after if o.kind == 'READY' and o.status == 200) - up:.2f} s"
        )
        assert server.process.poll() is None, "the server died"
        assert {"POST", "READY", "LIST"} <= kinds, kinds
        assert not refusals(outage, timeout)
        # While the database stops or starts: 503s, no 5xx else, nothing slower.
        assert all(o.status in (200, 201, 503) for o in load.outcomes), {
            o.status or o.error for o in load.outcomes
        }
        slow = [o for o in load.outcomes if o.seconds > timeout + SLACK]
        assert not slow, [(o.kind, o.status, round(o.started - down, 2), o.seconds) for o in slow]
        # Back within RECOVERY of the database being up: writes, reads and readiness.
        for kind, ok in OK.items():
            first = min((o.ended for o in after if o.kind == kind and o.status == ok), default=0)
            assert 0 < first - up <= RECOVERY, f"{kind} {ok} came {first - up:.2f} s after start"
        late = [o for o in after if o.started > up + RECOVERY and o.status != OK[o.kind]]
        assert not late, [(o.kind, o.status or o.error) for o in late]
        await settle(load, server)
    finally:
        kill_server(server)


async def test_postgres_lock_costs_at_most_the_timeout(
    own_postgres_url: str, tmp_path: Path
) -> None:
    timeout = 1.0
    server = await asyncio.to_thread(serve, own_postgres_url, tmp_path, timeout)
    try:
        load = Load("db-lock")
        message_id = await first_message(load, server.base_url)
        lock = await postgres_lock(own_postgres_url, "ACCESS EXCLUSIVE")
        try:
            await burst(load, server.base_url, message_id, posts=14, gets=3)
            locked = list(load.outcomes[1:])
        finally:
            released = time.monotonic()
            await lock.release()
        assert not refusals(locked, timeout)
        assert await recovery_time(load, server.base_url, message_id, released) <= RECOVERY
        await settle(load, server)
    finally:
        kill_server(server)


async def test_postgres_slow_statement_is_cancelled_at_the_timeout(
    own_postgres_url: str, tmp_path: Path
) -> None:
    """A statement that hangs inside the database (pg_sleep in a trigger) costs the request
    the timeout, and the server cancels it there too (statement_timeout)."""
    timeout = 1.0
    admin = await asyncpg.connect(own_postgres_url, timeout=10)
    server = await asyncio.to_thread(serve, own_postgres_url, tmp_path, timeout)
    try:
        load = Load("db-sleep")
        message_id = await first_message(load, server.base_url)
        await admin.execute(
            "CREATE FUNCTION faults_sleep() RETURNS trigger LANGUAGE plpgsql AS"
            " $$BEGIN PERFORM pg_sleep(60); RETURN NULL; END$$;"
            " CREATE TRIGGER faults_sleep BEFORE INSERT ON messages"
            " FOR EACH STATEMENT EXECUTE FUNCTION faults_sleep()"
        )
        try:
            async with http_client(server.base_url) as client:
                await asyncio.gather(*(load.post(client, load.new_message()) for _ in range(4)))
                read, _ = await load.request(client, "GET", "GET", f"/v1/messages/{message_id}")
            hung = [o for o in load.outcomes[1:] if o.kind == "POST"]
            assert not refusals(hung, timeout)
            assert read.status == 200
            assert read.seconds < timeout, "reads do not wait for the hung write"
            await asyncio.sleep(0.5)
            sleeping = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%INSERT INTO messages%'"
                " AND state = 'active' AND pid <> pg_backend_pid()"
            )
            assert sleeping == 0, "the database still runs the statements the timeout gave up"
        finally:
            released = time.monotonic()
            await admin.execute("DROP TRIGGER faults_sleep ON messages")
        assert await recovery_time(load, server.base_url, message_id, released) <= RECOVERY
        await settle(load, server)
    finally:
        await admin.close()
        kill_server(server)


async def test_sqlite_locked_is_503_never_500(sqlite_url: str, tmp_path: Path) -> None:
    """Locked for everything (another process in exclusive locking mode, which it can only
    get while nobody else has the file open: so before the server starts), then for
    writes only (a write transaction: WAL readers go on)."""
    timeout = 1.0
    load = Load("sqlite-lock")
    lock = await sqlite_lock(sqlite_url, writes_only=False)
    server = await asyncio.to_thread(serve, sqlite_url, tmp_path, timeout, "/healthz")
    try:
        try:
            async with http_client(server.base_url) as client:
                some_id = "0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f60"
                burst_done = asyncio.create_task(burst(load, server.base_url, some_id, 8, 3))
                health = []
                while not burst_done.done():  # the event loop never waits on the lock
                    outcome, _ = await load.request(client, "HEALTH", "GET", "/healthz")
                    health.append(outcome)
                    await asyncio.sleep(0.05)
                await burst_done
            everything = [o for o in load.outcomes if o.kind != "HEALTH"]
        finally:
            released = time.monotonic()
            await lock.release()
        assert not refusals(everything, timeout)
        assert max(o.seconds for o in health) < 0.5, [round(o.seconds, 2) for o in health]
        message_id = await first_message(load, server.base_url)
        assert await recovery_time(load, server.base_url, message_id, released) <= RECOVERY

        seen = len(load.outcomes)
        lock = await sqlite_lock(sqlite_url, writes_only=True)
        try:
            await burst(load, server.base_url, message_id, posts=8, gets=3)
        finally:
            released = time.monotonic()
            await lock.release()
        during = load.outcomes[seen:]
        assert not refusals([o for o in during if o.kind == "POST"], timeout)
        assert {o.status for o in during if o.kind != "POST"} == {200}, "WAL: reads go on"
        assert await recovery_time(load, server.base_url, message_id, released) <= RECOVERY
        await settle(load, server)
    finally:
        await lock.release()
        kill_server(server)
