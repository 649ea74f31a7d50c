"""The trending view's tables, and the statements that fold a batch's hour counts into
them: written once, with ``?`` placeholders, for both adapters (PostgreSQL numbers them).

    trending_tags  (window_hours, hour, tag) -> observed, baseline, expected, score, tier:
                   window_hours 1, 24, 168 (hour 0): a tag's sums and score in a window;
                   window_hours -1: ``observed`` = posts of the tag in that hour (since
                   the epoch), kept within the horizon; the row (0, 0, '') holds the
                   view's clock in ``observed`` (``reducers/trending.py``).
                   One table, so that a rebuild makes and swaps one table.

A batch: read the clock; add the batch's counts to the hours (one statement), and to the
window or baseline they fall in, scoring each window row it changes as it writes it (one
statement); move the clock. A batch costs what it touches, not the number of tags, and
one statement per kind of row whatever the batch holds: each adapter passes a
statement's rows as one value (``{rows}``: a JSON array on SQLite, column arrays on
PostgreSQL), not one execution per row (measured on PostgreSQL: ``executemany`` of the
rows made a batch take tens of milliseconds, the lag of ``trending``). When the batch's
newest hour is later than the clock, first move every window on by deltas (the hours
that leave a window join its baseline, those that leave the baseline go), reading only
those hours, and score again the rows that moved (marked).

A GET reads the index on (window_hours, tier DESC): ``tier`` is the score's order of
magnitude, a column the database generates from the score (no statement writes it;
migration 0010: -1 for a marked row, 0 for a score of 0, then one tier per power of
ten), so the ranking is the index's order, then the score within a tier (sorted as read:
PostgreSQL's incremental sort, SQLite's sort of the "right part of the ORDER BY"),
stopping at the limit. The index holds the tier, not the score, so that on PostgreSQL a
post that changes a tag's score but not its tier changes no indexed column and the row
is updated in place (a HOT update: no new entry in either index). Most updates are
those; with the index on the score every window row of every batch took a new entry in
both indexes (docs/performance.md, "Reducer lag, fourth pass").
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from tagfeed.reducers.trending import (
    HORIZON_HOURS,
    WINDOWS,
    HourCounts,
    expected_sql,
    score_sql,
)

TABLE = "trending_tags"


HOURS = -1  # window_hours of the rows of posts per tag and hour
_COLUMNS = "(window_hours, hour, tag, observed, baseline, expected, score)"
_ADD = (
    " ON CONFLICT (window_hours, hour, tag) DO UPDATE SET"
    " observed = {table}.observed + excluded.observed,"
    " baseline = {table}.baseline + excluded.baseline"
)
# A window's row whose sums change by a move of the clock is marked for scoring again
# (score -1, so tier -1, below every real tier: the scoring finds the marked rows in the
# index on tier, not by a scan).
DIRTY = -1
_ADD_MARKED = _ADD + f", score = {DIRTY}"
_WINDOW_LIST = ", ".join(str(w.hours) for w in WINDOWS.values())


def _per_window(window_hours: str, rule: str, observed: str, baseline: str) -> str:
    """``rule`` ("expected" or "score") of each window, chosen by ``window_hours``."""
    cases = " ".join(
        f"WHEN {w.hours} THEN "
        + (expected_sql(w, baseline) if rule == "expected" else score_sql(w, observed, baseline))
        for w in WINDOWS.values()
    )
    return f"(CASE {window_hours} {cases} END)"


@dataclass(frozen=True, slots=True)
class Rows:
    """A batch's rows, given to one statement as a table ``r`` with these columns (name
    and PostgreSQL type): each adapter writes ``{rows}`` its own way."""

    columns: tuple[tuple[str, str], ...]
    values: Sequence[tuple[object, ...]]


@dataclass(frozen=True, slots=True)
class Step:
    sql: str
    params: tuple[object, ...] = ()
    rows: Rows | None = None  # with ``{rows}`` in ``sql``, and then no other parameter


READ_CLOCK = "SELECT observed FROM {table} WHERE window_hours = 0 AND hour = 0 AND tag = ''"


def _moves(table: str, clock: int, new: int) -> list[Step]:
    """Every window moved on from hour ``clock`` to ``new``: the hours that leave a
    window join its baseline, those that leave the baseline go; the rows that changed
    are marked, and so are scored again after the batch's own counts are in."""
    steps = []
    for w in WINDOWS.values():
        span, base = w.hours, w.baseline_hours
        left_window = (clock - span + 1, new - span)  # into the baseline
        left_base = (clock - span - base + 1, new - span - base)  # gone
        steps.append(
            Step(
                f"INSERT INTO {table} {_COLUMNS}"
                f" SELECT {span}, 0, tag,"
                " -sum(CASE WHEN hour >= ? THEN observed ELSE 0 END),"
                " sum(CASE WHEN hour >= ? THEN observed ELSE 0 END)"
                f" - sum(CASE WHEN hour <= ? THEN observed ELSE 0 END), 0, {DIRTY}"
                f" FROM {table} WHERE window_hours = {HOURS}"
                " AND ((hour >= ? AND hour <= ?) OR (hour >= ? AND hour <= ?))"
                " GROUP BY tag" + _ADD_MARKED.format(table=table),
                (left_window[0], left_window[0], left_base[1], *left_window, *left_base),
            )
        )
    steps.append(
        Step(
            f"DELETE FROM {table} WHERE window_hours = {HOURS} AND hour <= ?",
            (new - HORIZON_HOURS,),
        )
    )
    return steps


@lru_cache
def _rescore_marked(table: str) -> tuple[Step, ...]:
    marked = f" WHERE window_hours IN ({_WINDOW_LIST}) AND tier < 0"
    expected = _per_window("window_hours", "expected", "observed", "baseline")
    score = _per_window("window_hours", "score", "observed", "baseline")
    return (
        Step(f"DELETE FROM {table}{marked} AND observed = 0 AND baseline = 0"),
        Step(f"UPDATE {table} SET expected = {expected}, score = {score}{marked}"),
    )


# The statements of every batch, made once per table (a batch's own cost is its rows).
@lru_cache
def _add_hours_sql(table: str) -> str:
    return (
        f"INSERT INTO {table} {_COLUMNS} SELECT {HOURS}, r.hour, r.tag, r.n, 0, 0, 0"
        " FROM {rows} WHERE true" + _ADD.format(table=table)
    )


@lru_cache
def _add_sums_sql(table: str) -> str:
    """The batch's uses added to the windows and baselines, each row scored as written:
    from its new sums whether inserted or updated."""
    observed, baseline = (
        f"({table}.observed + excluded.observed)",
        f"({table}.baseline + excluded.baseline)",
    )
    return (
        f"INSERT INTO {table} {_COLUMNS}"
        " SELECT r.span, 0, r.tag, r.observed, r.baseline,"
        f" {_per_window('r.span', 'expected', 'r.observed', 'r.baseline')},"
        f" {_per_window('r.span', 'score', 'r.observed', 'r.baseline')}"
        " FROM {rows} WHERE true"  # WHERE: lets SQLite parse the ON CONFLICT below
        + _ADD.format(table=table)
        + f", expected = {_per_window(f'{table}.window_hours', 'expected', observed, baseline)}"
        + f", score = {_per_window(f'{table}.window_hours', 'score', observed, baseline)}"
    )


@lru_cache
def _set_clock_sql(table: str) -> str:
    return (
        f"INSERT INTO {table} {_COLUMNS} VALUES (0, 0, '', ?, 0, 0, 0)"
        " ON CONFLICT (window_hours, hour, tag) DO UPDATE SET observed = excluded.observed"
    )


def _sums(kept: list[tuple[int, str, int]], new: int) -> dict[tuple[int, str], list[int]]:
    """(window hours, tag) -> [uses in the window, uses in its baseline] of the hours
    ``kept``, the clock at hour ``new``."""
    bounds = [(w.hours, new - w.hours, new - w.hours - w.baseline_hours) for w in WINDOWS.values()]
    sums: dict[tuple[int, str], list[int]] = {}
    for hour, tag, n in kept:
        for span, window_from, baseline_from in bounds:
            if hour > baseline_from:  # in the window (index 0) or its baseline (1)
                sums.setdefault((span, tag), [0, 0])[hour <= window_from] += n
    return sums


def plan(table: str, clock: int | None, counts: HourCounts) -> list[Step]:
    """The statements that fold ``counts`` into the view whose clock is ``clock``."""
    if not counts:
        return []
    newest = max(hour for _, hour in counts)
    new = newest if clock is None or newest > clock else clock
    moved = clock is not None and new > clock
    steps = _moves(table, clock, new) if clock is not None and moved else []
    kept = sorted((hour, tag, n) for (tag, hour), n in counts.items() if hour > new - HORIZON_HOURS)
    if kept:
        hours = Rows((("hour", "bigint"), ("tag", "text"), ("n", "bigint")), kept)
        steps.append(Step(_add_hours_sql(table), rows=hours))
    if sums := _sums(kept, new):
        columns = (("span", "int"), ("tag", "text"), ("observed", "bigint"), ("baseline", "bigint"))
        rows = [(span, tag, o, b) for (span, tag), (o, b) in sorted(sums.items())]
        steps.append(Step(_add_sums_sql(table), rows=Rows(columns, rows)))
    if moved:
        steps += _rescore_marked(table)
    steps.append(Step(_set_clock_sql(table), (new,)))
    return steps


def top_query(table: str = TABLE) -> str:
    """The first ``limit`` tags of a window by score (params: window hours, limit);
    served by the index on (window_hours, tier DESC), its tiers read from the top until
    the limit is reached, each sorted by score as read."""
    return (
        f"SELECT tag, observed, expected, score FROM {table}"
        " WHERE window_hours = ? AND tier > 0 ORDER BY tier DESC, score DESC, tag LIMIT ?"
    )
