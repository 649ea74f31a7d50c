"""``Store.read_tagged``, what a catch-up of a counting view reads: the same events as
``read_events`` (the same last position, nothing skipped at any offset or limit), only
their (tag, created_at) pairs; an event this code cannot fold is refused, not skipped."""

import asyncio

import pytest

from tagfeed.reducers import tagged
from tagfeed.store.codec import UnknownEvent, decode
from tagfeed.store.port import Store
from tests.integration.test_event_log import a_message, append
from tests.integration.test_rebuild import append_unknown_event


async def test_the_pairs_of_the_events_read_events_gives(store: Store) -> None:
    await append(store, *[a_message(n, tag=f"t{n % 3}") for n in range(20)])
    for after in (0, 1, 5, 19, 20, 25):
        for limit in (1, 7, 100):
            events = await store.read_events(after, limit)
            last, pairs = await store.read_tagged(after, limit)
            assert last == (events[-1].position if events else after), (after, limit)
            want = tagged(decode(event).event for event in events)
            assert sorted(pairs) == sorted(want), (after, limit)


async def test_an_event_it_cannot_fold_is_refused(store: Store, database_url: str) -> None:
    await append(store, a_message(1), a_message(2))
    await asyncio.to_thread(append_unknown_event, database_url)
    assert (await store.read_tagged(0, 2))[0] == 2
    with pytest.raises(UnknownEvent, match="cannot read 1 events after position 0 up to 3"):
        await store.read_tagged(0, 10)
