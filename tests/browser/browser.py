"""Debian's Chromium driven through Debian's chromium-driver (Selenium), and the page as
a person uses it: fields found by their labels' ids, clicks, typing, waiting for text.

Selenium rather than Playwright: chromedriver comes from the same Debian source package
as the browser, so the two always match, and nothing downloads a browser or a Node.js
driver; Playwright pins a protocol client to its own Chromium build instead.
"""

import json
import secrets
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# A zone with a half-hour offset: an hour bucket that starts at the browser's midnight is
# clipped, so a page that sent local times as UTC (or the reverse) shows the wrong bars.
TIME_ZONE = "Asia/Kolkata"
WAIT_SECONDS = 20  # generous: the machine is shared with other test runs
CHROMIUM_FLAGS = (
    "--no-sandbox",  # CI runs as root
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--lang=en-US",  # dates as the tests expect them: "Dec 1, 2026, 4:32 PM"
)

STREAM_STUB = (Path(__file__).parent / "stream_stub.js").read_text(encoding="utf-8")
JSON_STUB = (Path(__file__).parent / "json_stub.js").read_text(encoding="utf-8")
STREAM_SPY = (Path(__file__).parent / "stream_spy.js").read_text(encoding="utf-8")

T = TypeVar("T")


def missing_tools() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    absent = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if absent:
        return (
            f"{' and '.join(absent)} missing: apt-get install -y chromium chromium-driver"
            " (CI installs them; see docs/page.md)"
        )
    return None


def launch(width: int = 1280, height: int = 900, time_zone: str = TIME_ZONE) -> WebDriver:
    """A fresh Chromium with its own profile, in ``time_zone``, logging its console."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='tagfeed-chromium-')}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), env={"TZ": time_zone})
    return webdriver.Chrome(service=service, options=options)


def page_errors(driver: WebDriver) -> list[str]:
    """Console errors other than failed requests (which the tests cause on purpose):
    script exceptions and Content-Security-Policy violations."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [
        entry["message"]
        for entry in entries
        if entry["level"] == "SEVERE" and entry.get("source") != "network"
    ]


def unique_tag() -> str:
    return f"t{secrets.token_hex(5)}"


class Page:
    """The tagfeed page in one browser tab."""

    def __init__(self, driver: WebDriver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url

    # -- finding and waiting -----------------------------------------------------------

    def el(self, element_id: str) -> WebElement:
        return self.driver.find_element(By.ID, element_id)

    def all(self, selector: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def wait(self, condition: Callable[[], T | bool | None], what: str) -> T:
        def check(_: WebDriver) -> Any:
            try:
                return condition() or False
            except StaleElementReferenceException:
                return False

        result: T = WebDriverWait(self.driver, WAIT_SECONDS, poll_frequency=0.1).until(
            check, f"waited {WAIT_SECONDS} s for {what}"
        )
        return result

    def wait_text(self, element_id: str, contains: str) -> str:
        return self.wait(
            lambda: (text := self.el(element_id).text) and contains in text and text,
            f"#{element_id} to say {contains!r} (it says {self.el(element_id).text!r})",
        )

    def wait_state(self, element_id: str, state: str) -> None:
        self.wait(
            lambda: self.el(element_id).get_attribute("data-state") == state,
            f"#{element_id} to be {state!r}",
        )

    def js(self, script: str, *args: object) -> Any:
        return self.driver.execute_script(script, *args)

    # -- what a person does ------------------------------------------------------------

    def open(self, user: str | None = "alice", hash_: str = "") -> None:
        """Load the page; with ``user``, as someone who typed that user id before."""
        self.driver.get(f"{self.base_url}/")
        if user is not None:
            self.js("localStorage.setItem('tagfeed.user-id', arguments[0])", user)
        self.driver.get(f"{self.base_url}/{hash_}")
        self.driver.refresh()  # a new hash alone does not reload the page
        self.wait(lambda: self.el("zone-name").text, "the page's script to start")

    def fill(self, element_id: str, text: str) -> None:
        field = self.el(element_id)
        field.clear()
        field.send_keys(text)

    def set_period(self, start: str, end: str) -> None:
        """Set the From and To fields (datetime-local values, the browser's wall clock)."""
        for element_id, value in (("date-start", start), ("date-end", end)):
            self.js(
                "arguments[0].value = arguments[1];"
                "arguments[0].dispatchEvent(new Event('input', {bubbles: true}))",
                self.el(element_id),
                value,
            )

    def show(self, tag: str) -> None:
        self.fill("tag", tag)
        self.el("show").click()
        self.wait(
            lambda: (
                self.el("timeline-status").get_attribute("data-state")
                in ("ready", "empty", "error")
            ),
            f"the timeline of #{tag}",
        )

    def post(self, text: str) -> None:
        self.fill("text", text)
        self.el("post").click()

    def message_texts(self) -> list[str]:
        return [item.text for item in self.all("#messages .message .text")]

    def wait_first_message(self, text: str) -> None:
        self.wait(
            lambda: self.message_texts()[:1] == [text],
            f"{text!r} at the top of the timeline (it shows {self.message_texts()[:3]!r})",
        )

    def stub_stream(
        self, events: Sequence[tuple[str, Mapping[str, object]]], close: bool = False
    ) -> None:
        """Before the next load, answer ``/v1/messages/stream`` in this tab with an SSE body
        sending ``events`` (id, message) framed as docs/api.md says the real one does, then
        staying open as it does (or, with ``close``, ending as a dropped connection does);
        each request's URL and headers are kept in ``window.streamRequests``."""
        body = ": heartbeat\n\n" + "".join(
            f"id: {id_}\nevent: message\ndata: {json.dumps(message)}\n\n" for id_, message in events
        )
        source = STREAM_STUB.replace("BODY", json.dumps(body)).replace("CLOSE", json.dumps(close))
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})

    def stub_json(self, path: str, body: object, status: int = 200) -> None:
        """Before the next load, answer ``GET path`` in this tab with ``body`` as JSON, or
        never when ``body`` is None (a server that is slow to answer)."""
        text = "null" if body is None else json.dumps(json.dumps(body))
        source = JSON_STUB.replace("PATH", json.dumps(path)).replace("BODY", text)
        source = source.replace("STATUS", str(status))
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})

    def stub_missing(self, path: str) -> None:
        """Before the next load, answer ``GET path`` in this tab with a 404 problem, as a
        server without that endpoint (an older tagfeed) does."""
        problem = {"type": "/problems/not-found", "status": 404, "detail": f"no route {path}"}
        self.stub_json(path, problem, status=404)

    def spy_stream(self) -> None:
        """Before the next load, keep the page's requests to the real stream in
        ``window.streamRequests`` and let ``window.dropStream()`` cut the open one."""
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": STREAM_SPY})

    def drop_stream(self) -> None:
        self.js("window.dropStream()")
