"""Trending tags: read from the view the ``trending`` catch-up reducer keeps."""

from datetime import UTC, datetime, timedelta

from tagfeed.domain.trends import WINDOW_HOURS, Trending
from tagfeed.store.port import Store

HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TrendService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def trending(self, window: str, limit: int) -> Trending:
        """The first ``limit`` tags of ``window`` (a name of WINDOW_HOURS) by score."""
        hours = WINDOW_HOURS[window]
        clock, trends = await self._store.trending(hours, limit)
        if clock is None:
            return Trending(window, None, None, [])
        end = EPOCH + (clock + 1) * HOUR
        return Trending(window, end - hours * HOUR, end, trends)
