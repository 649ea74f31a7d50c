"""GET /v1/messages: filters, counts, limits and keyset pagination on every backend."""

import re

import httpx
import pytest

from tagfeed.store.port import Store
from tests.integration.helpers import assert_problem, seed

NEXT = re.compile(r'<(?P<url>[^>]+)>; rel="next"')


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [m["id"] for m in response.json()]


async def test_newest_first_filtered_by_normalised_tag(
    client: httpx.AsyncClient, store: Store
) -> None:
    a, b, c, _ = await seed(
        store,
        ("philo-timo", "2026-01-01T10:00:00"),
        ("philo-timo", "2026-01-03T10:00:00"),
        ("philo-timo", "2026-01-02T10:00:00"),
        ("other", "2026-01-04T10:00:00"),
    )
    response = await client.get("/v1/messages", params={"tag": "#Philo TIMO"})
    assert ids(response) == [b.id, c.id, a.id]
    assert "link" not in response.headers


async def test_unknown_tag_is_empty_not_an_error(client: httpx.AsyncClient, store: Store) -> None:
    await seed(store, ("known", "2026-01-01T00:00:00"))
    assert (await client.get("/v1/messages", params={"tag": "unknown"})).json() == []
    count = await client.get("/v1/messages", params={"tag": "unknown", "count": "1"})
    assert count.json() == 0


async def test_date_only_bounds_cover_whole_days(client: httpx.AsyncClient, store: Store) -> None:
    before, first, last, after = await seed(
        store,
        ("t", "2026-03-09T23:59:59.999999"),
        ("t", "2026-03-10T00:00:00"),
        ("t", "2026-03-12T23:59:59.999999"),
        ("t", "2026-03-13T00:00:00"),
    )
    params = {"tag": "t", "dateStart": "2026-03-10", "dateEnd": "2026-03-12"}
    assert ids(await client.get("/v1/messages", params=params)) == [last.id, first.id]
    assert (await client.get("/v1/messages", params={**params, "count": "1"})).json() == 2
    one_day = {"dateStart": "2026-03-13", "dateEnd": "2026-03-13"}
    assert ids(await client.get("/v1/messages", params=one_day)) == [after.id]
    assert before.id in ids(await client.get("/v1/messages", params={"dateEnd": "2026-03-09"}))


async def test_instant_bounds_start_inclusive_end_exclusive(
    client: httpx.AsyncClient, store: Store
) -> None:
    at_start, inside, at_end = await seed(
        store,
        ("t", "2026-03-10T12:00:00"),
        ("t", "2026-03-10T12:30:00"),
        ("t", "2026-03-10T13:00:00"),
    )
    params = {"dateStart": "2026-03-10T12:00:00Z", "dateEnd": "2026-03-10T15:00:00+02:00"}
    assert ids(await client.get("/v1/messages", params=params)) == [inside.id, at_start.id]
    assert at_end.id not in ids(await client.get("/v1/messages", params=params))


async def test_either_bound_alone(client: httpx.AsyncClient, store: Store) -> None:
    old, new = await seed(store, ("t", "2020-01-01T00:00:00"), ("t", "2026-01-01T00:00:00"))
    assert ids(await client.get("/v1/messages", params={"dateStart": "2025-01-01"})) == [new.id]
    assert ids(await client.get("/v1/messages", params={"dateEnd": "2025-01-01"})) == [old.id]


async def test_count_combines_with_every_filter(client: httpx.AsyncClient, store: Store) -> None:
    await seed(
        store,
        *[("a", f"2026-05-{day:02d}T08:00:00") for day in range(1, 11)],
        *[("b", f"2026-05-{day:02d}T08:00:00") for day in range(1, 4)],
    )
    cases = [
        ({}, 13),
        ({"tag": "a"}, 10),
        ({"tag": "b", "dateStart": "2026-05-02"}, 2),
        ({"tag": "a", "dateStart": "2026-05-03", "dateEnd": "2026-05-05"}, 3),
        ({"dateEnd": "2026-05-01"}, 2),
    ]
    for params, expected in cases:
        response = await client.get("/v1/messages", params={**params, "count": "1"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.text == str(expected), params


async def test_count_zero_means_the_list(client: httpx.AsyncClient, store: Store) -> None:
    (only,) = await seed(store, ("t", "2026-01-01T00:00:00"))
    assert ids(await client.get("/v1/messages", params={"count": "0"})) == [only.id]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"count": "2"}, "count"),
        ({"count": "yes"}, "count"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"cursor": "bogus"}, "cursor"),
        ({"cursor": "MS4xLm5vdC1hbi1pZA"}, "cursor"),
        ({"dateStart": "yesterday"}, "dateStart"),
        ({"dateStart": "2026-02-30"}, "dateStart"),
        ({"dateEnd": "2026-01-01T10:00:00"}, "dateEnd"),
        ({"dateStart": "2026-02-01", "dateEnd": "2026-01-31"}, "dateStart"),
        ({"dateStart": "2026-01-01T10:00:01Z", "dateEnd": "2026-01-01T10:00:00Z"}, "dateStart"),
        ({"tag": "bad tag!"}, "tag"),
        ({"tag": "#"}, "tag"),
    ],
)
async def test_invalid_parameters_get_400_naming_them(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    assert_problem(await client.get("/v1/messages", params=params), 400, field)


async def test_limit_bounds_and_default(client: httpx.AsyncClient, store: Store) -> None:
    await seed(store, *[("t", f"2026-01-01T00:{m // 60:02d}:{m % 60:02d}") for m in range(120)])
    assert len(ids(await client.get("/v1/messages"))) == 100
    assert len(ids(await client.get("/v1/messages", params={"limit": "1"}))) == 1
    assert len(ids(await client.get("/v1/messages", params={"limit": "1000"}))) == 120


async def walk(client: httpx.AsyncClient, url: str, between: int) -> tuple[list[str], list[str]]:
    """Follow rel=next to the end, posting ``between`` new messages before each page;
    returns the ids seen and the ids posted, in order."""
    seen: list[str] = []
    posted: list[str] = []
    next_url: str | None = url
    while next_url is not None:
        for i in range(between):
            created = await client.post("/v1/messages", json={"text": f"new {i}", "tag": "t"})
            assert created.status_code == 201
            posted.append(created.json()["id"])
        response = await client.get(next_url)
        seen += ids(response)
        match = NEXT.fullmatch(response.headers.get("link", ""))
        next_url = match["url"] if match else None
    return seen, posted


async def test_following_next_yields_each_message_once_while_posting(
    client: httpx.AsyncClient, store: Store
) -> None:
    """The posts match the walk's filter and are newer than every seeded message, so
    each one lands on the first page of the list as it then is: with offsets, every page
    would start that many rows early and repeat the end of the previous one."""
    # Several messages share one instant: the id breaks the tie.
    seeded = await seed(
        store,
        *[("t", f"2026-01-01T00:00:{s // 3:02d}") for s in range(57)],
        *[("other", "2026-01-01T00:00:05") for _ in range(5)],
    )
    newest_first = sorted(
        (m for m in seeded if m.tag == "t"), key=lambda m: (m.created_at, m.id), reverse=True
    )
    seen, posted = await walk(client, "/v1/messages?tag=t&limit=10", between=2)
    assert len(seen) == len(set(seen)), "a message was listed twice"
    # The first page shows the two posted before it; later posts are newer than the
    # cursor, so they are not part of the walk; every seeded message is, once, in order.
    assert set(seen[:2]) == set(posted[:2])
    assert seen[2:] == [m.id for m in newest_first]
    assert len(posted) == 2 * 6  # 59 messages in pages of 10


async def test_next_link_keeps_the_filters(client: httpx.AsyncClient, store: Store) -> None:
    await seed(store, *[("t", f"2026-01-0{d}T00:00:00") for d in range(1, 6)])
    response = await client.get(
        "/v1/messages", params={"tag": "T", "dateStart": "2026-01-01", "limit": "2"}
    )
    match = NEXT.fullmatch(response.headers["link"])
    assert match is not None
    link = httpx.URL(match["url"])
    assert link.path == "/v1/messages"
    assert link.params["tag"] == "T"
    assert link.params["dateStart"] == "2026-01-01"
    assert link.params["limit"] == "2"
    assert link.params["cursor"]
