"""A live stream's client for the chaos run: it follows one tag through the gateway and,
whatever happens to the cluster, resumes with ``Last-Event-ID`` as a browser's
``EventSource`` would, so that afterwards it can be checked to have received every post
of its tag exactly once, in log order (docs/api.md, "GET /v1/messages/stream")."""

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field

import httpx

# Longer than the stream's heartbeat (15 s): a quiet stream is not a dead one.
READ_TIMEOUT = 30.0
RECONNECT_PAUSE = 0.5


@dataclass
class StreamClient:
    client: httpx.AsyncClient
    token: str
    tag: str
    after: int  # the position it starts after: no post of its tag comes before it
    received: list[tuple[int, str]] = field(default_factory=list)  # (position, message id)
    times: list[float] = field(default_factory=list)  # when each arrived (monotonic)
    connects: int = 0
    refused: int = 0  # attempts answered other than 200 (503 while the log is unreadable)

    async def follow(self, stop: asyncio.Event) -> None:
        """Read, reconnect, read again, until ``stop`` is set."""
        while not stop.is_set():
            last = self.received[-1][0] if self.received else self.after
            headers = {"Authorization": f"Bearer {self.token}", "Last-Event-ID": str(last)}
            try:
                async with self.client.stream(
                    "GET",
                    "/v1/messages/stream",
                    params={"tag": self.tag},
                    headers=headers,
                    timeout=httpx.Timeout(5, read=READ_TIMEOUT),
                ) as response:
                    self.connects += 1
                    if response.status_code != 200:
                        self.refused += 1
                    else:
                        await self._read(response, stop)
            except httpx.HTTPError:
                pass
            if not stop.is_set():
                await asyncio.sleep(RECONNECT_PAUSE)

    async def _read(self, response: httpx.Response, stop: asyncio.Event) -> None:
        position: int | None = None
        data: list[str] = []
        async for line in response.aiter_lines():
            if line.startswith("id:"):
                position = int(line[3:].strip())
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "":
                if position is not None and data:
                    message = json.loads("\n".join(data))
                    self.received.append((position, message["id"]))
                    self.times.append(time.monotonic())
                position, data = None, []
            if stop.is_set():
                return

    def check(self, stored: set[str]) -> dict[str, object]:
        """Against the ids of the tag's stored posts: what is missing, what came twice,
        whether positions only grew."""
        ids = [message_id for _, message_id in self.received]
        positions = [position for position, _ in self.received]
        return {
            "received": len(ids),
            "missing": len(stored - set(ids)),
            "duplicates": len(ids) - len(set(ids)),
            "unexpected": len(set(ids) - stored),
            "in_order": all(a < b for a, b in itertools.pairwise(positions)),
            "connects": self.connects,
            "refused": self.refused,
        }

    def gap(self, since: float, until: float) -> float:
        """The longest stretch in [since, until] without an event received."""
        points = [since, *sorted(t for t in self.times if since <= t <= until), until]
        return max(b - a for a, b in itertools.pairwise(points))


async def caught_up(streams: list[StreamClient], stored: set[str], within: float) -> None:
    """Wait until every stream has received every stored id (or ``within`` passes)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(stored <= {i for _, i in s.received} for s in streams):
            return
        await asyncio.sleep(0.25)
