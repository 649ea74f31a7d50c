"""Streams and read-your-writes on each backend: a post made through another store (another
connection, standing for another process: its own known head) wakes the follower, and a
read that asks for that post's position waits for it; the refusals of both."""

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tagfeed.api.app import create_app
from tagfeed.api.streams import sse_frame
from tagfeed.config import Settings
from tagfeed.service.streams import StreamHub, Subscription
from tagfeed.store.factory import store_from_settings
from tagfeed.store.port import Store
from tests.conftest import USER
from tests.integration.helpers import assert_problem
from tests.integration.test_event_log import a_message, append


@pytest.fixture
async def other(settings: Settings) -> AsyncIterator[Store]:
    """A second store on the same database: what another process appends."""
    opened = store_from_settings(settings)
    await opened.open()
    yield opened
    await opened.close()


async def frames_until(subscription: Subscription, count: int) -> list[bytes]:
    got: list[bytes] = []
    async with asyncio.timeout(10):
        async for batch in subscription.batches(idle=0.2):
            got += batch
            if len(got) >= count:
                return got
    return got


async def test_a_post_by_another_process_wakes_the_stream(store: Store, other: Store) -> None:
    await append(other, a_message(0, "before"))
    hub = StreamHub(store, sse_frame, max_streams=10, capacity=100)
    try:
        news = await hub.subscribe("news", None)
        everything = await hub.subscribe(None, None)
        posted = time.monotonic()
        positions = await append(other, a_message(1, "news"), a_message(2, "sport"))
        got = await frames_until(news, 1)
        waited = time.monotonic() - posted
        assert got[0].startswith(b"id: %d\nevent: message\ndata: {" % positions[0])
        assert b'"tag":"news"' in got[0]
        assert got[0].endswith(b"}\n\n")
        assert [f.split(b"\n")[0] for f in await frames_until(everything, 2)] == [
            b"id: %d" % p for p in positions
        ]
        # PostgreSQL: NOTIFY at once; SQLite: the bell (store/sqlite_bell.py) at once.
        assert waited < 3, waited
    finally:
        await hub.close()


async def test_a_resume_replays_from_the_log_of_each_backend(store: Store, other: Store) -> None:
    first = await append(other, *(a_message(n, "t" if n % 2 else "u") for n in range(10)))
    hub = StreamHub(store, sse_frame, max_streams=10, capacity=100)
    try:
        resumed = await hub.subscribe("t", first[2])
        later = await append(other, a_message(11, "t"))
        got = await frames_until(resumed, 5)
        ids = [int(f.split(b"\n")[0].removeprefix(b"id: ")) for f in got]
        assert ids == [first[3], first[5], first[7], first[9], later[0]]
    finally:
        await hub.close()


@pytest.fixture
async def waiting_client(settings: Settings, store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a short wait for Tagfeed-Min-Position."""
    app = create_app(settings.model_copy(update={"min_position_wait_seconds": 3.0}), store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://tagfeed.test", headers=USER
    ) as http:
        yield http


READS = ["/v1/messages", "/v1/messages/counts", "/v1/messages?count=1"]


async def test_a_read_waits_for_a_position_another_process_appended(
    waiting_client: httpx.AsyncClient, store: Store, other: Store
) -> None:
    await append(store, a_message(0))  # this process has seen position 1
    [position] = await append(other, a_message(1, "mine"))
    assert store.seen_head() < position  # nothing told this process yet
    for path in READS:
        response = await waiting_client.get(path, headers={"Tagfeed-Min-Position": str(position)})
        assert response.status_code == 200, response.text
        assert int(response.headers["tagfeed-position"]) >= position
    listed = await waiting_client.get(
        "/v1/messages?tag=mine", headers={"Tagfeed-Min-Position": str(position)}
    )
    [message] = listed.json()
    by_id = await waiting_client.get(
        f"/v1/messages/{message['id']}", headers={"Tagfeed-Min-Position": str(position)}
    )
    assert by_id.status_code == 200
    assert int(by_id.headers["tagfeed-position"]) >= position


async def test_a_position_beyond_the_head_is_a_503_after_the_wait(
    waiting_client: httpx.AsyncClient, store: Store
) -> None:
    [position] = await append(store, a_message(0))
    started = time.monotonic()
    response = await waiting_client.get(
        "/v1/messages", headers={"Tagfeed-Min-Position": str(position + 1)}
    )
    assert time.monotonic() - started >= 2.9
    assert_problem(response, 503, f"has not reached position {position + 1} within 3 s")
    assert response.headers["retry-after"] == "1"


async def test_a_position_reached_meanwhile_ends_the_wait(
    waiting_client: httpx.AsyncClient, store: Store, other: Store
) -> None:
    [position] = await append(store, a_message(0))
    read = asyncio.create_task(
        waiting_client.get(
            "/v1/messages/counts", headers={"Tagfeed-Min-Position": str(position + 1)}
        )
    )
    await asyncio.sleep(0.3)
    assert not read.done()
    await append(other, a_message(1))
    response = await read
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 2
    assert int(response.headers["tagfeed-position"]) == position + 1


@pytest.mark.parametrize(
    "value", ["-1", "x", "1.0", "+1", " 1", "0x10", "1e3", "99999999999999999999", ""]
)
async def test_a_min_position_that_is_not_a_position_is_a_400(
    client: httpx.AsyncClient, value: str
) -> None:
    for path in [*READS, "/v1/messages/0190a5d8-0000-7000-8000-000000000000"]:
        response = await client.get(path, headers={"Tagfeed-Min-Position": value})
        assert_problem(response, 400, "Tagfeed-Min-Position: must be a log position")


async def test_a_min_position_sent_twice_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/v1/messages",
        headers=[("Tagfeed-Min-Position", "0"), ("Tagfeed-Min-Position", "0")],
    )
    assert_problem(response, 400, "Tagfeed-Min-Position: must be sent at most once")


async def test_min_position_zero_answers_at_once(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/messages", headers={"Tagfeed-Min-Position": "0"})
    assert response.status_code == 200
    assert response.headers["tagfeed-position"] == "0"


@pytest.mark.parametrize(
    ("query", "headers", "named"),
    [
        ("?after=-1", {}, "after: must be a log position"),
        ("?after=abc", {}, "after: must be a log position"),
        ("?after=%D9%A1", {}, "after: must be a log position"),  # an Arabic-Indic 1
        ("?after=9223372036854775808", {}, "after: must be a log position"),
        ("", {"Last-Event-ID": "1.5"}, "Last-Event-ID: must be a log position"),
        ("?after=3", {"Last-Event-ID": "x"}, "Last-Event-ID: must be a log position"),
        ("?after=1&after=2", {}, "after: must be given at most once"),
        ("?tag=no%20way%21", {}, "tag:"),
    ],
)
async def test_a_stream_with_a_bad_position_or_tag_is_a_400(
    client: httpx.AsyncClient, query: str, headers: dict[str, str], named: str
) -> None:
    response = await client.get(f"/v1/messages/stream{query}", headers=headers)
    assert_problem(response, 400, named)


async def test_a_stream_needs_a_caller(settings: Settings, store: Store) -> None:
    app = create_app(settings, store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://tagfeed.test"
    ) as anonymous:
        response = await anonymous.get("/v1/messages/stream")
    assert_problem(response, 403, "X-User-ID")


async def test_a_caller_without_the_count_role_is_refused_before_any_wait(
    settings: Settings, store: Store
) -> None:
    app = create_app(settings.model_copy(update={"count_role": "admin"}), store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://tagfeed.test", headers=USER
    ) as http:
        started = time.monotonic()
        for path in ("/v1/messages?count=1", "/v1/messages/counts"):
            response = await http.get(path, headers={"Tagfeed-Min-Position": "1000000"})
            assert_problem(response, 403, "admin")
        assert time.monotonic() - started < 2  # not the 5 s wait for the position
