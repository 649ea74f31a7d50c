"""The unit of work: nothing reaches the store unless committed inside the block."""

from datetime import UTC, datetime

import pytest

from tagfeed.domain.events import MessagePosted
from tagfeed.domain.model import Message, new_message
from tagfeed.store.errors import StoreUnavailable
from tagfeed.store.memory import MemoryStore
from tagfeed.store.port import Store, UnitOfWork, unit_of_work

NOW = datetime(2026, 11, 28, 15, 46, 8, 123456, tzinfo=UTC)


class Boom(Exception):
    pass


class FailingStore(MemoryStore):
    """Refuses every write, as a store whose database went away would. That a failed
    commit stores nothing is the adapters' atomicity, tested against the real databases
    in ``tests/integration/test_unit_of_work.py``; here, what the unit of work does."""

    async def apply(self, work: UnitOfWork) -> None:
        raise StoreUnavailable("database is down")


def a_message(text: str = "hello") -> Message:
    return new_message(text=text, tag="t", user_id="1", now=NOW, max_text_length=280)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


async def test_commit_writes_everything_added(store: MemoryStore) -> None:
    first, second = a_message("one"), a_message("two")
    async with unit_of_work(store) as work:
        work.add_message(first)
        work.add_message(second)
        assert store.messages == {}  # collected, not yet written
        await work.commit()
    assert store.messages == {first.id: first, second.id: second}
    assert work.events == [MessagePosted(first), MessagePosted(second)]


async def test_leaving_without_commit_writes_nothing(store: MemoryStore) -> None:
    async with unit_of_work(store) as work:
        work.add_message(a_message())
    assert store.messages == {}
    assert work.new_messages == []
    assert work.events == []
    assert not work.committed


async def run_block(
    store: Store, message: Message, *, commit: bool, fail: bool, seen: list[UnitOfWork]
) -> None:
    """One ``async with unit_of_work`` block; ``seen`` receives the unit of work."""
    async with unit_of_work(store) as work:
        seen.append(work)
        work.add_message(message)
        if commit:
            await work.commit()
        if fail:
            raise Boom


async def test_an_exception_in_the_block_writes_nothing_and_propagates(
    store: MemoryStore,
) -> None:
    seen: list[UnitOfWork] = []
    with pytest.raises(Boom):
        await run_block(store, a_message(), commit=False, fail=True, seen=seen)
    assert store.messages == {}
    [work] = seen
    assert work.new_messages == []
    assert work.events == []


async def test_a_failed_commit_propagates_and_discards_the_unit() -> None:
    seen: list[UnitOfWork] = []
    with pytest.raises(StoreUnavailable):
        await run_block(FailingStore(), a_message(), commit=True, fail=False, seen=seen)
    [work] = seen
    assert not work.committed
    assert work.new_messages == []
    assert work.events == []  # nothing is announced for a write that did not happen


async def test_what_was_committed_stays_when_the_block_fails_later(store: MemoryStore) -> None:
    message = a_message()
    with pytest.raises(Boom):
        await run_block(store, message, commit=True, fail=True, seen=[])
    assert store.messages == {message.id: message}


async def test_commit_after_the_block_ended_raises(store: MemoryStore) -> None:
    async with unit_of_work(store) as work:
        pass
    work.add_message(a_message())
    with pytest.raises(RuntimeError):
        await work.commit()
    assert store.messages == {}


async def test_commit_after_a_committed_block_ended_raises(store: MemoryStore) -> None:
    async with unit_of_work(store) as work:
        work.add_message(a_message())
        await work.commit()
    written = dict(store.messages)
    work.add_message(a_message("late"))
    with pytest.raises(RuntimeError):
        await work.commit()
    assert store.messages == written


async def test_each_block_is_a_fresh_unit_of_work(store: MemoryStore) -> None:
    async with unit_of_work(store) as first:
        first.add_message(a_message())
    async with unit_of_work(store) as second:
        assert second is not first
        assert second.new_messages == []
        message = a_message("kept")
        second.add_message(message)
        await second.commit()
    assert store.messages == {message.id: message}
