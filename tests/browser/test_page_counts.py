"""The counts chart: one bar per bucket the API returns for the chosen period, which the
page sends as RFC 3339 instants read in the browser's time zone."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.browser.browser import TIME_ZONE, Page, unique_tag
from tests.e2e.conftest import Server


@pytest.mark.parametrize(("granularity", "bars"), [("hour", 25), ("day", 2)])
def test_the_chart_draws_one_bar_per_bucket(
    page: Page, page_server: Server, granularity: str, bars: int
) -> None:
    # Today in Asia/Kolkata (UTC+05:30), midnight to midnight, is 18:30Z to 18:30Z: 23
    # whole UTC hours and two half hours, and two clipped UTC days. A page that sent the
    # wall-clock time as UTC would get 24 and 1.
    today = datetime.now(ZoneInfo(TIME_ZONE)).replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = today + timedelta(days=1)
    tag = unique_tag()
    with httpx.Client(base_url=page_server.base_url, headers={"X-User-ID": "seeder"}) as http:
        for text in ("one", "two", "three"):
            http.post("/v1/messages", json={"text": text, "tag": tag}).raise_for_status()
        expected = http.get(
            "/v1/messages/counts",
            params={
                "tag": tag,
                "dateStart": today.isoformat(),
                "dateEnd": tomorrow.isoformat(),
                "granularity": granularity,
            },
        ).json()
    assert len(expected["buckets"]) == bars

    page.open()
    page.js("document.getElementById('granularity').value = arguments[0]", granularity)
    page.set_period(f"{today:%Y-%m-%dT%H:%M}", f"{tomorrow:%Y-%m-%dT%H:%M}")
    page.show(tag)
    page.wait(lambda: page.el("chart").is_displayed(), "the chart")
    drawn = page.all("#chart rect.bar")
    assert len(drawn) == bars
    assert [int(bar.get_attribute("data-count") or -1) for bar in drawn] == [
        bucket["count"] for bucket in expected["buckets"]
    ]
    assert page.el("counts-total").text.startswith("3 messages in #")
    assert len(page.all("#counts-table tbody tr")) == bars


def test_changing_the_granularity_redraws_the_chart(page: Page) -> None:
    page.open()
    page.show(unique_tag())
    page.wait(lambda: page.el("chart").is_displayed(), "the chart")
    page.wait_state("counts-status", "empty")  # a new tag: zero in every bucket
    days = len(page.all("#chart rect.bar"))
    assert days in (7, 8)  # the last 7 days, clipped at both ends unless at midnight UTC
    page.js(
        "const s = document.getElementById('granularity'); s.value = 'hour';"
        "s.dispatchEvent(new Event('change'))"
    )
    page.wait(lambda: len(page.all("#chart rect.bar")) in (168, 169), "168 hourly bars")


def test_a_refused_count_shows_the_servers_detail(page: Page) -> None:
    page.open()
    page.js("document.getElementById('granularity').value = 'hour'")
    page.set_period("2020-01-01T00:00", "2026-01-01T00:00")  # far over 10,080 hours
    page.show(unique_tag())
    page.wait_state("counts-status", "error")
    assert page.el("counts-status").text.startswith("Could not count: granularity:")
    assert not page.el("chart").is_displayed()
