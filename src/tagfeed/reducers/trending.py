"""The trending view, kept by a catch-up reducer: which tags are used more than usual.

The score, after Mastodon (``app/models/trends/tags.rb``): a tag's uses in the window
are *observed* (O); its *expected* uses (E) are its own rate over a longer baseline just
before the window, scaled to the window's length, and at least 1 (a tag never seen
before is expected once). With uses arriving as a Poisson process of rate E, O - E has
variance E, so

    score = (O - E)^2 / E     when O > E and O >= MIN_USES, else 0

is the squared z-score of the surprise: 30 uses where 10 were expected (score 40) rank
above 1,100 where 1,000 were (score 10), and a tag as busy as usual scores 0, however
busy. MIN_USES keeps one-off tags out (two uses of a new tag are not a trend).

Time is counted in whole UTC hours, on the view's own clock: the hour of the newest
``created_at`` folded so far (so the view is a pure fold of the log: rebuilding it gives
the same answer). The window is that hour (so far) and the W - 1 before it; the baseline
the B hours before the window. Between two hours a tag's score changes only with its
own posts; when the clock moves on, the hours leaving the window join the baseline.

The fold only counts posts per (tag, hour); the adapters keep those counts for the
horizon (``HORIZON_HOURS``) and the per-window sums and scores, in SQL (``SCORE_SQL``).
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from tagfeed.domain.events import MessagePosted
from tagfeed.domain.trends import WINDOW_HOURS
from tagfeed.reducers import Reducer, Tagged, tagged

NAME = "trending"
HOUR_MICROS = 3_600_000_000
MIN_USES = 5


@dataclass(frozen=True, slots=True)
class Window:
    name: str  # as the API takes it
    hours: int  # W
    baseline_hours: int  # B: the usual rate is measured over these, just before


# The baseline of each window of the API (``domain/trends.py`` names them and their hours).
BASELINE_HOURS = {"1h": 7 * 24, "24h": 7 * 24, "7d": 28 * 24}  # the week(s) before
WINDOWS = {name: Window(name, hours, BASELINE_HOURS[name]) for name, hours in WINDOW_HOURS.items()}
# Posts older than this (before the longest baseline) no longer matter.
HORIZON_HOURS = max(w.hours + w.baseline_hours for w in WINDOWS.values())

# (tag, hour since the epoch) -> posts
HourCounts = Counter[tuple[str, int]]


def hour_of(micros: int) -> int:
    return micros // HOUR_MICROS  # floor, also before 1970


def fold_tagged(messages: Iterable[Tagged]) -> HourCounts:
    """Posts per (tag, UTC hour): one entry per distinct pair met. The adapters keep only
    the hours within the horizon of the newest; a rebuild folds the log in parts of
    millions of events and scores the windows once a part, which leaves the view as
    folding it batch by batch does."""
    return Counter((tag, hour_of(micros)) for tag, micros in messages)


def fold(events: Iterable[MessagePosted]) -> HourCounts:
    return fold_tagged(tagged(events))


def expected(baseline: int, window: Window) -> float:
    """The uses a tag's usual rate predicts for the window: at least 1."""
    return max(baseline * window.hours / window.baseline_hours, 1.0)


def score(observed: int, baseline: int, window: Window) -> float:
    e = expected(baseline, window)
    if observed < MIN_USES or observed <= e:
        return 0.0
    return (observed - e) ** 2 / e


# The same two rules in SQL, for the adapters (``{w}`` and ``{b}``: the window's W and B;
# ``{observed}`` and ``{baseline}``: the expressions that hold them, columns by default);
# the same text on SQLite and PostgreSQL.
EXPECTED_SQL = "(CASE WHEN {baseline} * {w} > {b} THEN {baseline} * {w} * 1.0 / {b} ELSE 1.0 END)"
SCORE_SQL = (
    "(CASE WHEN {observed} < {min} OR {observed} <= {e} THEN 0.0"
    " ELSE ({observed} - {e}) * ({observed} - {e}) / {e} END)"
)


def expected_sql(window: Window, baseline: str = "baseline") -> str:
    return EXPECTED_SQL.format(w=window.hours, b=window.baseline_hours, baseline=baseline)


def score_sql(window: Window, observed: str = "observed", baseline: str = "baseline") -> str:
    return SCORE_SQL.format(min=MIN_USES, e=expected_sql(window, baseline), observed=observed)


REDUCER = Reducer(NAME, fold, fold_tagged)
