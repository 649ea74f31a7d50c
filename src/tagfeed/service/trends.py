"""Trending tags: read from the view the ``trending`` catch-up reducer keeps."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tagfeed.domain.trends import WINDOW_HOURS, Trending
from tagfeed.reducers import trending
from tagfeed.store.port import Store

HOUR = timedelta(hours=1)
# How often a read waiting for the view to reach a position reads its checkpoint (one
# lookup by primary key): the reducer applies new events within milliseconds when the
# log is quiet (``service/reducing.py``, the gather), so a coarser poll would be the wait.
POLL_SECONDS = 0.01
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Renders a ranking as the caller will send it; cached with the position it reflects.
RenderTrending = Callable[[Trending], bytes]


class TrendService:
    def __init__(self, store: Store) -> None:
        self._store = store
        # (window, limit) -> (the view's position, the rendering): a few hundred at most
        # (three windows, the limits a route accepts), so no eviction.
        self._rendered: dict[tuple[str, int], tuple[int, bytes]] = {}

    async def position(self) -> int:
        """The log position the trending view reflects (its reducer's checkpoint)."""
        return await self._store.reducer_checkpoint(trending.NAME)

    async def reach(self, wanted: int, within: float) -> int:
        """The view's position once it reaches ``wanted``, or whatever it is after
        ``within`` seconds. The checkpoint moves by the reducer's commits, which wake
        nothing in this process (the reducer may run in another): it is read again
        every ``POLL_SECONDS``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        position = await self.position()
        while position < wanted and (remaining := deadline - loop.time()) > 0:
            await asyncio.sleep(min(POLL_SECONDS, remaining))
            position = await self.position()
        return position

    async def trending(self, window: str, limit: int) -> Trending:
        """The first ``limit`` tags of ``window`` (a name of WINDOW_HOURS) by score."""
        hours = WINDOW_HOURS[window]
        clock, trends = await self._store.trending(hours, limit)
        if clock is None:
            return Trending(window, None, None, [])
        end = EPOCH + (clock + 1) * HOUR
        return Trending(window, end - hours * HOUR, end, trends)

    async def rendered(
        self, window: str, limit: int, position: int, render: RenderTrending
    ) -> bytes:
        """``render(trending(window, limit))`` for a view at ``position`` (its checkpoint,
        read by the caller first): rendered once per position and kept. The view changes
        only when its reducer commits, which moves the checkpoint with it (a rebuild swaps
        in a view at the head), so the same position means the same ranking; a rendering
        made from a view that had moved on since ``position`` was read reflects at least
        that position, which is all the position header promises. Reading the ranking
        costs three times a lookup by id; a read of the checkpoint costs one."""
        key = (window, limit)
        cached = self._rendered.get(key)
        if cached is not None and cached[0] == position:
            return cached[1]
        body = render(await self.trending(window, limit))
        self._rendered[key] = (position, body)
        return body
