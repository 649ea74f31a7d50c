"""The places for the event-log issue's endpoints: the live stream and trending tags.
The server has neither yet, so the page must say so; the stream client is also run
against a stand-in that speaks the agreed contract (id: position, data: message JSON)."""

from typing import Any

from tests.browser.browser import Page, unique_tag


def test_live_updates_say_they_are_unavailable_when_the_stream_is_404(page: Page) -> None:
    page.open()
    assert page.el("live").get_attribute("data-state") == "idle"
    page.show(unique_tag())
    page.wait_state("live", "unavailable")
    assert page.el("live").text == "Live updates unavailable: this server has no stream yet"


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
    assert requests[0]["url"] == f"/v1/messages/stream?tag={tag}"
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


def test_trending_is_hidden_with_a_note_when_the_server_has_none(page: Page) -> None:
    page.open()
    page.wait_state("trending-status", "unavailable")
    assert page.el("trending-status").text == "Trending tags are not available on this server yet."
    assert not page.el("trending").is_displayed()


def test_trending_tags_link_to_their_timelines(page: Page) -> None:
    tag = unique_tag()
    page.stub_json(
        "/v1/tags/trending",
        {"window": "24h", "tags": [{"tag": tag, "count": 1200}, {"tag": "<b>x</b>", "count": 3}]},
    )
    page.open()
    page.wait_state("trending-status", "ready")
    links = page.all("#trending a")
    assert [link.text for link in links] == [f"#{tag}", "#<b>x</b>"]
    assert [item.text for item in page.all("#trending .count")] == ["1,200", "3"]
    links[0].click()
    page.wait_text("compose-tag", f"#{tag}")
    page.wait_state("timeline-status", "empty")
    assert page.el("tag").get_attribute("value") == tag
