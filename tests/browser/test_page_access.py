"""Keyboard, screen readers and small screens: posting with the keyboard alone in a
sensible focus order, visible focus, text contrast of at least 4.5:1, and a page that
fits 360 px."""

from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from tests.browser.browser import Page, unique_tag

CONTRAST_SCRIPT = (Path(__file__).parent / "contrast.js").read_text(encoding="utf-8")


def press(page: Page, *keys: str) -> None:
    ActionChains(page.driver).send_keys(*keys).perform()


def focused(page: Page) -> str:
    return str(page.js("const e = document.activeElement; return e.id || e.className"))


def test_posting_works_with_the_keyboard_alone_in_reading_order(page: Page) -> None:
    tag = unique_tag()
    page.open(user=None)
    press(page, Keys.TAB)
    assert focused(page) == "skip"
    press(page, Keys.TAB)
    assert focused(page) == "user-id"
    outline = page.js("return getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    press(page, "kbd", Keys.TAB)
    assert focused(page) == "tag"
    press(page, tag, Keys.ENTER)  # Enter in the tag field shows its timeline
    page.wait_state("timeline-status", "empty")

    order: list[str] = []
    for _ in range(20):  # the date fields hold several stops each
        press(page, Keys.TAB)
        if not order or order[-1] != focused(page):
            order.append(focused(page))
        if focused(page) == "text":
            break
    assert order == ["date-start", "date-end", "show", "text"]
    press(page, "typed, never clicked", Keys.TAB)
    assert focused(page) == "post"
    press(page, Keys.ENTER)
    page.wait_first_message("typed, never clicked")
    assert page.all("#messages .user")[0].text == "kbd"


def test_the_skip_link_moves_focus_to_the_timeline(page: Page) -> None:
    page.open()
    press(page, Keys.TAB, Keys.ENTER)
    assert focused(page) == "timeline-heading"


def show_every_state(page: Page) -> None:
    """A timeline with a message, a refused post (a field's error state) and counts."""
    page.show(unique_tag())
    page.post("a message")
    page.wait_first_message("a message")
    page.post(" ")  # a refusal: the error state of a field
    page.wait(lambda: page.el("text-error").is_displayed(), "the refusal")


def test_text_contrast_is_at_least_4_5_to_1_when_live_with_trending_tags(page: Page) -> None:
    trending = [{"tag": "lantern", "count": 40, "expected": 1.0, "score": 1521.0}]
    page.stub_json("/v1/tags/trending", {"window": "24h", "start": "", "end": "", "tags": trending})
    page.open()
    show_every_state(page)
    page.wait_state("trending-status", "ready")
    page.wait_state("live", "open")  # the real stream
    assert page.js(CONTRAST_SCRIPT) == []


def test_text_contrast_is_at_least_4_5_to_1_when_live_and_trending_are_unavailable(
    page: Page,
) -> None:
    page.stub_missing("/v1/messages/stream")
    page.stub_missing("/v1/tags/trending")
    page.open()
    show_every_state(page)
    page.wait_state("trending-status", "unavailable")
    page.wait_state("live", "unavailable")
    assert page.js(CONTRAST_SCRIPT) == []


def test_the_page_fits_a_phone_width_screen(page: Page) -> None:
    page.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": True},
    )
    page.open()
    page.show(unique_tag())
    page.post("a rather long message that has to wrap on a narrow screen " * 3)
    page.wait(lambda: page.message_texts(), "the message")
    assert page.js("return document.documentElement.scrollWidth") <= 360
    for element_id in ("user-id", "tag", "date-start", "date-end", "show", "text", "post"):
        box = page.el(element_id).rect
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 360, element_id
