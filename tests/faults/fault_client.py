"""The fault tests' client: concurrent workers posting logical messages, each with its own
``Idempotency-Key``, recording every answer (or the lack of one) with its timing; a retry
phase that re-sends every unanswered message with the same key and body until it gets a
201; and a verifier that reads everything back through the API.

A *logical message* is one thing the client wants stored: one key, one text. Whatever
happens to the server in between, each must end up stored exactly once.
"""

import asyncio
import contextlib
import os
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.e2e.conftest import Server

USER = {"X-User-ID": "faults"}
# Long enough that a hang shows up as a slow answer, not as a client-side timeout.
CLIENT_TIMEOUT = 30.0


@dataclass
class Logical:
    key: str
    text: str
    id: str | None = None  # from its 201, first or replayed
    attempts: int = 0
    replayed: bool = False  # its 201 came from a retry that found it already stored


@dataclass(frozen=True)
class Outcome:
    """One request and what came of it. ``error``: ``refused`` (never connected, so never
    sent), ``dropped`` (sent, but the connection closed without an answer), ``timeout``."""

    kind: str  # POST, GET, READY
    started: float
    ended: float
    status: int | None
    error: str | None
    retry_after: str | None
    cause: str = ""  # the client's exception, for the failure message

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def _error_kind(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    return "dropped"  # RemoteProtocolError, ReadError, WriteError: no answer came


def http_client(base_url: str, connections: int = 32) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers=USER,
        timeout=CLIENT_TIMEOUT,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


class Load:
    """Logical messages with one tag, and the outcome of every request made for them."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.messages: list[Logical] = []
        self.outcomes: list[Outcome] = []
        self.in_flight = 0
        self._run = secrets.token_hex(4)

    def new_message(self) -> Logical:
        n = len(self.messages)
        message = Logical(key=f"{self._run}-{n}", text=f"{self.tag} {self._run} #{n}")
        self.messages.append(message)
        return message

    @property
    def acknowledged(self) -> list[Logical]:
        return [m for m in self.messages if m.id is not None]

    async def request(
        self, client: httpx.AsyncClient, kind: str, method: str, url: str, **kwargs: object
    ) -> tuple[Outcome, httpx.Response | None]:
        started = time.monotonic()
        self.in_flight += 1
        try:
            response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            ended = time.monotonic()
            outcome = Outcome(kind, started, ended, None, _error_kind(exc), None, repr(exc))
            self.outcomes.append(outcome)
            return outcome, None
        finally:
            self.in_flight -= 1
        retry_after = response.headers.get("retry-after")
        outcome = Outcome(kind, started, time.monotonic(), response.status_code, None, retry_after)
        self.outcomes.append(outcome)
        return outcome, response

    async def post(self, client: httpx.AsyncClient, message: Logical) -> Outcome:
        """One attempt; on a 201 the message is acknowledged and gets its id."""
        message.attempts += 1
        outcome, response = await self.request(
            client,
            "POST",
            "POST",
            "/v1/messages",
            json={"text": message.text, "tag": self.tag},
            headers={"Idempotency-Key": message.key},
        )
        if response is not None and response.status_code == 201:
            message.id = response.json()["id"]
            message.replayed = response.headers.get("idempotent-replayed") == "true"
        return outcome

    async def run(
        self,
        base_url: str,
        workers: int,
        stop: asyncio.Event,
        *,
        read_back: bool = False,
        until_refused: bool = False,
    ) -> None:
        """``workers`` loops posting new messages until ``stop`` is set (or, with
        ``until_refused``, until the server refuses connections). ``read_back``: GET each
        acknowledged message at once, so reads are part of the load too."""

        async def worker(client: httpx.AsyncClient) -> None:
            while not stop.is_set():
                message = self.new_message()
                outcome = await self.post(client, message)
                if outcome.error == "refused" and until_refused:
                    return
                if read_back and message.id is not None:
                    await self.request(client, "GET", "GET", f"/v1/messages/{message.id}")
                if outcome.status != 201:
                    await asyncio.sleep(0.05)  # down or refusing: do not spin

        async with http_client(base_url, workers) as client:
            await asyncio.gather(*(worker(client) for _ in range(workers)))

    async def complete(self, base_url: str, deadline: float, concurrency: int = 16) -> None:
        """Retry every message without a 201 (same key, same body) until it gets one or
        ``deadline`` (monotonic) passes. A 201 may be a replay: the first attempt was
        stored after all, its answer lost."""
        pending = [m for m in self.messages if m.id is None]
        gate = asyncio.Semaphore(concurrency)

        async def retry(client: httpx.AsyncClient, message: Logical) -> None:
            async with gate:
                while message.id is None and time.monotonic() < deadline:
                    outcome = await self.post(client, message)
                    if outcome.status not in (201, 409, 503, None):
                        return  # a refusal that retrying cannot fix: verify reports it
                    if message.id is None:
                        await asyncio.sleep(0.05)

        async with http_client(base_url, concurrency) as client:
            await asyncio.gather(*(retry(client, m) for m in pending))


@dataclass
class Verdict:
    """What reading a load's tag back found. ``ok`` only when every logical message is
    stored exactly once, under the id the client was given, and both counts agree."""

    logical: int
    unacknowledged: int  # logical messages that never got a 201, even after retries
    lost: int  # acknowledged, yet GET by id is not 200 with the same text
    duplicates: int  # texts listed more than once
    missing: int  # logical texts not listed
    strangers: int  # listed texts the client never sent
    wrong_ids: int  # listed under another id than the 201 said
    count_list: int  # GET /v1/messages?tag=&count=1
    count_counts: int  # GET /v1/messages/counts?tag=
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def check(self) -> "Verdict":
        for name in ("unacknowledged", "lost", "duplicates", "missing", "strangers", "wrong_ids"):
            if getattr(self, name):
                self.problems.append(f"{name}={getattr(self, name)}")
        for name in ("count_list", "count_counts"):
            if getattr(self, name) != self.logical:
                self.problems.append(f"{name}={getattr(self, name)} != {self.logical}")
        return self


async def walk_tag(client: httpx.AsyncClient, tag: str) -> list[dict[str, str]]:
    """Every message with ``tag``, following ``Link: rel="next"`` (bounded)."""
    listed: list[dict[str, str]] = []
    url: str | None = f"/v1/messages?tag={tag}&limit=1000"
    for _ in range(10_000):
        if url is None:
            return listed
        response = await client.get(url)
        assert response.status_code == 200, response.text
        listed += response.json()
        url = response.links.get("next", {}).get("url")
    raise AssertionError("the walk did not end")


async def verify(base_url: str, load: Load, acknowledged: list[Logical]) -> Verdict:
    """Read ``load`` back: each ``acknowledged`` message by id, the tag's counts, and a
    walk over all the tag's pages."""
    gate = asyncio.Semaphore(16)
    async with http_client(base_url) as client:

        async def readable(message: Logical) -> bool:
            async with gate:
                response = await client.get(f"/v1/messages/{message.id}")
            return response.status_code == 200 and response.json()["text"] == message.text

        found = await asyncio.gather(*(readable(m) for m in acknowledged))
        count = await client.get("/v1/messages", params={"tag": load.tag, "count": "1"})
        counts = await client.get("/v1/messages/counts", params={"tag": load.tag})
        assert count.status_code == counts.status_code == 200, (count.text, counts.text)
        listed = await walk_tag(client, load.tag)
    texts = [m["text"] for m in listed]
    id_of = {m["text"]: m["id"] for m in listed}
    sent = {m.text: m for m in load.messages}
    return Verdict(
        logical=len(load.messages),
        unacknowledged=sum(m.id is None for m in load.messages),
        lost=found.count(False),
        duplicates=len(texts) - len(set(texts)),
        missing=len(sent.keys() - id_of.keys()),
        strangers=len(id_of.keys() - sent.keys()),
        wrong_ids=sum(id_of[t] != m.id for t, m in sent.items() if t in id_of),
        count_list=int(count.json()),
        count_counts=int(counts.json()["total"]),
    ).check()


def _children(parent: int) -> list[int]:
    """The processes whose parent is ``parent``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rpartition(")")[2].split()[1]) == parent:
                    found.append(int(entry.name))
    return found


def kill_server(server: Server) -> None:
    """A crash: SIGKILL to granian's main process and at once to its workers (SIGKILL to
    the main one alone would let each worker shut down gracefully, runtime.stop_with_parent;
    the main one first, so that it cannot replace them), unless it has exited already;
    either way, reap it."""
    if server.process.poll() is None:
        workers = _children(server.process.pid)
        server.process.kill()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    server.process.wait(timeout=10)


async def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True
