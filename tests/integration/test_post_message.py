"""POST /v1/messages and GET /v1/messages/{id} on every backend."""

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.helpers import assert_problem

UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


async def post(client: httpx.AsyncClient, body: object, **kwargs: object) -> httpx.Response:
    return await client.post("/v1/messages", json=body, **kwargs)  # type: ignore[arg-type]


async def test_created_message_is_returned_and_resolvable(client: httpx.AsyncClient) -> None:
    response = await post(client, {"text": "  A very meaningful message ", "tag": "#Philo Timo "})
    assert response.status_code == 201
    created = response.json()
    assert set(created) == {"id", "text", "tag", "user_id", "created_at"}
    assert UUID7.fullmatch(created["id"])
    assert INSTANT.fullmatch(created["created_at"])
    assert created["text"] == "A very meaningful message"
    assert created["tag"] == "philo-timo"
    assert created["user_id"] == "1"
    assert response.headers["location"] == f"/v1/messages/{created['id']}"

    fetched = await client.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == created


async def test_unknown_fields_are_ignored_and_charset_is_accepted(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/messages",
        content=b'{"text":"hi","tag":"x","extra":{"nested":[1,2]}}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201
    assert "extra" not in response.json()


async def test_text_is_stored_exactly_apart_from_the_trim(client: httpx.AsyncClient) -> None:
    text = "emoji 🐍, accents é, CJK 漢字,\nnewline and\ttab"
    created = (await post(client, {"text": text, "tag": "unicode"})).json()
    assert (await client.get(f"/v1/messages/{created['id']}")).json()["text"] == text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tag": "x"}, "text"),
        ({"text": "hi"}, "tag"),
        ({"text": "", "tag": "x"}, "text"),
        ({"text": "   ", "tag": "x"}, "text"),
        ({"text": "x" * 281, "tag": "x"}, "text"),
        ({"text": 5, "tag": "x"}, "text"),
        ({"text": "hi", "tag": None}, "tag"),
        ({"text": "hi", "tag": ["x"]}, "tag"),
        ({"text": "hi", "tag": "#"}, "tag"),
        ({"text": "hi", "tag": "no/slashes"}, "tag"),
        ({"text": "hi", "tag": "t" * 65}, "tag"),
        ({"text": "nul \u0000 inside", "tag": "x"}, "text"),
        ({"text": "hi", "tag": "nul\u0000"}, "tag"),
        (["text", "tag"], "body"),
        ("just a string", "body"),
        (42, "body"),
    ],
)
async def test_invalid_bodies_get_400_naming_the_field(
    client: httpx.AsyncClient, body: object, field: str
) -> None:
    assert_problem(await post(client, body), 400, field)


async def test_280_characters_are_code_points_not_bytes(client: httpx.AsyncClient) -> None:
    assert (await post(client, {"text": "🐍" * 280, "tag": "x"})).status_code == 201


@pytest.mark.parametrize(
    "raw", [b"{", b'{"text": "a", "tag": }', b"", b"\xff\xfe{}", b'{"text": "a" "tag": "b"}']
)
async def test_malformed_json_gets_400(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post(
        "/v1/messages", content=raw, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400, "body")


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/xml", "application/json; charset=latin-1"]
)
async def test_non_json_content_type_gets_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post("/v1/messages", content=b'{"text":"a","tag":"b"}', headers=headers)
    assert_problem(response, 415, "Content-Type")


async def test_oversized_body_gets_413(client: httpx.AsyncClient) -> None:
    body = {"text": "x", "tag": "y", "padding": "z" * 70_000}
    assert_problem(await post(client, body), 413, "65536 bytes")


async def test_oversized_streamed_body_without_length_gets_413(
    client: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    response = await client.post(
        "/v1/messages", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "bytes")


@pytest.mark.parametrize(
    "user", [None, "", "has space", "x" * 129, "semi;colon", "caf\u00e9".encode().decode("latin-1")]
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/messages"),
        ("GET", "/v1/messages"),
        ("GET", "/v1/messages/01a22331-0051-79a1-af0f-a39e3c5777d7"),
    ],
)
async def test_missing_or_invalid_user_id_gets_403(
    client: httpx.AsyncClient, user: str | None, method: str, path: str
) -> None:
    headers = [(b"content-type", b"application/json")]
    if user is not None:
        headers.append((b"x-user-id", user.encode("latin-1")))
    request = httpx.Request(
        method, f"http://tagfeed.test{path}", headers=headers, content=b'{"text":"a","tag":"b"}'
    )
    response = await client.send(request)
    assert_problem(response, 403, "X-User-ID")


@pytest.mark.parametrize(
    "user", ["1", "auth0|abc", "0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f60", "a.b_c:d@e-f", "x" * 128]
)
async def test_user_ids_of_every_allowed_shape_post(client: httpx.AsyncClient, user: str) -> None:
    response = await post(client, {"text": "hi", "tag": "x"}, headers={"X-User-ID": user})
    assert response.status_code == 201
    assert response.json()["user_id"] == user


@pytest.mark.parametrize(
    "message_id",
    ["01a22331-0051-79a1-af0f-a39e3c5777d7", "not-an-id", "01A22331-0051-79A1-AF0F-A39E3C5777D7"],
)
async def test_unknown_message_id_gets_404(client: httpx.AsyncClient, message_id: str) -> None:
    assert_problem(await client.get(f"/v1/messages/{message_id}"), 404, message_id)


async def test_concurrent_posts_all_succeed_with_distinct_ids(
    client: httpx.AsyncClient,
) -> None:
    responses = await asyncio.gather(
        *(post(client, {"text": f"burst {i}", "tag": f"burst{i % 7}"}) for i in range(200))
    )
    assert [r.status_code for r in responses] == [201] * 200
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 200
    count = await client.get("/v1/messages", params={"count": "1"})
    assert count.json() == 200
