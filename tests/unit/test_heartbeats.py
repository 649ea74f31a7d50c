"""The idle streams' one heartbeat timer (``service/heartbeats.py``): each waiting sleeper
is woken once, when its own interval has passed since it began to wait, not before."""

import asyncio

from tagfeed.service.heartbeats import Heartbeats


class Sleeper:
    def __init__(self) -> None:
        self.beats: list[float] = []

    def beat(self) -> None:
        self.beats.append(asyncio.get_running_loop().time())


async def test_every_waiting_sleeper_gets_one_beat_after_its_interval() -> None:
    heartbeats = Heartbeats()
    loop = asyncio.get_running_loop()
    sleepers = [Sleeper() for _ in range(1000)]
    began = loop.time()
    for sleeper in sleepers:
        heartbeats.wait(sleeper, 0.05)
    await asyncio.sleep(0.3)
    assert all(len(s.beats) == 1 for s in sleepers)
    assert min(s.beats[0] for s in sleepers) >= began + 0.05 - 0.002
    assert len(heartbeats) == 0


async def test_each_is_due_its_interval_after_its_own_wait() -> None:
    heartbeats = Heartbeats()
    loop = asyncio.get_running_loop()
    first, later = Sleeper(), Sleeper()
    heartbeats.wait(first, 0.1)
    await asyncio.sleep(0.06)
    later_began = loop.time()
    heartbeats.wait(later, 0.1)
    await asyncio.sleep(0.06)  # first is due, later is not yet
    assert len(first.beats) == 1
    assert later.beats == []
    await asyncio.sleep(0.1)
    assert len(later.beats) == 1
    assert later.beats[0] >= later_began + 0.1 - 0.002


async def test_intervals_of_their_own_and_a_sooner_one_set_after_a_later() -> None:
    heartbeats = Heartbeats()
    slow, fast = Sleeper(), Sleeper()
    heartbeats.wait(slow, 0.5)
    heartbeats.wait(fast, 0.05)  # due before the timer set for slow: set again, sooner
    await asyncio.sleep(0.2)
    assert len(fast.beats) == 1
    assert slow.beats == []
    heartbeats.close()


async def test_a_cancelled_wait_gets_no_beat_and_a_new_wait_starts_afresh() -> None:
    heartbeats = Heartbeats()
    loop = asyncio.get_running_loop()
    gone, again = Sleeper(), Sleeper()
    heartbeats.wait(gone, 0.05)
    heartbeats.wait(again, 0.05)
    await asyncio.sleep(0.03)
    heartbeats.cancel(gone, 0.05)
    heartbeats.cancel(again, 0.05)
    rewaited = loop.time()
    heartbeats.wait(again, 0.05)  # e.g. woken by an event, then idle again
    await asyncio.sleep(0.2)
    assert gone.beats == []
    assert len(again.beats) == 1
    assert again.beats[0] >= rewaited + 0.05 - 0.002
