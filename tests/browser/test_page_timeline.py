"""The tag timeline: its empty and loaded states, messages as text, load more."""

import httpx

from tests.browser.browser import Page, unique_tag
from tests.e2e.conftest import Server

PAGE_SIZE = 20  # app.js


def seed(server: Server, tag: str, count: int) -> list[str]:
    """Post ``count`` messages to ``tag`` through the API; their texts, oldest first."""
    texts = [f"seeded {index:03d} of {tag}" for index in range(count)]
    with httpx.Client(base_url=server.base_url, headers={"X-User-ID": "seeder"}) as http:
        for text in texts:
            http.post("/v1/messages", json={"text": text, "tag": tag}).raise_for_status()
    return texts


def test_the_page_starts_by_asking_for_a_tag(page: Page) -> None:
    page.open()
    assert page.driver.title == "tagfeed"
    assert page.el("timeline-status").text == "Enter a tag to see its messages, newest first."
    assert page.el("timeline-status").get_attribute("data-state") == "idle"
    assert page.message_texts() == []
    assert not page.el("more").is_displayed()


def test_a_slow_answer_shows_the_loading_state(page: Page) -> None:
    tag = unique_tag()
    page.stub_json("/v1/messages", None)
    page.stub_json("/v1/messages/counts", None)
    page.open()
    page.fill("tag", tag)
    page.el("show").click()
    page.wait_state("timeline-status", "loading")
    assert page.el("timeline-status").text == f"Loading messages for #{tag}…"
    page.wait_state("counts-status", "loading")
    assert page.el("counts-status").text == "Counting…"


def test_a_tag_without_messages_says_so(page: Page) -> None:
    tag = unique_tag()
    page.open()
    page.show(tag)
    page.wait_state("timeline-status", "empty")
    assert page.el("timeline-status").text == f"No messages for #{tag} in this period yet."
    assert not page.el("more").is_displayed()


def test_load_more_follows_the_cursor_to_the_last_page(page: Page, page_server: Server) -> None:
    tag = unique_tag()
    texts = seed(page_server, tag, 2 * PAGE_SIZE + 5)
    page.open()
    page.show(tag)
    newest_first = texts[::-1]
    assert page.message_texts() == newest_first[:PAGE_SIZE]
    assert "more are older" in page.el("timeline-status").text

    page.el("more").click()
    page.wait(lambda: len(page.message_texts()) == 2 * PAGE_SIZE, "the second page")
    assert page.el("more").is_displayed()

    page.el("more").click()
    page.wait(lambda: not page.el("more").is_displayed(), "the last page")
    assert page.message_texts() == newest_first
    assert page.el("timeline-status").text == f"45 messages for #{tag}, newest first."


def test_a_refused_query_shows_the_servers_detail(page: Page) -> None:
    page.open()
    page.show("no!such")
    page.wait_state("timeline-status", "error")
    assert page.el("timeline-status").text.startswith("Could not load the messages: tag:")


def test_without_an_identity_the_page_says_what_to_enter(page: Page) -> None:
    page.open(user=None)
    page.show(unique_tag())
    page.wait_state("timeline-status", "error")
    assert "Enter a user ID at the top of the page" in page.el("timeline-status").text
