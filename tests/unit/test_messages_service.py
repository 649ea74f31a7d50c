"""MessageService over the in-memory store, with a clock the test controls."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagfeed.domain.commands import PostMessage
from tagfeed.domain.errors import InvalidInput, MessageNotFound
from tagfeed.domain.ids import new_message_id
from tagfeed.domain.model import Message
from tagfeed.domain.pagination import PageRequest
from tagfeed.domain.queries import MessageFilter
from tagfeed.domain.timerange import parse_time_range
from tagfeed.service.messages import MessageService
from tagfeed.store.errors import StoreUnavailable
from tagfeed.store.memory import MemoryStore
from tagfeed.store.port import UnitOfWork

START = datetime(2026, 11, 28, 15, 46, 8, 123456, tzinfo=UTC)
EVERYTHING = MessageFilter()


class FakeClock:
    """Returns ``now`` until told otherwise."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class SpyStore(MemoryStore):
    """A MemoryStore that records which methods were called."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def apply(self, work: UnitOfWork) -> None:
        self.calls.append("apply")
        await super().apply(work)

    async def get(self, message_id: str) -> Message | None:
        self.calls.append("get")
        return await super().get(message_id)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> SpyStore:
    return SpyStore()


@pytest.fixture
def service(store: SpyStore, clock: FakeClock) -> MessageService:
    return MessageService(store, clock=clock)


def newest_first(messages: list[Message]) -> list[Message]:
    return sorted(messages, key=lambda m: (m.created_at, m.id), reverse=True)


async def post_many(
    service: MessageService, clock: FakeClock, count: int, tag: str = "t"
) -> list[Message]:
    posted = []
    for number in range(count):
        posted.append((await service.post(PostMessage(f"message {number}", tag, "1"))).message)
        clock.advance(timedelta(microseconds=1))
    return posted


async def test_post_stores_and_returns_the_message(
    service: MessageService, store: SpyStore
) -> None:
    message = (
        await service.post(PostMessage("  hello world  ", "#Philo Timo ", "auth0|abc"))
    ).message
    assert message.text == "hello world"
    assert message.tag == "philo-timo"
    assert message.user_id == "auth0|abc"
    assert message.created_at == START
    assert store.messages == {message.id: message}
    assert await service.get(message.id) == message


@pytest.mark.parametrize(
    ("text", "tag", "field"),
    [("", "t", "text"), ("   ", "t", "text"), ("x" * 281, "t", "text"), ("ok", "#", "tag")],
)
async def test_invalid_input_is_refused_before_any_write(
    service: MessageService, store: SpyStore, text: str, tag: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await service.post(PostMessage(text, tag, "1"))
    assert caught.value.field == field
    assert store.messages == {}
    assert "apply" not in store.calls


async def test_the_text_limit_is_configurable(store: SpyStore, clock: FakeClock) -> None:
    service = MessageService(store, clock=clock, max_text_length=5)
    assert (await service.post(PostMessage("12345", "t", "1"))).message.text == "12345"
    with pytest.raises(InvalidInput):
        await service.post(PostMessage("123456", "t", "1"))
    assert len(store.messages) == 1


async def test_get_of_an_unknown_id_raises_not_found(service: MessageService) -> None:
    await service.post(PostMessage("hello", "t", "1"))
    unknown = new_message_id(START)
    with pytest.raises(MessageNotFound) as caught:
        await service.get(unknown)
    assert caught.value.message_id == unknown


@pytest.mark.parametrize(
    "message_id",
    ["", "1", "not-a-uuid", "../etc/passwd", "0193A5C2-7B1E-7CC0-9F6A-2B1D4C3E5F60", "x" * 36],
)
async def test_get_of_something_that_is_no_id_raises_not_found_without_asking_the_store(
    service: MessageService, store: SpyStore, message_id: str
) -> None:
    with pytest.raises(MessageNotFound):
        await service.get(message_id)
    assert "get" not in store.calls


async def test_page_is_newest_first_and_sets_next_only_when_more_remain(
    service: MessageService, clock: FakeClock
) -> None:
    posted = await post_many(service, clock, 5)
    first = await service.page(EVERYTHING, PageRequest(limit=3))
    assert first.messages == posted[::-1][:3]
    assert first.next is not None
    assert (first.next.created_at, first.next.id) == (posted[2].created_at, posted[2].id)
    rest = await service.page(EVERYTHING, PageRequest(limit=3, after=first.next))
    assert rest.messages == posted[1::-1]
    assert rest.next is None


async def test_a_page_holding_exactly_the_rest_has_no_next(
    service: MessageService, clock: FakeClock
) -> None:
    posted = await post_many(service, clock, 4)
    page = await service.page(EVERYTHING, PageRequest(limit=4))
    assert page.messages == posted[::-1]
    assert page.next is None


async def test_an_empty_store_gives_one_empty_page(service: MessageService) -> None:
    page = await service.page(EVERYTHING, PageRequest(limit=10))
    assert page.messages == []
    assert page.next is None


async def collect_pages(
    service: MessageService, where: MessageFilter, limit: int
) -> list[list[Message]]:
    pages = []
    page = await service.page(where, PageRequest(limit))
    pages.append(page.messages)
    while page.next is not None:
        page = await service.page(where, PageRequest(limit, page.next))
        pages.append(page.messages)
        assert len(pages) <= 1000, "pagination does not terminate"
    return pages


async def post_at(service: MessageService, clock: FakeClock, offsets: list[int]) -> list[Message]:
    posted = []
    for number, offset in enumerate(offsets):
        clock.now = START + timedelta(microseconds=offset)
        posted.append((await service.post(PostMessage(f"m{number}", "t", "1"))).message)
    return posted


@settings(max_examples=60, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=3), max_size=25),
    limit=st.integers(min_value=1, max_value=8),
)
def test_following_next_yields_every_message_exactly_once(offsets: list[int], limit: int) -> None:
    # Few distinct instants, so many messages share created_at and only the id orders them.
    async def scenario() -> None:
        clock = FakeClock()
        service = MessageService(MemoryStore(), clock=clock)
        posted = await post_at(service, clock, offsets)
        pages = await collect_pages(service, EVERYTHING, limit)
        seen = [message for page in pages for message in page]
        assert seen == newest_first(posted)
        assert len(pages) == max(1, -(-len(posted) // limit))
        assert all(len(page) == limit for page in pages[:-1])

    asyncio.run(scenario())


async def test_messages_posted_while_paging_do_not_shift_pages(
    service: MessageService, clock: FakeClock
) -> None:
    posted = await post_many(service, clock, 6)
    first = await service.page(EVERYTHING, PageRequest(limit=2))
    await post_many(service, clock, 3)  # newer than anything already seen
    pages = [first.messages]
    page = first
    while page.next is not None:
        page = await service.page(EVERYTHING, PageRequest(limit=2, after=page.next))
        pages.append(page.messages)
    assert [m for chunk in pages for m in chunk] == posted[::-1]


async def test_page_applies_the_filter(service: MessageService, clock: FakeClock) -> None:
    wanted = await post_many(service, clock, 3, tag="go")
    await post_many(service, clock, 3, tag="rust")
    pages = await collect_pages(service, MessageFilter(tag="go"), 2)
    assert [m for page in pages for m in page] == wanted[::-1]


async def test_count_by_tag_and_period(service: MessageService, clock: FakeClock) -> None:
    days = [datetime(2026, 1, day, 12, tzinfo=UTC) for day in (1, 2, 2, 3)]
    for day, tag in zip(days, ["go", "go", "rust", "go"], strict=True):
        clock.now = day
        await service.post(PostMessage("text", tag, "1"))

    assert await service.count(EVERYTHING) == 4
    assert await service.count(MessageFilter(tag="go")) == 3
    assert await service.count(MessageFilter(tag="unknown")) == 0
    second = parse_time_range("2026-01-02", "2026-01-02")
    assert await service.count(MessageFilter(period=second)) == 2
    assert await service.count(MessageFilter(tag="go", period=second)) == 1
    from_second = parse_time_range("2026-01-02", None)
    assert await service.count(MessageFilter(tag="go", period=from_second)) == 2
    before_noon = parse_time_range(None, "2026-01-01T12:00:00Z")  # end is exclusive
    assert await service.count(MessageFilter(period=before_noon)) == 0


class DownStore(MemoryStore):
    async def ping(self) -> None:
        raise StoreUnavailable("database is down")


async def test_ready_returns_when_the_store_answers_and_raises_when_not(
    service: MessageService,
) -> None:
    await service.ready()
    with pytest.raises(StoreUnavailable):
        await MessageService(DownStore()).ready()
