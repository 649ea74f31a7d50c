"""Remake docs/page-desktop.png and docs/page-phone.png: a server on a temporary SQLite
file holding a week of made-up messages (seeded, so the pictures only change when the
page does), photographed by the same Chromium as the tests.

    .venv/bin/python -m tests.browser.screenshots
"""

import json
import os
import random
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.browser.browser import WAIT_SECONDS, Page, launch
from tests.e2e.conftest import TAGFEED, start_server, stop_server

DOCS = Path(__file__).parents[2] / "docs"
TAG = "philo-timo"
USERS = ("ada", "grace", "linus", "barbara", "ken")
WORDS = (
    "Friendship is the philotimo of strangers",
    "Read Kazantzakis on the ferry this morning",
    "Is hospitality a duty or a joy?",
    "Small kindness, big ripple",
    "Somebody left fresh figs at the office door",
    "The neighbour fixed my bike without being asked",
    "Doing the right thing when nobody watches",
    "Coffee first, philosophy second",
)


def week_of_messages(now: datetime) -> list[dict[str, str]]:
    """About 250 messages over the last 7 days, busier in the daytime and midweek."""
    chance = random.Random(11)  # seeded: the same pictures until the page changes
    lines = []
    for hour in range(7 * 24):
        at = now - timedelta(hours=hour)
        busy = 2.2 if 8 <= at.hour <= 20 else 0.4
        busy *= 1.6 if at.weekday() in (1, 2, 3) else 1.0
        for _ in range(int(chance.expovariate(1 / busy))):
            created = at - timedelta(minutes=chance.uniform(0, 59))
            lines.append(
                {
                    "text": chance.choice(WORDS),
                    "tag": TAG,
                    "user_id": chance.choice(USERS),
                    "created_at": created.isoformat().replace("+00:00", "Z"),
                }
            )
    return lines


# Tags that burst in the last hours (uses, over how many hours), so trending has a list.
BURSTS = {"ferry-strike": (45, 6), "fig-season": (18, 10), "kazantzakis": (9, 20)}


def bursts(now: datetime) -> list[dict[str, str]]:
    chance = random.Random(12)
    lines = []
    for tag, (uses, hours) in BURSTS.items():
        for _ in range(uses):
            created = now - timedelta(minutes=chance.uniform(1, hours * 60))
            lines.append(
                {
                    "text": f"#{tag}: {chance.choice(WORDS).lower()}",
                    "tag": tag,
                    "user_id": chance.choice(USERS),
                    "created_at": created.isoformat().replace("+00:00", "Z"),
                }
            )
    return lines


def wait_for_trending(base_url: str) -> None:
    """The trending view is a catch-up reducer's: wait until it has folded the import."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        body = httpx.get(
            f"{base_url}/v1/tags/trending", headers={"X-User-ID": "ada"}, timeout=10
        ).json()
        if len(body["tags"]) >= len(BURSTS):
            return
        time.sleep(0.2)
    raise RuntimeError(f"trending did not list the bursts: {body}")


def photograph(page: Page, path: Path, width: int, height: int, live: str | None) -> None:
    """``live``: a message posted by another client once the page is open, to be seen
    arriving (the next photograph finds it already in the timeline)."""
    page.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    page.open(user="ada", hash_=f"#tag={TAG}")
    page.wait_state("timeline-status", "ready")
    page.wait(lambda: page.el("chart").is_displayed(), "the chart")
    page.wait_state("trending-status", "ready")
    page.wait_state("live", "open")
    if live is not None:
        httpx.post(
            f"{page.base_url}/v1/messages",
            json={"text": live, "tag": TAG},
            headers={"X-User-ID": "grace"},
            timeout=10,
        ).raise_for_status()
        page.wait_first_message(live)
    time.sleep(0.5)  # let the last paint settle
    page.driver.save_screenshot(str(path))
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/tagfeed.db"
        source = Path(tmp) / "week.jsonl"
        now = datetime.now(UTC)
        messages = week_of_messages(now) + bursts(now)
        source.write_text("".join(json.dumps(line) + "\n" for line in messages))
        subprocess.run(
            [TAGFEED, "import", str(source)],
            env={**os.environ, "TAGFEED_DATABASE_URL": url},
            check=True,
            capture_output=True,
        )
        server = start_server(url, Path(tmp) / "server.log")
        wait_for_trending(server.base_url)
        driver = launch(time_zone="Europe/Athens")
        try:
            page = Page(driver, server.base_url)
            live = "Just arrived, live: the figs were from the neighbour"
            photograph(page, DOCS / "page-desktop.png", 1280, 1000, live)
            photograph(page, DOCS / "page-phone.png", 360, 1400, None)
        finally:
            driver.quit()
            stop_server(server)


if __name__ == "__main__":
    main()
