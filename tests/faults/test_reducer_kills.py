"""The catch-up reducers (``tagfeed reduce tags``, ``tagfeed reduce trending``), each
SIGKILLed ten times at random instants while posts go on: afterwards each view holds every
event exactly once, checked by reading them back:

- the tags view equals what the messages say (per tag: count, first, last), so no event
  was folded twice or skipped;
- each view equals what a rebuild from the log gives (``tagfeed rebuild``'s code: every
  event folded once from position 0): every row of ``tag_stats`` and of
  ``trending_tags``, scores included, before and after.

The log starts with 3,000 events (a backlog, folded in batches of 40 or 1,000), and posts
go on over HTTP the whole time (``fault_rounds.posts_meanwhile``). A killed reducer's
effects and checkpoint commit together or not at all; the next one takes over from its
checkpoint.
"""

import asyncio
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tagfeed.config import Settings
from tagfeed.service.reducing import CATCH_UP, catch_up, rebuild
from tagfeed.store.errors import LeaseHeld
from tagfeed.store.factory import store_from_settings
from tests.faults.fault_rounds import Follower, kill_rounds, posts_meanwhile, start_reducer
from tests.faults.fault_tally import TALLY
from tests.integration.test_reducers import Stats, post_many, query, tag_stats, truth

pytestmark = pytest.mark.faults

ROUNDS = int(os.environ.get("TAGFEED_FAULT_ROUNDS", "10"))
VIEWS = {
    "tags": "SELECT tag, messages, first_at, last_at FROM tag_stats ORDER BY tag",
    "trending": "SELECT window_hours, hour, tag, observed, baseline, expected, score"
    " FROM trending_tags ORDER BY window_hours, hour, tag",
}


def _checkpoints(url: str) -> dict[str, int]:
    rows = query(url, "SELECT name, position FROM reducer_checkpoints")
    return {name: int(position) for name, position in rows if name in CATCH_UP}


def _views(url: str) -> dict[str, list[tuple[Any, ...]]]:
    return {name: [tuple(row) for row in query(url, sql)] for name, sql in VIEWS.items()}


async def _preload(url: str, count: int) -> None:
    store = store_from_settings(Settings(database_url=url))
    await store.open()
    try:
        await post_many(store, count, per_unit=25)
    finally:
        await store.close()


@dataclass
class Kept:
    """The views as the killed reducers left them (then caught up)."""

    head: int
    rows: dict[str, list[tuple[Any, ...]]]
    tag_stats: Stats


async def _finish_then_rebuild(url: str) -> Kept:
    """Catch every reducer up to the head (waiting out a killed holder's lease), read the
    views, then rebuild each from the log."""
    store = store_from_settings(Settings(database_url=url))
    await store.open()
    try:
        head = await store.head()
        for reducer in CATCH_UP.values():
            for _ in range(60):
                try:
                    assert await catch_up(store, reducer) == head
                    break
                except LeaseHeld:
                    await asyncio.sleep(0.5)
            else:
                raise AssertionError(f"{reducer.name}: the lease was never released")
        kept = Kept(
            head, await asyncio.to_thread(_views, url), await asyncio.to_thread(tag_stats, url)
        )
        for name in CATCH_UP:
            assert await rebuild(store, name) == head
        return kept
    finally:
        await store.close()


async def test_reducers_killed_ten_times_under_load_fold_every_event_once(
    backend: tuple[str, str], tmp_path: Path
) -> None:
    backend_name, url = backend
    rng = random.Random(int(os.environ.get("TAGFEED_FAULT_SEED", "7")))
    await _preload(url, 3000)
    progress: list[dict[str, int]] = []

    def start(round_: int) -> list[Follower]:
        return [
            start_reducer(url, name, rng.choice([40, 1000]), tmp_path / f"reduce-{name}.log")
            for name in CATCH_UP
        ]

    async with posts_meanwhile(url, tmp_path):
        await kill_rounds(start, ROUNDS, rng, lambda _: progress.append(_checkpoints(url)))
    kept = await _finish_then_rebuild(url)
    rebuilt = await asyncio.to_thread(_views, url)
    print(f"reducers-{backend_name}: checkpoints after each round {progress}; head {kept.head}")
    for name in CATCH_UP:
        moved = {p.get(name, 0) for p in progress}
        assert len(moved) > ROUNDS // 2, f"{name} hardly moved: {progress}"
    assert kept.rows["trending"], "the trending view is empty"
    # Every check, so that a failure says which views went wrong.
    wrong = [name for name in VIEWS if kept.rows[name] != rebuilt[name]]
    if kept.tag_stats != await asyncio.to_thread(truth, url):
        wrong.append("tags against the messages")
    if sum(n for n, _, _ in kept.tag_stats.values()) != kept.head:
        wrong.append("tags against the head")
    assert not wrong, f"not every event folded exactly once: {wrong}"
    for name in CATCH_UP:
        TALLY.kill(f"{name}-{backend_name}", ROUNDS)
