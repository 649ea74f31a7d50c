"""The trending view's tables, and the statements that fold a batch's hour counts into
them: written once, with ``?`` placeholders, for both adapters (PostgreSQL numbers them).

    trending_tags  (window_hours, hour, tag) -> observed, baseline, expected, score:
                   window_hours 1, 24, 168 (hour 0): a tag's sums and score in a window;
                   window_hours -1: ``observed`` = posts of the tag in that hour (since
                   the epoch), kept within the horizon; the row (0, 0, '') holds the
                   view's clock in ``observed`` (``reducers/trending.py``).
                   One table, so that a rebuild makes and swaps one table.

A batch: read the clock; if the batch's newest hour is later, move every window on by
deltas (the hours that leave a window join its baseline, those that leave the baseline
go), reading only those hours; add the batch's counts to the hours and to the window or
baseline they fall in; score again the rows that changed (marked), and only those: a
batch costs what it touches, not the number of tags. A GET reads the first rows of the
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


HOURS = -1  # window_hours of the rows of posts per tag and hour
_COLUMNS = "(window_hours, hour, tag, observed, baseline, expected, score)"
_ADD = (
    " ON CONFLICT (window_hours, hour, tag) DO UPDATE SET"
    " observed = {table}.observed + excluded.observed,"
    " baseline = {table}.baseline + excluded.baseline"
)
# A window's row whose sums change is marked for scoring again (score -1, below every
# real score, so the scoring finds the marked rows in the index on score, not by a scan).
DIRTY = -1
_ADD_MARKED = _ADD + f", score = {DIRTY}"


@dataclass(frozen=True, slots=True)
class Step:
    sql: str
    params: Sequence[tuple[object, ...]]  # one tuple: execute; several: executemany
    many: bool = False


READ_CLOCK = "SELECT observed FROM {table} WHERE window_hours = 0 AND hour = 0 AND tag = ''"


def plan(table: str, clock: int | None, counts: HourCounts) -> list[Step]:
    """The statements that fold ``counts`` into the view whose clock is ``clock``."""
    if not counts:
        return []
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
                    f"INSERT INTO {table} {_COLUMNS}"
                    f" SELECT {span}, 0, tag,"
                    " -sum(CASE WHEN hour >= ? THEN observed ELSE 0 END),"
                    " sum(CASE WHEN hour >= ? THEN observed ELSE 0 END)"
                    f" - sum(CASE WHEN hour <= ? THEN observed ELSE 0 END), 0, {DIRTY}"
                    f" FROM {table} WHERE window_hours = {HOURS}"
                    " AND ((hour >= ? AND hour <= ?) OR (hour >= ? AND hour <= ?))"
                    " GROUP BY tag" + _ADD_MARKED.format(table=table),
                    [(left_window[0], left_window[0], left_base[1], *left_window, *left_base)],
                )
            )
        steps.append(
            Step(
                f"DELETE FROM {table} WHERE window_hours = {HOURS} AND hour <= ?",
                [(new - HORIZON_HOURS,)],
            )
        )
    kept = [(tag, hour, n) for (tag, hour), n in counts.items() if hour > new - HORIZON_HOURS]
    if kept:
        steps.append(
            Step(
                f"INSERT INTO {table} {_COLUMNS} VALUES ({HOURS}, ?, ?, ?, 0, 0, 0)"
                + _ADD.format(table=table),
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
                f"INSERT INTO {table} {_COLUMNS} VALUES (?, 0, ?, ?, ?, 0, {DIRTY})"
                + _ADD_MARKED.format(table=table),
                [(span, tag, o, b) for (span, tag), (o, b) in sums.items()],
                many=True,
            )
        )
    for w in WINDOWS.values():
        marked = f" WHERE window_hours = {w.hours} AND score < 0"
        steps.append(Step(f"DELETE FROM {table}{marked} AND observed = 0 AND baseline = 0", [()]))
        steps.append(
            Step(
                f"UPDATE {table} SET expected = {expected_sql(w)}, score = {score_sql(w)}{marked}",
                [()],
            )
        )
    steps.append(
        Step(
            f"INSERT INTO {table} {_COLUMNS} VALUES (0, 0, '', ?, 0, 0, 0)"
            " ON CONFLICT (window_hours, hour, tag) DO UPDATE SET observed = excluded.observed",
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
