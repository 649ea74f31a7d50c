"""The bare peer answers every request file of the scenarios it is held against, with the
shapes tagfeed answers them, and its figures reach the report as ``x peer``."""

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from bench.peer import PAGE_SIZE, app
from bench.scenarios import BY_NAME, PEER, PEER_OF
from bench.stats import Sample, summarize


@pytest.fixture
async def peer() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://peer"
    ) as client:
        yield client


async def test_one_message_by_id(peer: httpx.AsyncClient) -> None:
    answer = await peer.get("/v1/messages/019ac5a2-7b1e-7cc0-9f6a-2b1d4c3e5f60")
    assert answer.status_code == 200
    assert set(answer.json()) == {"id", "text", "tag", "user_id", "created_at"}


async def test_a_tag_page_is_fifty_messages(peer: httpx.AsyncClient) -> None:
    answer = await peer.get("/v1/messages?tag=tag00001&limit=50")
    assert answer.status_code == 200
    assert len(answer.json()) == PAGE_SIZE == 50


async def test_a_post_is_decoded_and_encoded_back(peer: httpx.AsyncClient) -> None:
    body = {"text": "hello", "tag": "x"}
    answer = await peer.post("/v1/messages", content=json.dumps(body))
    assert answer.status_code == 201
    assert answer.json() == body


def test_every_peer_reference_is_a_peer_scenario_and_every_tagfeed_read_has_one() -> None:
    assert {BY_NAME[name].target for name in PEER_OF.values()} == {PEER}
    tagfeed = {s.name for s in BY_NAME.values() if s.target == "tagfeed"}
    assert tagfeed <= set(PEER_OF)


def test_the_peer_ratio_is_taken_inside_each_sweep() -> None:
    def sample(rps: float) -> Sample:
        return Sample(rps, 1.0, 2.0, 0, 100)

    # Sweep 1 ran on a quiet machine, sweep 2 on a loaded one: each ratio is 0.5.
    summary = summarize("get_by_id", "t", [sample(500), sample(100)], None, None,
                        [sample(1000), sample(200)])  # fmt: skip
    assert summary.ratio_peer == 0.5
