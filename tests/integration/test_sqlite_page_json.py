"""SQLite writes a page's JSON itself: the same bytes, the same cursor, as the API writes
from the page's messages, for odd texts and instants (before 1970, zero fractions, the
first and last years), in every order SQLite can be asked for on the linked version."""

import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tagfeed.api.schemas import messages_json
from tagfeed.domain.ids import new_message_id
from tagfeed.domain.model import Message
from tagfeed.domain.pagination import Cursor, PageRequest
from tagfeed.domain.queries import MessageFilter
from tagfeed.domain.timerange import TimeRange
from tagfeed.service.messages import MessageService
from tagfeed.store import sqlite
from tagfeed.store.port import unit_of_work
from tests.conftest import migrated_sqlite_url

ODD_TEXTS = [
    'quotes " and \\ backslashes \\" and /slashes/',
    "".join(chr(c) for c in range(0x20)) + "\x7f",  # every control character, and DEL
    "emoji 😀👍🏽 and 🇬🇷, accents é, CJK 漢字, RTL עברית",
    "\u2028 line and paragraph \u2029 separators, BOM \ufeff, NBSP \u00a0",
    "<script>alert('x')</script> & {\"json\": [1, 2]}",
    "",
    "x" * 280,
]
INSTANTS = [
    datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),  # just before 1970
    datetime(1969, 7, 20, 20, 17, 40, 1, tzinfo=UTC),
    datetime(1900, 1, 1, tzinfo=UTC),  # before 1970, zero fraction
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2026, 3, 1, 12, 0, 0, 10, tzinfo=UTC),
    datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC),
]
IDS_AT = datetime(2026, 1, 1, tzinfo=UTC)  # ids are only ids here: any instant makes one
EVERY = MessageFilter(None, TimeRange(None, None))


@pytest.fixture
def url(tmp_path: Path) -> str:
    return migrated_sqlite_url(tmp_path)


@pytest.fixture
async def service(url: str) -> AsyncIterator[tuple[MessageService, sqlite.SQLiteStore]]:
    store = sqlite.SQLiteStore(url, timeout=5.0)
    await store.open()
    messages = [
        Message(new_message_id(IDS_AT), text, f"tag{i % 3}", f"user{i}", instant)
        for i, (text, instant) in enumerate(
            (text, instant) for text in ODD_TEXTS for instant in INSTANTS
        )
    ]
    # Ties on created_at, ordered by id alone.
    tied = datetime(2026, 2, 2, tzinfo=UTC)
    messages += [Message(new_message_id(IDS_AT), "tie", "tag0", "u", tied) for _ in range(7)]
    async with unit_of_work(store) as work:
        for message in messages:
            work.add_message(message)
        await work.commit()
    yield MessageService(store), store
    await store.close()


async def _walk(
    service: MessageService, store: sqlite.SQLiteStore, where: MessageFilter, limit: int
) -> int:
    """Walk every page both ways; return how many pages there were."""
    after: Cursor | None = None
    pages = 0
    while True:
        request = PageRequest(limit, after)
        page = await service.page(where, request)
        written = await store.page_json(where, request)
        assert written.body == messages_json(page.messages)
        assert written.next == page.next
        pages += 1
        if page.next is None:
            return pages
        after = page.next


@pytest.mark.parametrize("limit", [1, 2, 7, 50, 100])
@pytest.mark.parametrize("tag", [None, "tag0", "tag1", "none-such"])
async def test_the_same_bytes_and_cursor_as_the_api_writes(
    service: tuple[MessageService, sqlite.SQLiteStore], limit: int, tag: str | None
) -> None:
    where = MessageFilter(tag, TimeRange(None, None))
    pages = await _walk(*service, where, limit)
    if tag is None:
        assert pages == -(-(len(ODD_TEXTS) * len(INSTANTS) + 7) // limit)


async def test_the_same_bytes_within_a_period(
    service: tuple[MessageService, sqlite.SQLiteStore],
) -> None:
    start = datetime(1969, 7, 20, tzinfo=UTC)
    where = MessageFilter(None, TimeRange(start, start + timedelta(days=200)))
    assert await _walk(*service, where, 3) > 1


async def test_the_service_gives_the_stores_bytes_on_sqlite(
    service: tuple[MessageService, sqlite.SQLiteStore],
) -> None:
    def refused(messages: object) -> bytes:
        raise AssertionError("the SQLite store writes the page itself")

    page = await service[0].page_json(EVERY, PageRequest(5), refused)
    assert page.body.startswith(b'[{"id":"')
    assert page.next is not None


async def test_pages_keep_their_order_on_the_linked_sqlite(
    service: tuple[MessageService, sqlite.SQLiteStore], url: str
) -> None:
    """The form the linked SQLite is asked for (with the aggregate's own ORDER BY from
    3.44 on, relying on the subquery's order before) gives rows newest first, ties by id.
    (The other form cannot run here: a SQLite before 3.44 refuses the syntax, one after
    it would take it; the form chosen follows the linked version.)"""
    ordered = sqlite3.sqlite_version_info >= (3, 44)
    probe = sqlite.page_as_json("created_at, id", "SELECT 1")
    assert ("ORDER BY" in probe.split("json_group_array", 1)[1]) == ordered, probe
    request = PageRequest(len(ODD_TEXTS) * len(INSTANTS) + 7)
    query, params = sqlite.page_query(EVERY, request)
    with closing(sqlite3.connect(sqlite.sqlite_path(url))) as conn:
        (array,) = conn.execute(
            sqlite.page_as_json("created_at, id", query, ordered), params
        ).fetchone()
        keys = [tuple(row) for row in json.loads(array)]
        sql, params = sqlite.page_json_query(EVERY, request, ordered)
        body, matched = conn.execute(sql, params).fetchone()
    assert keys == sorted(keys, reverse=True)
    assert len(keys) == request.limit
    everything = await service[1].page(EVERY, request)
    assert [m.id for m in everything] == [i for _, i in keys]
    assert body == messages_json(everything)
    assert matched == request.limit
