"""A unit of work is written atomically by the real adapters: when its commit fails,
none of its messages is stored (``store/port.py``)."""

from datetime import UTC, datetime, timedelta

import pytest

from tagfeed.domain.ids import new_message_id
from tagfeed.domain.model import Message
from tagfeed.domain.pagination import PageRequest
from tagfeed.domain.queries import MessageFilter
from tagfeed.domain.timerange import TimeRange
from tagfeed.store.errors import StoreError
from tagfeed.store.port import Store, unit_of_work

AT = datetime(2026, 11, 28, 12, tzinfo=UTC)


def message(n: int, message_id: str | None = None) -> Message:
    at = AT + timedelta(seconds=n)
    return Message(message_id or new_message_id(at), f"text {n}", "atomic", "u", at)


async def test_a_failed_commit_writes_none_of_its_messages(store: Store) -> None:
    taken = message(0)
    async with unit_of_work(store) as work:
        work.add_message(taken)
        await work.commit()
    # The unit's first message is fine; its second reuses a taken id, so the commit fails
    # after the first was (provisionally) written.
    fresh, clash = message(1), message(2, taken.id)
    async with unit_of_work(store) as work:
        work.add_message(fresh)
        work.add_message(clash)
        with pytest.raises(StoreError):
            await work.commit()
    assert await store.get(fresh.id) is None
    assert await store.get(taken.id) == taken
    everything = MessageFilter("atomic", TimeRange(None, None))
    assert await store.page(everything, PageRequest(10, None)) == [taken]
