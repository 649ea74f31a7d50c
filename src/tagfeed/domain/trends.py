"""Trending tags as the API answers them: a window by name, and a tag's place in it.

The score and its reasons are in ``tagfeed.reducers.trending`` (and docs/api.md); this
module holds what a reader needs, and the one check of a ``window`` parameter.
"""

from dataclasses import dataclass
from datetime import datetime

from tagfeed.domain.errors import InvalidInput

WINDOW_NAMES = ("1h", "24h", "7d")
WINDOW_HOURS = {"1h": 1, "24h": 24, "7d": 168}
DEFAULT_WINDOW = "24h"


@dataclass(frozen=True, slots=True)
class Trend:
    tag: str
    count: int  # uses in the window
    expected: float  # uses its usual rate predicts for the window (at least 1)
    score: float  # (count - expected)^2 / expected


@dataclass(frozen=True, slots=True)
class Trending:
    """The first tags of a window by score; ``start``/``end`` bound the window (whole
    UTC hours, ``end`` after the view's newest post), None before any post."""

    window: str
    start: datetime | None
    end: datetime | None
    tags: list[Trend]


def parse_window(raw: str | None) -> str:
    if raw is None:
        return DEFAULT_WINDOW
    if raw not in WINDOW_HOURS:
        raise InvalidInput("window", f"must be one of {', '.join(WINDOW_NAMES)}, got {raw!r}")
    return raw
