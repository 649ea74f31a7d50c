"""GET /v1/messages/counts and count=1: exact answers from the counters."""

import asyncio
import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tagfeed.domain.counting import pieces_of
from tagfeed.domain.ids import new_message_id
from tagfeed.domain.model import Message
from tagfeed.domain.timerange import TimeRange
from tagfeed.store.port import Store, unit_of_work
from tests.integration.helpers import assert_problem, seed


async def test_total_alone_without_granularity(client: httpx.AsyncClient, store: Store) -> None:
    await seed(
        store,
        ("a", "2026-05-01T08:00:00"),
        ("a", "2026-05-02T08:00:00"),
        ("b", "2026-05-02T09:00:00"),
    )
    response = await client.get("/v1/messages/counts", params={"tag": "A"})
    assert response.status_code == 200
    assert response.json() == {"total": 2}
    everything = await client.get("/v1/messages/counts")
    assert everything.json() == {"total": 3}


async def test_day_buckets_include_zeros(client: httpx.AsyncClient, store: Store) -> None:
    await seed(
        store,
        ("a", "2026-05-01T08:00:00"),
        ("a", "2026-05-01T23:59:59.999999"),
        ("a", "2026-05-03T00:00:00"),
        ("a", "2026-05-04T00:00:00"),
    )
    response = await client.get(
        "/v1/messages/counts",
        params={
            "tag": "a",
            "dateStart": "2026-05-01",
            "dateEnd": "2026-05-03",
            "granularity": "day",
        },
    )
    assert response.status_code == 200
    assert response.json() == {
        "total": 3,
        "granularity": "day",
        "buckets": [
            {
                "start": "2026-05-01T00:00:00.000000Z",
                "end": "2026-05-02T00:00:00.000000Z",
                "count": 2,
            },
            {
                "start": "2026-05-02T00:00:00.000000Z",
                "end": "2026-05-03T00:00:00.000000Z",
                "count": 0,
            },
            {
                "start": "2026-05-03T00:00:00.000000Z",
                "end": "2026-05-04T00:00:00.000000Z",
                "count": 1,
            },
        ],
    }


async def test_edge_buckets_are_clipped_and_exact(client: httpx.AsyncClient, store: Store) -> None:
    await seed(
        store,
        ("a", "2026-05-01T10:14:59"),
        ("a", "2026-05-01T10:15:00"),
        ("a", "2026-05-01T11:30:00"),
        ("a", "2026-05-01T12:44:59"),
        ("a", "2026-05-01T12:45:00"),
    )
    response = await client.get(
        "/v1/messages/counts",
        params={
            "tag": "a",
            "dateStart": "2026-05-01T10:15:00Z",
            "dateEnd": "2026-05-01T12:45:00Z",
            "granularity": "hour",
        },
    )
    body = response.json()
    assert body["total"] == 3
    assert [(b["start"][11:19], b["end"][11:19], b["count"]) for b in body["buckets"]] == [
        ("10:15:00", "11:00:00", 1),
        ("11:00:00", "12:00:00", 1),
        ("12:00:00", "12:45:00", 1),
    ]


async def test_minute_buckets(client: httpx.AsyncClient, store: Store) -> None:
    await seed(
        store,
        ("a", "2026-05-01T10:00:30"),
        ("a", "2026-05-01T10:00:59"),
        ("a", "2026-05-01T10:02:00"),
    )
    response = await client.get(
        "/v1/messages/counts",
        params={
            "tag": "a",
            "dateStart": "2026-05-01T10:00:00Z",
            "dateEnd": "2026-05-01T10:03:00Z",
            "granularity": "minute",
        },
    )
    assert [b["count"] for b in response.json()["buckets"]] == [2, 0, 1]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"granularity": "week"}, "granularity"),
        (
            {"granularity": "minute", "dateStart": "2026-01-01", "dateEnd": "2026-12-31"},
            "granularity",
        ),
        ({"dateStart": "2026-13-01"}, "dateStart"),
        ({"tag": "!"}, "tag"),
    ],
)
async def test_bad_parameters_are_400(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    assert_problem(await client.get("/v1/messages/counts", params=params), 400, field)


async def test_counts_need_a_user(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/messages/counts", headers={"X-User-ID": ""})
    assert_problem(response, 403, "X-User-ID")


async def test_counters_agree_with_the_rows_over_random_periods(store: Store) -> None:
    """Any period — aligned or not, short or long, open or not — counts exactly what a
    scan of the messages counts."""
    rng = random.Random(20261128)
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    messages = [
        Message(new_message_id(when), "x", rng.choice(["hot", "hot", "cold"]), "u", when)
        for when in (
            origin + timedelta(microseconds=rng.randrange(40 * 86_400 * 10**6)) for _ in range(600)
        )
    ]
    async with unit_of_work(store) as work:
        for message in messages:
            work.add_message(message)
        await work.commit()
    for _ in range(150):
        a, b = sorted(
            origin + timedelta(microseconds=rng.randrange(42 * 86_400 * 10**6) - 86_400 * 10**6)
            for _ in range(2)
        )
        period = TimeRange(rng.choice([a, None]), rng.choice([b, None]))
        tag = rng.choice(["hot", "cold", None])
        expected = sum(
            1 for m in messages if (tag is None or m.tag == tag) and period.contains(m.created_at)
        )
        assert await store.count_pieces(tag, pieces_of(period)) == expected, (tag, period)


async def test_concurrent_posts_to_one_hot_tag_count_exactly(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(
        *(client.post("/v1/messages", json={"text": f"hot {i}", "tag": "hot"}) for i in range(150))
    )
    assert {r.status_code for r in responses} == {201}
    total = await client.get("/v1/messages/counts", params={"tag": "hot"})
    assert total.json() == {"total": 150}
    assert (await client.get("/v1/messages", params={"count": "1"})).json() == 150
