"""The live stream and trending tags: against the real server (messages posted by
another client arrive live, once, across a reconnection; a tag that bursts trends and
links to its timeline), and against stand-ins injected into the browser for what the
real server does not do on demand: answer 404 (an older tagfeed without the endpoints),
or send a stream split mid-line with a repeated event."""

import re
import time
from typing import Any

import httpx

from tests.browser.browser import WAIT_SECONDS, Page, unique_tag


def post_as(page: Page, user: str, tag: str, text: str) -> dict[str, Any]:
    """Post through the API as another client of the same server would."""
    response = httpx.post(
        f"{page.base_url}/v1/messages",
        json={"text": text, "tag": tag},
        headers={"X-User-ID": user},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_live_updates_say_they_are_unavailable_when_the_stream_is_404(page: Page) -> None:
    page.stub_missing("/v1/messages/stream")
    page.open()
    assert page.el("live").get_attribute("data-state") == "idle"
    page.show(unique_tag())
    page.wait_state("live", "unavailable")
    assert page.el("live").text == "Live updates unavailable: this server has no stream"


def test_a_message_posted_by_another_client_arrives_live_and_only_for_its_tag(
    page: Page,
) -> None:
    tag, other = unique_tag(), unique_tag()
    page.open()
    page.show(tag)
    page.wait_state("live", "open")
    post_as(page, "bob", other, "for the other tag")
    post_as(page, "bob", tag, "arrived live")
    page.wait_first_message("arrived live")
    post_as(page, "bob", other, "for the other tag again")
    post_as(page, "bob", tag, "arrived live too")
    page.wait_first_message("arrived live too")
    assert page.message_texts() == ["arrived live too", "arrived live"]
    assert [user.text for user in page.all("#messages .user")] == ["bob", "bob"]
    assert page.el("timeline-status").text == f"2 messages for #{tag}, newest first."


def test_after_a_reconnection_every_message_is_shown_once(page: Page) -> None:
    tag = unique_tag()
    page.spy_stream()
    page.open()
    page.show(tag)
    page.wait_state("live", "open")
    page.post("mine")  # shown from the POST's answer, then sent again by the stream
    page.wait_first_message("mine")
    post_as(page, "bob", tag, "before the drop")
    page.wait_first_message("before the drop")
    page.drop_stream()
    page.wait_state("live", "retrying")
    post_as(page, "bob", tag, "while away")  # only a resume from the last id brings it
    page.wait(lambda: len(page.js("return window.streamRequests")) >= 2, "a reconnection")
    page.wait_state("live", "open")
    page.wait_first_message("while away")
    post_as(page, "bob", tag, "after the return")
    page.wait_first_message("after the return")
    assert page.message_texts() == ["after the return", "while away", "before the drop", "mine"]
    requests = page.js("return window.streamRequests")
    assert "Last-Event-ID" not in requests[0]["headers"]
    assert requests[1]["headers"]["Last-Event-ID"].isdigit()
    # still after the timeline's position: Last-Event-ID wins over it on the server
    assert re.fullmatch(rf"/v1/messages/stream\?tag={tag}&after=\d+", requests[1]["url"])


def test_live_updates_are_off_for_a_period_in_the_past(page: Page) -> None:
    page.open()
    page.set_period("2026-01-01T00:00", "2026-01-02T00:00")
    page.show(unique_tag())
    page.wait_state("live", "paused")


def test_streamed_messages_arrive_at_the_top_once(page: Page) -> None:
    tag = unique_tag()

    def message(number: int) -> dict[str, Any]:
        return {
            "id": f"0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f6{number}",
            "text": f"live {number} <i>as text</i>",
            "tag": tag,
            "user_id": "streamer",
            "created_at": f"2026-12-01T10:00:0{number}.000000Z",
        }

    other_tag = {**message(3), "tag": "elsewhere"}
    page.stub_stream([("7", message(1)), ("8", message(2)), ("9", other_tag), ("8", message(2))])
    page.open()
    page.show(tag)
    page.wait_state("live", "open")
    page.wait_first_message("live 2 <i>as text</i>")
    assert page.message_texts() == ["live 2 <i>as text</i>", "live 1 <i>as text</i>"]
    requests = page.js("return window.streamRequests")
    # after the position the timeline's read reflected: nothing posted meanwhile is missed
    assert re.fullmatch(rf"/v1/messages/stream\?tag={tag}&after=\d+", requests[0]["url"])
    assert requests[0]["headers"]["X-User-ID"] == "alice"


def test_a_dropped_stream_reconnects_from_the_last_id(page: Page) -> None:
    tag = unique_tag()
    message = {
        "id": "0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f60",
        "text": "before the drop",
        "tag": tag,
        "user_id": "streamer",
        "created_at": "2026-12-01T10:00:00.000000Z",
    }
    page.stub_stream(
        [("41", {**message, "id": message["id"][:-1] + "1"}), ("42", message)], close=True
    )
    page.open()
    page.show(tag)
    page.wait(lambda: len(page.js("return window.streamRequests")) >= 2, "a reconnection")
    requests = page.js("return window.streamRequests")
    assert "Last-Event-ID" not in requests[0]["headers"]
    assert requests[1]["headers"]["Last-Event-ID"] == "42"
    assert page.message_texts() == ["before the drop", "before the drop"]


def test_at_the_servers_cap_on_streams_live_updates_wait_for_its_retry_after(
    capped_page: Page,
) -> None:
    page = capped_page
    page.spy_stream()
    page.open()
    with (
        httpx.Client(base_url=page.base_url, headers={"X-User-ID": "bob"}) as client,
        client.stream("GET", "/v1/messages/stream", timeout=30) as held,
    ):
        assert held.status_code == 200  # the one stream this server holds
        page.show(unique_tag())
        page.wait(lambda: len(page.js("return window.streamRequests")) >= 1, "a request")
        page.wait_state("live", "retrying")
    page.wait(lambda: len(page.js("return window.streamRequests")) >= 2, "a second request")
    page.wait_state("live", "open")
    first, second = page.js("return window.streamRequests")[:2]
    assert second["at"] - first["at"] >= 5500  # Retry-After: 6, not the 2 s backoff


def test_trending_is_hidden_with_a_note_when_the_server_has_none(page: Page) -> None:
    page.stub_missing("/v1/tags/trending")
    page.open()
    page.wait_state("trending-status", "unavailable")
    assert page.el("trending-status").text == "Trending tags are not available on this server."
    assert not page.el("trending").is_displayed()


def test_a_tag_that_bursts_trends_on_the_real_server_and_links_to_its_timeline(
    page: Page,
) -> None:
    tag = unique_tag()
    burst = 7  # the score lists a tag from 5 uses in its window
    for number in range(burst):
        post_as(page, "bob", tag, f"burst {number}")
    # The trending view is a catch-up reducer's: wait (bounded) until the API has folded
    # the whole burst (it may list the tag at 5 uses while still catching up).
    deadline = time.monotonic() + WAIT_SECONDS
    listed: dict[str, Any] = {}
    while listed.get("count") != burst and time.monotonic() < deadline:
        body = httpx.get(
            f"{page.base_url}/v1/tags/trending",
            params={"window": "24h", "limit": 10},
            headers={"X-User-ID": "alice"},
            timeout=10,
        ).json()
        listed = next((entry for entry in body["tags"] if entry["tag"] == tag), {})
        time.sleep(0.2)
    assert listed["count"] == burst, body

    page.open()
    page.wait_state("trending-status", "ready")
    links = page.all("#trending a")
    assert f"#{tag}" in [link.text for link in links]
    item = next(link for link in links if link.text == f"#{tag}")
    count = item.find_element("xpath", "following-sibling::*[@class='count']")
    assert count.text == str(burst)
    item.click()
    page.wait_text("compose-tag", f"#{tag}")
    page.wait_state("timeline-status", "ready")
    assert page.el("tag").get_attribute("value") == tag
    assert page.message_texts() == [f"burst {number}" for number in reversed(range(burst))]


def test_trending_tags_link_to_their_timelines(page: Page) -> None:
    tag = unique_tag()
    entries = [
        {"tag": tag, "count": 1200, "expected": 30.0, "score": 46830.0},
        {"tag": "<b>x</b>", "count": 5, "expected": 1.0, "score": 16.0},
    ]
    page.stub_json(
        "/v1/tags/trending",
        {
            "window": "24h",
            "start": "2026-11-30T14:00:00.000000Z",
            "end": "2026-12-01T13:10:00.000000Z",
            "tags": entries,
        },
    )
    page.open()
    page.wait_state("trending-status", "ready")
    links = page.all("#trending a")
    assert [link.text for link in links] == [f"#{tag}", "#<b>x</b>"]
    assert [item.text for item in page.all("#trending .count")] == ["1,200", "5"]
    links[0].click()
    page.wait_text("compose-tag", f"#{tag}")
    page.wait_state("timeline-status", "empty")
    assert page.el("tag").get_attribute("value") == tag
