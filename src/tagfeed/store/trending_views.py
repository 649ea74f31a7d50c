"""The trending view's tables, and the statements that fold a batch's hour counts into
them: written once, with ``?`` placeholders, for both adapters (PostgreSQL numbers them).

    trending_tags        (window_hours, tag) -> observed, baseline, expected, score;
                         the row (0, '') holds the view's clock in ``observed``: an hour
                         since the epoch (``reducers/trending.py``)
    trending_tags_hours  (hour, tag) -> n: posts per tag and hour within the horizon

A batch: read the clock; if the batch's newest hour is later, move every window on by
deltas (the hours that leave a window join its baseline, those that leave the baseline
go), reading only those hours; add the batch's counts to the hours and to the window or
baseline they fall in; score again what changed. A GET reads the first rows of the
index on (window_hours, score DESC).
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from tagfeed.reducers.trending import (
    HORIZON_HOURS,
    WINDOWS,
    HourCounts,
    expected_sql,
    score_sql,
)

TABLE = "trending_tags"


def hours_table(table: str) -> str:
    """The hour counts that go with ``table`` (a rebuild's fresh table has its own)."""
    return f"{table}_hours"


@dataclass(frozen=True, slots=True)
class Step:
    sql: str
    params: Sequence[tuple[object, ...]]  # one tuple: execute; several: executemany
    many: bool = False


READ_CLOCK = "SELECT observed FROM {table} WHERE window_hours = 0 AND tag = ''"


def plan(table: str, clock: int | None, counts: HourCounts) -> list[Step]:
    """The statements that fold ``counts`` into the view whose clock is ``clock``."""
    if not counts:
        return []
    hours = hours_table(table)
    newest = max(hour for _, hour in counts)
    new = newest if clock is None or newest > clock else clock
    steps: list[Step] = []
    moved = clock is not None and new > clock
    if moved:
        assert clock is not None
        for w in WINDOWS.values():
            span, base = w.hours, w.baseline_hours
            left_window = (clock - span + 1, new - span)  # into the baseline
            left_base = (clock - span - base + 1, new - span - base)  # gone
            steps.append(
                Step(
                    f"INSERT INTO {table} (window_hours, tag, observed, baseline, expected, score)"
                    f" SELECT {span}, tag,"
                    " -sum(CASE WHEN hour >= ? THEN n ELSE 0 END),"
                    " sum(CASE WHEN hour >= ? THEN n ELSE 0 END)"
                    " - sum(CASE WHEN hour <= ? THEN n ELSE 0 END), 0, 0"
                    f" FROM {hours}"
                    " WHERE (hour >= ? AND hour <= ?) OR (hour >= ? AND hour <= ?)"
                    " GROUP BY tag"
                    " ON CONFLICT (window_hours, tag) DO UPDATE SET"
                    f" observed = {table}.observed + excluded.observed,"
                    f" baseline = {table}.baseline + excluded.baseline",
                    [(left_window[0], left_window[0], left_base[1], *left_window, *left_base)],
                )
            )
        steps.append(Step(f"DELETE FROM {hours} WHERE hour <= ?", [(new - HORIZON_HOURS,)]))
    kept = [(tag, hour, n) for (tag, hour), n in counts.items() if hour > new - HORIZON_HOURS]
    if kept:
        steps.append(
            Step(
                f"INSERT INTO {hours} (hour, tag, n) VALUES (?, ?, ?)"
                f" ON CONFLICT (hour, tag) DO UPDATE SET n = {hours}.n + excluded.n",
                [(hour, tag, n) for tag, hour, n in kept],
                many=True,
            )
        )
    sums: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for tag, hour, n in kept:
        for w in WINDOWS.values():
            if hour > new - w.hours:
                sums[w.hours, tag][0] += n
            elif hour > new - w.hours - w.baseline_hours:
                sums[w.hours, tag][1] += n
    if sums:
        steps.append(
            Step(
                f"INSERT INTO {table} (window_hours, tag, observed, baseline, expected, score)"
                " VALUES (?, ?, ?, ?, 0, 0)"
                " ON CONFLICT (window_hours, tag) DO UPDATE SET"
                f" observed = {table}.observed + excluded.observed,"
                f" baseline = {table}.baseline + excluded.baseline",
                [(span, tag, o, b) for (span, tag), (o, b) in sums.items()],
                many=True,
            )
        )
    for w in WINDOWS.values():
        rescore = (
            f"UPDATE {table} SET expected = {expected_sql(w)}, score = {score_sql(w)}"
            f" WHERE window_hours = {w.hours}"
        )
        if moved:
            steps.append(Step(rescore, [()]))
        else:
            touched = [(tag,) for (span, tag) in sums if span == w.hours]
            if touched:
                steps.append(Step(rescore + " AND tag = ?", touched, many=True))
    if moved:
        steps.append(
            Step(
                f"DELETE FROM {table} WHERE window_hours > 0 AND observed = 0 AND baseline = 0",
                [()],
            )
        )
    steps.append(
        Step(
            f"INSERT INTO {table} (window_hours, tag, observed, baseline, expected, score)"
            " VALUES (0, '', ?, 0, 0, 0)"
            f" ON CONFLICT (window_hours, tag) DO UPDATE SET observed = excluded.observed",
            [(new,)],
        )
    )
    return steps


def top_query(table: str = TABLE) -> str:
    """The clock and the first ``limit`` tags of a window by score (params: window
    hours, limit); served by the index on (window_hours, score DESC, tag)."""
    return (
        f"SELECT tag, observed, expected, score FROM {table}"
        " WHERE window_hours = ? AND score > 0 ORDER BY score DESC, tag LIMIT ?"
    )
