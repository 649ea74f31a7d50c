"""The counts view: how many messages each tag (and every tag, ``ALL_TAGS``) got in each
UTC hour and day. This is the one place where a message's counter increment is written:
the write path, the import, catch-up and rebuild all fold through ``fold_micros``.

Each message adds 1 to four counters: its tag's hour and day, and the hour and day of
every tag. A batch is first counted per (tag, hour) — one dict update per message, in
C — and only the distinct pairs are spread over the other three counters, so the cost
per message stays small (the import folds a million messages a second this way).
"""

from collections import Counter
from collections.abc import Iterable

from tagfeed.domain.counting import ALL_TAGS
from tagfeed.domain.events import MessagePosted
from tagfeed.reducers import Reducer, Tagged, tagged

NAME = "counts"
HOUR_SECONDS = 3600
DAY_SECONDS = 86_400
HOUR_MICROS = HOUR_SECONDS * 1_000_000
DAY_MICROS = DAY_SECONDS * 1_000_000

# (tag or ALL_TAGS, span in seconds, start in microseconds since the epoch, increment)
CounterRow = tuple[str, int, int, int]


def fold_micros(tagged_micros: Iterable[Tagged]) -> list[CounterRow]:
    """The counter increments of messages given as (tag, created_at in microseconds since
    the epoch): one row per counter, in no particular order. Holds one entry per
    distinct (tag, hour) while it reads ``tagged_micros``, never the messages.

    Starts are floored with Python's ``%``, never negative for a positive divisor, so
    instants before 1970 land in the right hour and day too.
    """
    per_hour = Counter((tag, micros - micros % HOUR_MICROS) for tag, micros in tagged_micros)
    per_day: dict[tuple[str, int], int] = {}
    all_hours: dict[int, int] = {}
    for (tag, hour), n in per_hour.items():
        day = (tag, hour - hour % DAY_MICROS)
        per_day[day] = per_day.get(day, 0) + n
        all_hours[hour] = all_hours.get(hour, 0) + n
    all_days: dict[int, int] = {}
    for hour, n in all_hours.items():
        day_start = hour - hour % DAY_MICROS
        all_days[day_start] = all_days.get(day_start, 0) + n
    return [
        *[(tag, HOUR_SECONDS, hour, n) for (tag, hour), n in per_hour.items()],
        *[(tag, DAY_SECONDS, day, n) for (tag, day), n in per_day.items()],
        *[(ALL_TAGS, HOUR_SECONDS, hour, n) for hour, n in all_hours.items()],
        *[(ALL_TAGS, DAY_SECONDS, day, n) for day, n in all_days.items()],
    ]


def fold(events: Iterable[MessagePosted]) -> list[CounterRow]:
    """The counter increments of ``events``."""
    return fold_micros(tagged(events))


REDUCER = Reducer(NAME, fold, fold_micros)
