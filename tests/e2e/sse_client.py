"""A real SSE client for the e2e tests: httpx streaming, events parsed as the SSE format
has them (``id:``, ``event:``, ``data:`` lines up to a blank line; ``:`` comments kept)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

USER = {"X-User-ID": "streamer"}


@dataclass
class Event:
    id: str = ""
    event: str = ""
    data: list[str] = field(default_factory=list)


@dataclass
class Reader:
    """An SSE client's view of one stream: the events and comments so far."""

    response: httpx.Response
    lines: AsyncIterator[str]
    comments: list[str] = field(default_factory=list)

    async def next_event(self, within: float = 10) -> Event:
        event = Event()
        async with asyncio.timeout(within):
            async for line in self.lines:
                if not line:
                    if event.data:
                        return event
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if not name:
                    self.comments.append(value)
                elif name == "data":
                    event.data.append(value)
                elif name in ("id", "event"):
                    setattr(event, name, value)
        raise EOFError("the stream ended")


@asynccontextmanager
async def stream(
    http: httpx.AsyncClient, query: str = "", headers: dict[str, str] | None = None
) -> AsyncIterator[Reader]:
    """``GET /v1/messages/stream{query}`` as user ``streamer``; asserts the 200."""
    async with http.stream(
        "GET", f"/v1/messages/stream{query}", headers={**USER, **(headers or {})}
    ) as response:
        assert response.status_code == 200, await response.aread()
        yield Reader(response, response.aiter_lines())
