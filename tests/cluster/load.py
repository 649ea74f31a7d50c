"""The chaos run's load through the gateway: writers posting with an Idempotency-Key and
retrying with the same key until acknowledged, readers of a tag, a reader of its own
newest post (Tagfeed-Min-Position), an admin counting; then the check that every
acknowledged post is stored once."""

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass, field

import httpx

from tests.cluster.cluster import Cluster

WRITERS = 6
READERS = 3
WRITE_DEADLINE = 90.0  # a post is retried with its key for this long


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Load:
    cluster: Cluster
    tag: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    acked: dict[str, str] = field(default_factory=dict)  # text -> id
    ack_times: list[float] = field(default_factory=list)
    read_times: list[float] = field(default_factory=list)
    write_attempts: int = 0
    write_retries: int = 0
    unacked: int = 0  # posts given up after WRITE_DEADLINE
    reads: int = 0
    failed_reads: int = 0
    counts: int = 0
    failed_counts: int = 0
    replays: int = 0
    last_ack: tuple[str, str] | None = None  # (id, Tagfeed-Position) of the newest post
    ryw_reads: int = 0
    ryw_waited_out: int = 0  # 503: the replica did not reach the position in time
    ryw_violations: int = 0  # 404 for a post acknowledged before the read: must be 0

    async def writer(self, client: httpx.AsyncClient, n: int) -> None:
        headers = {"Authorization": f"Bearer {self.cluster.token(f'writer{n}')}"}
        seq = 0
        while not self.stop.is_set():
            seq += 1
            text = f"{self.tag} w{n} #{seq}"
            key = str(uuid.uuid4())
            first = time.monotonic()
            while True:
                self.write_attempts += 1
                try:
                    response = await client.post(
                        "/v1/messages",
                        json={"text": text, "tag": self.tag},
                        headers={**headers, "Idempotency-Key": key},
                    )
                except httpx.HTTPError:
                    response = None
                if response is not None and response.status_code == 201:
                    self.acked[text] = response.json()["id"]
                    self.last_ack = (self.acked[text], response.headers["Tagfeed-Position"])
                    self.ack_times.append(time.monotonic())
                    if response.headers.get("Idempotent-Replayed") == "true":
                        self.replays += 1
                    break
                if (
                    response is not None
                    and response.status_code not in {409, 429}
                    and (response.status_code < 500)
                ):
                    raise RuntimeError(f"POST refused: {response.status_code} {response.text}")
                if time.monotonic() - first > WRITE_DEADLINE:
                    self.unacked += 1
                    break
                self.write_retries += 1
                await asyncio.sleep(0.2)

    async def reader(self, client: httpx.AsyncClient, n: int) -> None:
        headers = {"Authorization": f"Bearer {self.cluster.token(f'reader{n}')}"}
        while not self.stop.is_set():
            self.reads += 1
            try:
                response = await client.get(
                    "/v1/messages", params={"tag": self.tag, "limit": "20"}, headers=headers
                )
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                self.read_times.append(time.monotonic())
            else:
                self.failed_reads += 1
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.02)

    async def own_reader(self, client: httpx.AsyncClient) -> None:
        """Read your writes: the newest acknowledged post, by id, asking for its position
        (``Tagfeed-Min-Position``). The instance reads it wherever its reads go (a
        replica); a 404 would be a post acknowledged and then not seen."""
        headers = {"Authorization": f"Bearer {self.cluster.token('writer0')}"}
        while not self.stop.is_set():
            if self.last_ack is None:
                await asyncio.sleep(0.05)
                continue
            message_id, position = self.last_ack
            self.ryw_reads += 1
            try:
                response = await client.get(
                    f"/v1/messages/{message_id}",
                    headers={**headers, "Tagfeed-Min-Position": position},
                )
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 404:
                self.ryw_violations += 1
                log(f"read-your-writes violated: {message_id} at {position} is 404")
            elif response is not None and response.status_code == 503:
                self.ryw_waited_out += "Tagfeed-Min-Position" in response.text
            await asyncio.sleep(0.1)

    async def counter(self, client: httpx.AsyncClient) -> None:
        headers = {"Authorization": f"Bearer {self.cluster.token('root', 'admin')}"}
        while not self.stop.is_set():
            self.counts += 1
            try:
                response = await client.get(
                    "/v1/messages", params={"tag": self.tag, "count": "1"}, headers=headers
                )
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            self.failed_counts += not ok
            await asyncio.sleep(0.5)


def longest_gap(times: list[float], since: float, until: float) -> tuple[float, float]:
    """The longest stretch in [since, until] without an event: (its length, its end)."""
    points = [since, *sorted(t for t in times if since <= t <= until), until]
    return max((b - a, b) for a, b in itertools.pairwise(points))


async def verify(cluster: Cluster, load: Load) -> tuple[int, int, set[str]]:
    """(lost, duplicates, the stored ids): every acknowledged id read by id; the tag
    paged."""
    headers = {"Authorization": f"Bearer {cluster.token('verifier')}"}
    lost = 0
    async with httpx.AsyncClient(base_url=cluster.base_url, timeout=10) as client:
        sem = asyncio.Semaphore(8)

        async def check(message_id: str) -> bool:
            async with sem:
                for _ in range(20):
                    try:
                        r = await client.get(f"/v1/messages/{message_id}", headers=headers)
                    except httpx.HTTPError:
                        await asyncio.sleep(0.5)
                        continue
                    if r.status_code in {200, 404}:
                        return r.status_code == 200
                    await asyncio.sleep(0.5)
                return False

        found = await asyncio.gather(*(check(i) for i in load.acked.values()))
        lost = found.count(False)
        texts: dict[str, int] = {}
        ids: set[str] = set()
        url: str | None = f"/v1/messages?tag={load.tag}&limit=100"
        while url is not None:
            r = await client.get(url, headers=headers)
            r.raise_for_status()
            for message in r.json():
                texts[message["text"]] = texts.get(message["text"], 0) + 1
                ids.add(message["id"])
            url = r.links.get("next", {}).get("url")
    duplicates = sum(n - 1 for n in texts.values() if n > 1)
    return lost, duplicates, ids


async def log_position(client: httpx.AsyncClient, cluster: Cluster) -> int:
    """A log position every later post comes after (a read's Tagfeed-Position)."""
    headers = {"Authorization": f"Bearer {cluster.token('stream0')}"}
    for _ in range(60):
        try:
            response = await client.get("/v1/messages", params={"limit": "1"}, headers=headers)
            if response.status_code == 200:
                return int(response.headers["Tagfeed-Position"])
        except httpx.HTTPError:
            pass
        await asyncio.sleep(1)
    raise RuntimeError("no read answered through the gateway for 60 s")
