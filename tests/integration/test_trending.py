"""Trending tags: the view the ``trending`` catch-up reducer keeps answers as the
reducer's rules say when computed from scratch, whatever the batches; the route ranks a
tag that bursts above one that is busy as usual, and refuses bad parameters."""

import asyncio
import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tagfeed.api.app import create_app
from tagfeed.config import Settings
from tagfeed.domain.ids import new_message_id
from tagfeed.domain.model import Message
from tagfeed.domain.trends import Trending
from tagfeed.reducers import trending
from tagfeed.service.reducing import catch_up
from tagfeed.service.trends import TrendService
from tagfeed.store.memory import MemoryStore
from tagfeed.store.port import Store, unit_of_work
from tests.integration.helpers import assert_problem

NOW = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)


async def post_at(stores: list[Store], tag: str, at: datetime, n: int = 1) -> None:
    messages = [Message(new_message_id(at), f"{tag} {i}", tag, "u", at) for i in range(n)]
    for store in stores:
        async with unit_of_work(store) as work:
            for message in messages:
                work.add_message(message)
            await work.commit()


async def test_a_burst_outranks_a_tag_busy_as_usual(
    store: Store, client: httpx.AsyncClient
) -> None:
    # "steady": 10 posts an hour for the past 8 days, this hour too.
    for hours_ago in range(8 * 24):
        await post_at([store], "steady", NOW - timedelta(hours=hours_ago), 10)
    # "burst": 1 post a day for a week, then 40 this hour.
    for days_ago in range(1, 8):
        await post_at([store], "burst", NOW - timedelta(days=days_ago))
    await post_at([store], "burst", NOW, 40)
    await catch_up(store, trending.REDUCER, batch=97)

    answer = await client.get("/v1/tags/trending", params={"window": "1h"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["window"] == "1h"
    assert (body["start"], body["end"]) == (
        "2026-11-30T12:00:00.000000Z",
        "2026-11-30T13:00:00.000000Z",
    )
    assert [t["tag"] for t in body["tags"]] == ["burst"]  # steady scores 0
    top = body["tags"][0]
    assert top["count"] == 40
    assert top["expected"] == 1.0  # 7 posts in 168 hours: less than one an hour
    assert top["score"] == pytest.approx((40 - 1) ** 2 / 1)

    day = (await client.get("/v1/tags/trending?window=24h&limit=1")).json()
    assert [t["tag"] for t in day["tags"]] == ["burst"]
    # This hour's 40; yesterday's one at 12:30 is in the hour before the window.
    assert day["tags"][0]["count"] == 40
    assert day["start"] == "2026-11-29T13:00:00.000000Z"


async def test_an_empty_log_trends_nothing(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/tags/trending")).json()
    assert body == {"window": "24h", "start": None, "end": None, "tags": []}


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("window=2h", "window"),
        ("window=", "window"),  # empty counts as absent: no, the default; see below
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("window=1h&window=7d", "window"),
    ],
)
async def test_bad_parameters_are_a_400_naming_them(
    client: httpx.AsyncClient, query: str, named: str
) -> None:
    answer = await client.get(f"/v1/tags/trending?{query}")
    if query == "window=":
        assert answer.status_code == 200  # an empty value is absent, like everywhere
        return
    assert_problem(answer, 400, named)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_view_answers_as_the_rules_from_scratch_whatever_the_batches(
    store: Store, seed: int
) -> None:
    """Random histories over six weeks, some posts late (imports into past hours), the
    log folded in random batch sizes, with catch-ups in between: every window's ranking
    equals the one computed from all the messages at once (MemoryStore)."""
    rng = random.Random(seed)
    reference = MemoryStore()
    tags = [f"t{n}" for n in range(12)]
    start = NOW - timedelta(days=42)
    at = start
    for _ in range(40):
        for _ in range(rng.randrange(1, 6)):
            when = at - timedelta(hours=rng.choice([0, 0, 0, 1, 5, 30, 200]))
            await post_at([store, reference], rng.choice(tags), when, rng.randrange(1, 12))
        at += timedelta(hours=rng.choice([0, 1, 1, 2, 7, 30, 170]))
        if rng.random() < 0.3:
            await catch_up(store, trending.REDUCER, batch=rng.randrange(1, 40))
    await catch_up(store, trending.REDUCER, batch=rng.randrange(1, 40))
    for window in trending.WINDOWS.values():
        clock, got = await store.trending(window.hours, 100)
        want_clock, want = await reference.trending(window.hours, 100)
        assert clock == want_clock
        assert [(t.tag, t.count) for t in got] == [(t.tag, t.count) for t in want]
        assert [t.score for t in got] == pytest.approx([t.score for t in want])
        assert [t.expected for t in got] == pytest.approx([t.expected for t in want])


async def test_the_position_is_the_reducers_checkpoint_and_min_position_waits_for_it(
    settings: Settings, store: Store
) -> None:
    """Tagfeed-Position on trending is what the view reflects, behind the head until its
    reducer catches up; Tagfeed-Min-Position waits for the view, not for the log."""
    quick = settings.model_copy(update={"min_position_wait_seconds": 0.5})
    transport = httpx.ASGITransport(app=create_app(quick, store))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://tagfeed.test", headers={"X-User-ID": "1"}
    ) as client:
        assert (await client.get("/v1/tags/trending")).headers["tagfeed-position"] == "0"
        await post_at([store], "burst", NOW, 6)  # the log: 6; the view: still 0
        assert await store.head() == 6
        before = await client.get("/v1/tags/trending")
        assert before.headers["tagfeed-position"] == "0"
        assert before.json()["tags"] == []
        refused = await client.get("/v1/tags/trending", headers={"Tagfeed-Min-Position": "6"})
        assert_problem(refused, 503, "trending has not reached position 6")
        assert refused.headers["retry-after"] == "1"
        assert_problem(
            await client.get("/v1/tags/trending", headers={"Tagfeed-Min-Position": "x"}),
            400,
            "Tagfeed-Min-Position",
        )

        async def later() -> None:
            await asyncio.sleep(0.1)
            await catch_up(store, trending.REDUCER)

        slow = settings.model_copy(update={"min_position_wait_seconds": 10.0})
        waiting = create_app(slow, store)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=waiting),
            base_url="http://tagfeed.test",
            headers={"X-User-ID": "1"},
        ) as patient:
            caught_up = asyncio.create_task(later())
            answer = await patient.get("/v1/tags/trending", headers={"Tagfeed-Min-Position": "6"})
            await caught_up
        assert answer.status_code == 200
        assert answer.headers["tagfeed-position"] == "6"
        assert answer.json()["tags"][0]["tag"] == "burst"
        assert await store.reducer_checkpoint(trending.NAME) == 6
        assert await store.reducer_checkpoint("tags") == 0  # another reducer's own row


async def test_a_ranking_is_rendered_once_per_position_of_the_view(
    store: Store, client: httpx.AsyncClient
) -> None:
    """The route keeps each ranking's body for the view's position: the same answer
    while the reducer has not moved, the new one as soon as it has (same process)."""
    first = await client.get("/v1/tags/trending?window=1h")
    assert first.json()["tags"] == []
    assert first.headers["tagfeed-position"] == "0"
    await post_at([store], "burst", NOW, 5)
    await catch_up(store, trending.REDUCER)
    moved = await client.get("/v1/tags/trending?window=1h")
    assert moved.headers["tagfeed-position"] == "5"
    assert [(t["tag"], t["count"]) for t in moved.json()["tags"]] == [("burst", 5)]
    # Another limit is another answer, not the cached one.
    assert (await client.get("/v1/tags/trending?window=1h&limit=1")).json()["tags"][0]["count"] == 5

    renders: list[str] = []

    def render(ranking: Trending) -> bytes:
        renders.append(ranking.window)
        return ranking.window.encode()

    trends = TrendService(store)
    assert await trends.rendered("1h", 10, 5, render) == b"1h"
    assert await trends.rendered("1h", 10, 5, render) == b"1h"
    assert renders == ["1h"]  # the second read came from the cache
    assert await trends.rendered("24h", 10, 5, render) == b"24h"
    assert await trends.rendered("1h", 10, 6, render) == b"1h"
    assert renders == ["1h", "24h", "1h"]


async def test_the_memory_store_reports_a_checkpoint_too() -> None:
    store = MemoryStore()
    assert await store.reducer_checkpoint(trending.NAME) == 0
    await post_at([store], "t", NOW, 3)
    assert await catch_up(store, trending.REDUCER) == 3
    assert await store.reducer_checkpoint(trending.NAME) == 3
