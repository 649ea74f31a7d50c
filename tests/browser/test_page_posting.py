"""Posting: the message appears at the top, as text; a refusal's detail appears next to
the field it names, tied to it for screen readers."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.browser.browser import TIME_ZONE, Page, unique_tag


def test_a_posted_message_appears_at_the_top_as_plain_text(page: Page) -> None:
    tag = unique_tag()
    page.open()
    page.show(tag)
    text = "<img src=x onerror=alert(1)> & <b>not bold</b>"
    page.post(text)
    page.wait_first_message(text)
    assert page.all("#messages img, #messages b") == []
    page.wait_text("post-status", f"Posted to #{tag}.")
    assert page.el("timeline-status").text == f"1 message for #{tag}, newest first."
    page.wait(lambda: page.el("counts-total").text.startswith("1 message"), "the count of 1")


def test_message_times_are_shown_in_the_browsers_zone(page: Page) -> None:
    page.open()
    page.show(unique_tag())
    page.post("what time is it")
    page.wait_first_message("what time is it")
    stamp = page.all("#messages .message time")[0]
    created = datetime.fromisoformat(stamp.get_attribute("datetime") or "")
    local = created.astimezone(ZoneInfo(TIME_ZONE))
    assert f"{local:%-I}:{local:%M}" in stamp.text  # en-US: "Dec 1, 2026, 4:32 PM"
    assert page.el("zone-name").text in (TIME_ZONE, "Asia/Calcutta")  # ICU's older name


def test_posting_to_another_tag_shows_that_tags_timeline(page: Page) -> None:
    first, second = unique_tag(), unique_tag()
    page.open()
    page.show(first)
    page.fill("tag", f"#{second.upper()}")
    page.post("elsewhere")
    page.wait_text("compose-tag", f"#{second}")
    page.wait_first_message("elsewhere")
    assert page.driver.current_url.endswith(f"#tag={second}")


@pytest.mark.parametrize(
    ("field", "tag", "text"),
    [("text", None, "   "), ("tag", "no!pe", "a fine text")],
)
def test_a_refusal_shows_its_detail_next_to_the_field(
    page: Page, field: str, tag: str | None, text: str
) -> None:
    page.open()
    page.show(unique_tag())
    if tag is not None:
        page.fill("tag", tag)
    page.post(text)
    error = page.wait(
        lambda: page.el(f"{field}-error").is_displayed() and page.el(f"{field}-error"),
        f"the detail next to {field}",
    )
    assert error.text.startswith(f"{field}: ")  # the server's problem detail
    control = page.el(field)
    assert control.get_attribute("aria-invalid") == "true"
    assert f"{field}-error" in (control.get_attribute("aria-describedby") or "").split()
    assert page.js("return document.activeElement.id") == field
    assert not page.el("post-error").is_displayed()

    control.send_keys("x")  # editing the field clears the error
    assert not page.el(f"{field}-error").is_displayed()
    assert control.get_attribute("aria-invalid") is None
