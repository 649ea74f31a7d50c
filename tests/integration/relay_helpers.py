"""Helpers of the relay tests: a JetStream stream of the test's own, and reading it back."""

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import nats
import nats.js.errors
from nats.aio.client import Client as NATS

from tagfeed.relay.jetstream import MSG_ID, POSITION, StreamSettings

NATS_URL = "nats://127.0.0.1:4222"


def unique_stream() -> StreamSettings:
    """A stream name and subjects no other test or process uses."""
    name = f"tagfeed_test_{secrets.token_hex(6)}"
    return StreamSettings(name=name, subject_prefix=f"{name}.messages")


def start_relay(
    database_url: str, stream: StreamSettings, log: Path | None, batch: int = 1000
) -> "subprocess.Popen[bytes]":
    """``tagfeed relay`` as a process of its own, into ``stream``. Its SQLite lease is
    1 s, so a relay started after one was SIGKILLed takes over at once. ``log``: its
    output (appended), or None to drop it."""
    env = {
        **os.environ,
        "TAGFEED_DATABASE_URL": database_url,
        "TAGFEED_LOG_LEVEL": "info",
        "TAGFEED_REDUCER_LEASE_SECONDS": "1",
        "TAGFEED_NATS_URL": NATS_URL,
        "TAGFEED_NATS_STREAM": stream.name,
        "TAGFEED_NATS_SUBJECT_PREFIX": stream.subject_prefix,
    }
    command = [sys.executable, "-m", "tagfeed", "relay", "--batch-size", str(batch)]
    if log is None:
        return subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


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
