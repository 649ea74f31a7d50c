"""Idempotency keys: parsing, fingerprints and the service's replay rules."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagfeed.api.problems import status_for
from tagfeed.domain.commands import PostMessage
from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.idempotency import (
    IdempotencyKeyReused,
    RequestInFlight,
    fingerprint,
    parse_key,
)
from tagfeed.domain.model import Message
from tagfeed.service.messages import MessageService
from tagfeed.store.memory import MemoryStore
from tagfeed.store.port import UnitOfWork


@pytest.mark.parametrize("key", ["a", "k" * 255, "with space", "~!@#$%^&*()"])
def test_printable_ascii_keys_up_to_255(key: str) -> None:
    assert parse_key(key) == key


@pytest.mark.parametrize("key", ["", "k" * 256, "caf\u00e9", "tab\t", "nul\x00", "\x7f"])
def test_other_keys_are_refused_naming_the_header(key: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_key(key)
    assert raised.value.field == "Idempotency-Key"


@given(st.text(), st.text())
def test_the_same_fields_give_the_same_fingerprint(text: str, tag: str) -> None:
    # Copies, not the same objects: the digest must depend on the values alone.
    assert fingerprint(text, tag) == fingerprint("".join(list(text)), "".join(list(tag)))


@given(st.text(), st.text(), st.data())
def test_moving_the_boundary_between_fields_changes_the_fingerprint(
    text: str, tag: str, data: st.DataObject
) -> None:
    """The same characters split differently between the fields are another request:
    ("ab", "c") is not ("a", "bc"). Random pairs almost never collide by chance, so the
    pairs compared here share every character and differ only in where text ends."""
    joined = text + tag
    cut = data.draw(st.integers(0, len(joined)).filter(lambda i: i != len(text)))
    assert fingerprint(text, tag) != fingerprint(joined[:cut], joined[cut:])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("#Tag", "x"), ("tag", "x")),  # as sent, before normalisation
        (("a", "x"), ("a ", "x")),
        (("\u00e9", "x"), ("e\u0301", "x")),  # é precomposed and decomposed
        (("", "ab"), ("ab", "")),
    ],
)
def test_requests_that_differ_have_different_fingerprints(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    assert fingerprint(*first) != fingerprint(*second)


def test_a_lone_surrogate_sent_as_json_escape_has_a_fingerprint() -> None:
    assert fingerprint("\ud800", "x") != fingerprint("\ud801", "x")


def test_statuses() -> None:
    assert status_for(RequestInFlight("k")) == 409
    assert status_for(IdempotencyKeyReused("k")) == 422


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def render(message: Message) -> tuple[int, str, bytes]:
    return 201, f"/v1/messages/{message.id}", message.id.encode()


COMMAND = PostMessage("hello", "tag", "u1")
FP = fingerprint("hello", "tag")


async def test_replay_within_the_ttl_and_a_fresh_message_after_it() -> None:
    clock = Clock()
    store = MemoryStore()
    service = MessageService(store, clock=clock, key_ttl=timedelta(hours=24))
    first = await service.post_once(COMMAND, "k", FP, render)
    assert not first.replayed
    clock.now += timedelta(hours=23)
    again = await service.post_once(COMMAND, "k", FP, render)
    assert again.replayed
    assert again.record == first.record
    assert len(store.messages) == 1
    clock.now += timedelta(hours=2)
    later = await service.post_once(COMMAND, "k", FP, render)
    assert not later.replayed
    assert len(store.messages) == 2
    assert await service.purge_expired_keys() == 0  # the first record was replaced


async def test_a_different_request_under_the_same_key_is_refused() -> None:
    service = MessageService(MemoryStore(), clock=Clock())
    await service.post_once(COMMAND, "k", FP, render)
    with pytest.raises(IdempotencyKeyReused):
        await service.post_once(PostMessage("other", "tag", "u1"), "k", "other", render)


class SlowStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def apply(self, work: UnitOfWork) -> None:
        await self.release.wait()
        await super().apply(work)


async def test_a_retry_while_the_first_runs_is_told_to_wait() -> None:
    store = SlowStore()
    service = MessageService(store, clock=Clock())
    first = asyncio.create_task(service.post_once(COMMAND, "k", FP, render))
    await asyncio.sleep(0)
    with pytest.raises(RequestInFlight):
        await service.post_once(COMMAND, "k", FP, render)
    other_user = asyncio.create_task(
        service.post_once(PostMessage("hello", "tag", "u2"), "k", FP, render)
    )
    store.release.set()
    assert not (await first).replayed
    assert not (await other_user).replayed
    assert (await service.post_once(COMMAND, "k", FP, render)).replayed


async def test_purge_removes_expired_records_in_batches() -> None:
    clock = Clock()
    store = MemoryStore()
    service = MessageService(store, clock=clock, key_ttl=timedelta(hours=24))
    for i in range(5):
        await service.post_once(COMMAND, f"k{i}", FP, render)
    clock.now += timedelta(hours=25)
    assert await service.purge_expired_keys(batch=2) == 5
    assert store.keys == {}
