"""The log's followers in the chaos run: the relay (log -> JetStream) and the catch-up
reducers, seen from outside through 127.0.0.1 only.

    progress = Progress(database_url)     checkpoints and head, polled in the background
    holder("relay")                       which of relay1/relay2 holds the relay now
    stream_ids(tag)                       the tag's messages in the JetStream stream

Exactly once is checked on what they produced: the stream holds each post of the tag
once, in log order; the tags view counts each post once.
"""

import asyncio
import time
from dataclasses import dataclass, field

import asyncpg
import nats
import nats.errors

from tests.cluster.timeline import log_lines

NATS_URL = "nats://127.0.0.1:{port}"
STREAM = "tagfeed"
SUBJECTS = "tagfeed.messages"
SETTLE = 0.5  # seconds after a fault before a checkpoint's move counts as a recovery
# service -> its two containers; the log line a process writes when it takes the hold.
FOLLOWERS = {
    "relay": (("relay1", "relay2"), "relay_started"),
    "tags": (("tags1", "tags2"), "reducer_started"),
    "trending": (("trending1", "trending2"), "reducer_started"),
}


def holder(name: str) -> str | None:
    """The container holding follower ``name``: the one that took the hold last (the
    other stands by and logs nothing until it takes over)."""
    containers, started = FOLLOWERS[name]
    latest: tuple[float, str] | None = None
    for service in containers:
        for at, text in log_lines(service, 0):
            if started in text and (latest is None or at > latest[0]):
                latest = (at, service)
    return None if latest is None else latest[1]


@dataclass
class Progress:
    """The log's head and each follower's checkpoint, read every quarter second through
    the gateway's primary route; reads during a database failover simply fail."""

    url: str
    samples: list[tuple[float, int, dict[str, int]]] = field(default_factory=list)

    async def poll(self, stop: asyncio.Event) -> None:
        conn: asyncpg.Connection | None = None
        while not stop.is_set():
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(self.url, timeout=2)
                head = await conn.fetchval("SELECT position FROM event_head", timeout=2)
                rows = await conn.fetch("SELECT name, position FROM reducer_checkpoints", timeout=2)
                self.samples.append((time.monotonic(), head, {r[0]: r[1] for r in rows}))
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                if conn is not None:
                    conn.terminate()
                conn = None
            await asyncio.sleep(0.25)
        if conn is not None:
            conn.terminate()

    def back_after(self, name: str, fault: float) -> float | None:
        """Seconds from ``fault`` until ``name``'s checkpoint moved again: past where it
        stood half a second after the fault (a batch the killed process committed just
        before it died may show only then; a dead process commits nothing later). None
        if it never did. Reads 0.5 at least, whatever the follower did sooner."""
        # The last sample up to then (a poll may take longer than SETTLE on a busy host).
        settled = [c.get(name, 0) for t, _, c in self.samples if t <= fault + SETTLE]
        if not settled:
            return None
        for t, _, checkpoints in self.samples:
            if t > fault + SETTLE and checkpoints.get(name, 0) > settled[-1]:
                return round(t - fault, 2)
        return None

    def lag_at_end(self, name: str) -> int | None:
        """The head minus ``name``'s checkpoint in the last sample."""
        if not self.samples:
            return None
        _, head, checkpoints = self.samples[-1]
        return head - checkpoints.get(name, 0)


async def stream_ids(port: int, tag: str, within: float = 60) -> list[tuple[int, str]]:
    """The tag's messages in the JetStream stream, in stream order: (Tagfeed-Position,
    Nats-Msg-Id) of each, read with an ordered consumer filtered on its subject."""
    nc = await nats.connect(NATS_URL.format(port=port), allow_reconnect=False, connect_timeout=5)
    found: list[tuple[int, str]] = []
    try:
        js = nc.jetstream()
        subject = f"{SUBJECTS}.{tag}"
        subscription = await js.subscribe(subject, stream=STREAM, ordered_consumer=True)
        deadline = time.monotonic() + within
        try:
            while time.monotonic() < deadline:
                try:
                    message = await subscription.next_msg(timeout=2)
                except nats.errors.TimeoutError:
                    break  # nothing more within 2 s: the end of what the stream holds
                headers = message.headers or {}
                found.append((int(headers["Tagfeed-Position"]), headers["Nats-Msg-Id"]))
        finally:
            await subscription.unsubscribe()
    finally:
        await nc.close()
    return found


async def stream_replicas(port: int) -> int:
    """The stream's configured replicas."""
    nc = await nats.connect(NATS_URL.format(port=port), allow_reconnect=False, connect_timeout=5)
    try:
        info = await nc.jetstream().stream_info(STREAM)
    finally:
        await nc.close()
    return int(info.config.num_replicas or 1)


async def tag_count(url: str, tag: str) -> int | None:
    """The tags view's count for ``tag`` (the tags reducer's work)."""
    conn = await asyncpg.connect(url, timeout=5)
    try:
        value = await conn.fetchval("SELECT messages FROM tag_stats WHERE tag = $1", tag)
    finally:
        await conn.close()
    return None if value is None else int(value)
