"""Helpers for integration tests: seeding messages at chosen instants."""

from datetime import UTC, datetime

import httpx

from tagfeed.domain.ids import new_message_id
from tagfeed.domain.model import Message
from tagfeed.store.port import Store, unit_of_work


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def seed(store: Store, *rows: tuple[str, str]) -> list[Message]:
    """Store one message per (tag, instant) pair, as the write path would."""
    messages = [
        Message(new_message_id(at(when)), f"message at {when}", tag, "seed", at(when))
        for tag, when in rows
    ]
    async with unit_of_work(store) as work:
        for message in messages:
            work.add_message(message)
        await work.commit()
    return messages


def assert_problem(response: httpx.Response, status: int, mentions: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("/problems/")
    assert problem["title"]
    assert mentions in problem["detail"]
    assert problem["request_id"] == response.headers["x-request-id"]
