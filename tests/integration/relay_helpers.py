"""Helpers of the relay tests: a JetStream stream of the test's own, and reading it back."""

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import nats
import nats.js.errors
from nats.aio.client import Client as NATS

from tagfeed.relay.jetstream import MSG_ID, POSITION, StreamSettings

NATS_URL = "nats://127.0.0.1:4222"


def unique_stream() -> StreamSettings:
    """A stream name and subjects no other test or process uses."""
    name = f"tagfeed_test_{secrets.token_hex(6)}"
    return StreamSettings(name=name, subject_prefix=f"{name}.messages")


@asynccontextmanager
async def connected() -> AsyncIterator[NATS]:
    connection = await nats.connect(NATS_URL, connect_timeout=5)
    try:
        yield connection
    finally:
        await connection.close()


async def delete_stream(name: str) -> None:
    async with connected() as connection:
        with suppress(nats.js.errors.NotFoundError):
            await connection.jetstream().delete_stream(name)


@dataclass(frozen=True)
class Relayed:
    seq: int
    subject: str
    msg_id: str
    position: int
    payload: bytes


async def read_back(stream: StreamSettings, within: float = 30.0) -> list[Relayed]:
    """Every message of the stream, in stream order, through a plain ordered consumer:
    what a subscriber would get."""
    async with connected() as connection:
        js = connection.jetstream()
        total = (await js.stream_info(stream.name)).state.messages
        subscription = await js.subscribe(
            f"{stream.subject_prefix}.>", stream=stream.name, ordered_consumer=True
        )
        found: list[Relayed] = []
        try:
            async with asyncio.timeout(within):
                while len(found) < total:
                    message = await subscription.next_msg(timeout=within)
                    headers = message.headers or {}
                    found.append(
                        Relayed(
                            message.metadata.sequence.stream,
                            message.subject,
                            headers[MSG_ID],
                            int(headers[POSITION]),
                            message.data,
                        )
                    )
        finally:
            await subscription.unsubscribe()
        return found
