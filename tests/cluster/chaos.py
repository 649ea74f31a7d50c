"""make chaos: faults one at a time under a mixed load through the gateway on 127.0.0.1.

Each scenario runs the load (posts with an Idempotency-Key, retried with the same key until
acknowledged; reads of a tag; reads of one's own newest post with Tagfeed-Min-Position;
counts as an admin; three live streams of the tag), injects one fault with docker, heals
it, lets the load run on, then checks through the gateway that every acknowledged post is
readable (lost) and that no post exists twice (duplicates), that every stream received
every post of the tag once and in order, that the JetStream stream (read back from NATS)
and the tags view hold each once; and reports the longest gap without an acknowledged
write after the fault (write-unavailability window), the longest gap without a
successful read, the failed reads and counts, the phases of a database repair (from the
engines' records), when the relay and the reducer moved again, and the time until the
cluster was whole again. Results: deploy/results/chaos.json and chaos.md.

Run: python -m tests.cluster.chaos [--only NAME ...]   (the cluster must be up)
"""

import argparse
import asyncio
import itertools
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.cluster.cluster import DEPLOY, PROJECT, Cluster, container, docker
from tests.cluster.followers import FOLLOWERS, Progress, holder, stream_ids, tag_count
from tests.cluster.streams import StreamClient, caught_up
from tests.cluster.timeline import LeaderWatch, failover_phases, restart_phases

NETWORK = f"{PROJECT}_{PROJECT}"
ADDRESSES = {
    "pg1": "172.28.0.21",
    "pg2": "172.28.0.22",
    "pg3": "172.28.0.23",
    "etcd1": "172.28.0.11",
    "etcd2": "172.28.0.12",
    "etcd3": "172.28.0.13",
    "gw1": "172.28.0.31",
    "gw2": "172.28.0.32",
    "api1": "172.28.0.41",
    "api2": "172.28.0.42",
    "api3": "172.28.0.43",
}
VIP = "172.28.0.30"
WRITERS = 6
READERS = 3
BEFORE = 5.0  # seconds of load before the fault
AFTER = 15.0  # seconds of load once the cluster is whole again
WRITE_DEADLINE = 90.0  # a post is retried with its key for this long
STREAMS = 3  # live streams of the load's tag


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- the cluster's state, read with docker ---------------------------------------------


def patroni_members() -> list[dict[str, Any]]:
    for node in ("pg1", "pg2", "pg3"):
        out = docker(
            "exec",
            container(node),
            "patronictl",
            "-c",
            "/etc/patroni/patroni.yml",
            "list",
            "-f",
            "json",
            check=False,
            timeout=6,
        )
        try:
            members: list[dict[str, Any]] = json.loads(out)
        except ValueError:
            continue
        return members
    return []


def primary() -> str | None:
    for member in patroni_members():
        if member.get("Role") == "Leader" and member.get("State") == "running":
            return str(member["Member"])
    return None


def patroni_whole() -> bool:
    """A running leader, a sync standby and a third member, all on the leader's timeline
    (a failed primary that could not rewind stays on its old one)."""
    members = [m for m in patroni_members() if m.get("State") in {"running", "streaming"}]
    roles = sorted(str(m.get("Role")) for m in members)
    timelines = {m.get("TL") for m in members}
    return len(roles) == 3 and "Leader" in roles and "Sync Standby" in roles and len(timelines) == 1


def vip_holder() -> str | None:
    for gw in ("gw1", "gw2"):
        out = docker("exec", container(gw), "ip", "-4", "-o", "addr", "show", "eth0", check=False)
        if f" {VIP}/" in out:
            return gw
    return None


def gateway_whole(node: str) -> bool:
    """The VIP held, and the restarted gateway in VRRP again (its keepalived running),
    ready to take the VIP at the next failure."""
    keepalived = docker("exec", container(node), "pgrep", "-x", "keepalived", check=False)
    return running(node) and bool(keepalived.strip()) and vip_holder() is not None


def running(service: str) -> bool:
    out = docker("inspect", "-f", "{{.State.Running}}", container(service), check=False)
    return out.strip() == "true"


def healthy(service: str) -> bool:
    out = docker("inspect", "-f", "{{.State.Health.Status}}", container(service), check=False)
    return out.strip() == "healthy"


def etcd_whole() -> bool:
    """All three members answer (etcdctl exits non-zero if one does not)."""
    try:
        docker(
            "exec",
            container("etcd1"),
            "etcdctl",
            "--endpoints=http://172.28.0.11:2379,http://172.28.0.12:2379,http://172.28.0.13:2379",
            "endpoint",
            "health",
            timeout=15,
        )
    except RuntimeError:
        return False
    return True


async def wait_for(check: Callable[[], bool], limit: float, every: float = 1.0) -> float | None:
    """Seconds until ``check()`` held, or None after ``limit`` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if await asyncio.to_thread(check):
            return time.monotonic() - start
        await asyncio.sleep(every)
    return None


# -- the load --------------------------------------------------------------------------


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


# -- the faults ------------------------------------------------------------------------


def now() -> tuple[float, float]:
    """(wall time, monotonic time): the wall one to compare with docker's log stamps."""
    return time.time(), time.monotonic()


async def adocker(*args: str) -> str:
    """``docker`` off the event loop: a docker command takes a second or more on a busy
    machine, and the load's clients must not stop meanwhile (the gaps they measure
    would be the harness's)."""
    return await asyncio.to_thread(docker, *args)


# The phases of the repair, read from the engines' records after the fault at a wall
# time (tests/cluster/timeline.py): seconds after the fault, by phase.
Phases = Callable[[float, LeaderWatch], dict[str, object]]


@dataclass
class Fault:
    """What was broken, and the coroutine that heals it; ``whole`` says when all is back;
    ``phases`` reads when each step of the repair happened (database faults)."""

    target: str
    heal: Callable[[], Awaitable[None]]
    whole: Callable[[], bool]
    phases: Phases | None = None
    # When the blow fell (wall, monotonic): just before the command that breaks it, after
    # the look-ups that choose what to break (a second or more on a busy machine).
    struck: tuple[float, float] = field(default_factory=lambda: now())


def failover_of(gateway: str | None, node: str) -> Phases:
    """The phases of a failover away from (or back to) ``node``, as ``Fault.phases``."""
    return lambda at, watch: failover_phases(at, watch, gateway, node)


async def kill_primary() -> Fault:
    node = await asyncio.to_thread(primary) or "pg1"
    log(f"docker kill -s KILL {container(node)} (the primary)")
    struck = now()
    await adocker("kill", "-s", "KILL", container(node))

    gateway = await asyncio.to_thread(vip_holder)

    async def heal() -> None:
        await wait_for(lambda: primary() not in {None, node}, 60)
        log(f"new primary {await asyncio.to_thread(primary)}; docker start {container(node)}")
        await adocker("start", container(node))

    return Fault(
        node,
        heal,
        patroni_whole,
        failover_of(gateway, node),
        struck,
    )


async def kill_primary_processes() -> Fault:
    """Patroni and postgres die at once (SIGKILL to the container's init from the host:
    an OOM kill, a crash), the node itself stays: the container's restart policy starts
    it again, as systemd would, and Patroni finds the leader key still its own."""
    node = await asyncio.to_thread(primary) or "pg1"
    pid = int((await adocker("inspect", "-f", "{{.State.Pid}}", container(node))).strip())
    log(f"kill -KILL {pid}: the init of {container(node)}, Patroni and postgres with it")
    struck = now()
    os.kill(pid, signal.SIGKILL)
    gateway = await asyncio.to_thread(vip_holder)

    async def heal() -> None:
        # Nothing to repair (restart: on-failure); wait until the fault shows, so that
        # "whole again" measures the recovery.
        await wait_for(lambda: not patroni_whole(), 10, every=0.2)

    return Fault(
        node,
        heal,
        patroni_whole,
        failover_of(gateway, node),
        struck,
    )


async def crash_primary_postgres() -> Fault:
    """Only the postmaster dies (an OOM kill, a crash): Patroni lives and still holds the
    leader key, so it restarts postgres in place rather than fail over."""
    node = await asyncio.to_thread(primary) or "pg1"
    log(f"SIGKILL to the postmaster of {container(node)} (Patroni stays)")
    struck = now()
    await adocker(
        "exec",
        container(node),
        "sh",
        "-c",
        "kill -KILL $(head -1 /var/lib/postgresql/data/pgdata/postmaster.pid)",
    )

    async def heal() -> None:
        # Nothing to repair; only wait until Patroni has seen it, so that "whole again"
        # measures its restart and not the moment before it noticed.
        await wait_for(lambda: not patroni_whole(), 10, every=0.2)

    gateway = await asyncio.to_thread(vip_holder)
    return Fault(node, heal, patroni_whole, lambda at, _: restart_phases(at, node, gateway), struck)


async def cut_primary() -> Fault:
    node = await asyncio.to_thread(primary) or "pg1"
    log(f"docker network disconnect {NETWORK} {container(node)} (the primary)")
    struck = now()
    await adocker("network", "disconnect", NETWORK, container(node))

    gateway = await asyncio.to_thread(vip_holder)

    async def heal() -> None:
        await wait_for(lambda: primary() not in {None, node}, 60)
        await asyncio.sleep(5)
        log(f"new primary {await asyncio.to_thread(primary)}; reconnecting {node}")
        await adocker("network", "connect", "--ip", ADDRESSES[node], NETWORK, container(node))

    return Fault(
        node,
        heal,
        patroni_whole,
        failover_of(gateway, node),
        struck,
    )


async def kill_api() -> Fault:
    node = "api2"
    log(f"docker kill -s KILL {container(node)}")
    struck = now()
    await adocker("kill", "-s", "KILL", container(node))

    async def heal() -> None:
        await asyncio.sleep(5)
        if not await asyncio.to_thread(
            running, node
        ):  # restart: on-failure may have done it already
            log(f"docker start {container(node)}")
            await adocker("start", container(node))

    return Fault(node, heal, lambda: healthy(node), struck=struck)


async def kill_vip_gateway() -> Fault:
    node = await asyncio.to_thread(vip_holder) or "gw1"
    log(f"docker kill -s KILL {container(node)} (holds the VIP)")
    struck = now()
    await adocker("kill", "-s", "KILL", container(node))

    async def heal() -> None:
        await wait_for(lambda: vip_holder() not in {None, node}, 30, every=0.5)
        await asyncio.sleep(5)
        log(f"VIP on {await asyncio.to_thread(vip_holder)}; docker start {container(node)}")
        await adocker("start", container(node))

    return Fault(node, heal, lambda: gateway_whole(node), struck=struck)


async def kill_then_start(
    node: str, after: float, whole: Callable[[], bool], why: str = ""
) -> Fault:
    """SIGKILL ``node``'s container, and start it again ``after`` seconds later."""
    log(f"docker kill -s KILL {container(node)}{why}")
    struck = now()
    await adocker("kill", "-s", "KILL", container(node))

    async def heal() -> None:
        await asyncio.sleep(after)
        log(f"docker start {container(node)}")
        await adocker("start", container(node))

    return Fault(node, heal, whole, struck=struck)


async def lose_etcd() -> Fault:
    return await kill_then_start("etcd2", 15, etcd_whole)


def kill_follower(name: str) -> Callable[[], Awaitable[Fault]]:
    """SIGKILL the process holding follower ``name`` (the relay, a reducer) under load;
    the one standing by takes the hold. The killed one is started again 5 s later."""

    async def inject() -> Fault:
        node = await asyncio.to_thread(holder, name) or FOLLOWERS[name][0][0]
        return await kill_then_start(node, 5, lambda: running(node), f" (holds {name})")

    return inject


SCENARIOS: dict[str, tuple[str, Callable[[], Awaitable[Fault]]]] = {
    "pg-primary-killed": ("PostgreSQL primary SIGKILLed (node lost)", kill_primary),
    "pg-processes-killed": (
        "PostgreSQL primary's Patroni and postgres SIGKILLed, restarted",
        kill_primary_processes,
    ),
    "pg-postmaster-killed": ("PostgreSQL primary's postmaster SIGKILLed", crash_primary_postgres),
    "pg-primary-cut-off": ("PostgreSQL primary disconnected from the network", cut_primary),
    "api-killed": ("an API instance SIGKILLed", kill_api),
    "gateway-vip-killed": ("the HAProxy holding the VIP SIGKILLed", kill_vip_gateway),
    "etcd-member-lost": ("an etcd member SIGKILLed", lose_etcd),
    "relay-killed": ("the JetStream relay SIGKILLed", kill_follower("relay")),
    "reducer-killed": ("the tags reducer SIGKILLed", kill_follower("tags")),
}


async def scenario(cluster: Cluster, name: str) -> dict[str, Any]:
    title, inject = SCENARIOS[name]
    log(f"== {name}: {title}")
    ready = await wait_for(
        lambda: patroni_whole() and etcd_whole() and vip_holder() is not None, 120
    )
    if ready is None:
        raise RuntimeError(f"{name}: the cluster is not whole before the fault")
    load = Load(cluster, f"chaos{uuid.uuid4().hex[:10]}")
    limits = httpx.Limits(max_connections=WRITERS + READERS + STREAMS + 3)
    progress = Progress(cluster.postgres_url)
    watching = asyncio.Event()
    async with httpx.AsyncClient(base_url=cluster.base_url, timeout=5, limits=limits) as client:
        poller = asyncio.create_task(progress.poll(watching))
        # Streams first, from a position before any post of the tag: each must then
        # receive every one of them.
        start = await log_position(client, cluster)
        streams = [
            StreamClient(client, cluster.token(f"stream{n}"), load.tag, start)
            for n in range(STREAMS)
        ]
        following = asyncio.Event()
        readers = [asyncio.create_task(s.follow(following)) for s in streams]
        tasks = [asyncio.create_task(load.writer(client, n)) for n in range(WRITERS)]
        tasks += [asyncio.create_task(load.reader(client, n)) for n in range(READERS)]
        tasks.append(asyncio.create_task(load.counter(client)))
        tasks.append(asyncio.create_task(load.own_reader(client)))
        await asyncio.sleep(BEFORE)
        watch = LeaderWatch.start()
        await asyncio.sleep(0.5)  # the watch is established
        fault = await inject()
        fault_wall, fault_at = fault.struck
        await fault.heal()
        recovered = await wait_for(fault.whole, 120)
        whole_at = time.monotonic()
        if recovered is None:
            log(f"NOT whole {whole_at - fault_at:.1f} s after the fault")
        else:
            log(f"whole again {whole_at - fault_at:.1f} s after the fault")
        await asyncio.sleep(AFTER)
        load.stop.set()
        end = time.monotonic()
        await asyncio.gather(*tasks)
        watch.stop()
        lost, duplicates, stored = await verify(cluster, load)
        await caught_up(streams, stored, 30)
        following.set()
        await asyncio.gather(*readers)
        await followers_caught_up(progress, 30)
        watching.set()
        await poller
    relayed = await stream_ids(cluster.nats_port, load.tag)
    relayed_ids = [message_id for _, message_id in relayed]
    counted = await tag_count(cluster.postgres_url, load.tag)
    checked = [s.check(stored) for s in streams]
    write_gap, writes_back = longest_gap(load.ack_times, fault_at, end)
    read_gap, reads_back = longest_gap(load.read_times, fault_at, end)
    phases = {} if fault.phases is None else fault.phases(fault_wall, watch)
    # From the clients' side: when posts were acknowledged again, and reads answered.
    phases["writes_back"] = round(writes_back - fault_at, 2)
    phases["reads_back"] = round(reads_back - fault_at, 2)
    # The log's followers: when each moved its checkpoint again after the fault.
    for follower in ("relay", "tags"):
        phases[f"{follower}_back"] = progress.back_after(follower, fault_at)
    result = {
        "scenario": name,
        "fault": title,
        "target": fault.target,
        "acknowledged_posts": len(load.acked),
        "stored_posts": len(stored),
        "lost": lost,
        "duplicates": duplicates,
        "unacknowledged_after_retries": load.unacked,
        "write_attempts": load.write_attempts,
        "write_retries": load.write_retries,
        "idempotent_replays": load.replays,
        "write_unavailable_s": round(write_gap, 2),
        "read_unavailable_s": round(read_gap, 2),
        "reads": load.reads,
        "failed_reads": load.failed_reads,
        "read_your_writes": load.ryw_reads,
        "read_your_writes_waited_out": load.ryw_waited_out,
        "read_your_writes_violated": load.ryw_violations,
        "counts": load.counts,
        "failed_counts": load.failed_counts,
        "whole_again_s": None if recovered is None else round(whole_at - fault_at, 1),
        # Live streams of the tag: each must have every stored post once, in order.
        "streams": checked,
        "stream_gap_s": round(max(s.gap(fault_at, end) for s in streams), 2),
        "streams_exact": all(
            c["missing"] == 0 and c["duplicates"] == 0 and c["unexpected"] == 0 and c["in_order"]
            for c in checked
        ),
        # The relay: the JetStream stream holds each stored post of the tag once, in
        # log order. The tags reducer: the tags view counts each once.
        "relayed": len(relayed_ids),
        "relayed_missing": len(stored - set(relayed_ids)),
        "relayed_duplicates": len(relayed_ids) - len(set(relayed_ids)),
        "relayed_in_order": all(a < b for (a, _), (b, _) in itertools.pairwise(relayed)),
        "tags_view_count": counted,
        "phases_s": phases,
        "load_average": load_average(),
    }
    log(json.dumps(result))
    return result


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


async def followers_caught_up(progress: Progress, within: float) -> None:
    """Wait until the relay and the tags reducer have reached the head."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if progress.lag_at_end("relay") == 0 and progress.lag_at_end("tags") == 0:
            return
        await asyncio.sleep(0.5)


def load_average() -> str:
    """The machine's 1, 5 and 15-minute load averages (the host is shared: say it)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def markdown(results: list[dict[str, Any]]) -> str:
    head = (
        "| fault | acked posts | lost | duplicates | write unavailable (s) | read unavailable (s)"
        " | failed reads | failed counts | own writes unread | retries | whole again (s) |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    rows = "".join(
        f"| {r['fault']} | {r['acknowledged_posts']} | {r['lost']} | {r['duplicates']}"
        f" | {r['write_unavailable_s']} | {r['read_unavailable_s']} | {r['failed_reads']}"
        f"/{r['reads']} | {r['failed_counts']}/{r['counts']}"
        f" | {r['read_your_writes_violated']}/{r['read_your_writes']}"
        f" | {r['write_retries']} | {r['whole_again_s']} |\n"
        for r in results
    )
    return head + rows + "\n" + timelines(results) + "\n" + followed(results)


def followed(results: list[dict[str, Any]]) -> str:
    """The streams and the log's followers in each fault: each stream's longest wait for
    an event, whether every stream got every post once and in order; when the relay and
    the tags reducer moved again, and whether what they made holds each post once."""
    head = (
        "| fault | stream gap (s) | streams exact | stream reconnects | relay back (s)"
        " | relayed once, in order | tags reducer back (s) | tags view = stored | load average |\n"
        "|---|---:|---|---:|---:|---|---:|---|---|\n"
    )
    rows = "".join(
        f"| {r['fault']} | {r['stream_gap_s']} | {'yes' if r['streams_exact'] else 'NO'}"
        f" | {sum(int(c['connects']) for c in r['streams']) - len(r['streams'])}"
        f" | {r['phases_s'].get('relay_back') or '-'}"
        f" | {r['relayed']}/{r['stored_posts']}"
        + (
            " yes"
            if not r["relayed_missing"] and not r["relayed_duplicates"] and r["relayed_in_order"]
            else " NO"
        )
        + f" | {r['phases_s'].get('tags_back') or '-'}"
        f" | {'yes' if r['tags_view_count'] == r['stored_posts'] else 'NO'}"
        f" | {r['load_average']} |\n"
        for r in results
    )
    return head + rows


# The timeline table's columns: phase key, heading.
PHASES = (
    ("leader_key_released", "leader key released"),
    ("leader_key_taken", "leader key taken"),
    ("promoted", "promoted"),
    ("restarted", "restarted in place"),
    ("sync_standby", "sync standby"),
    ("routed", "gateway routes to it"),
    ("writes_back", "writes back"),
    ("reads_back", "reads back"),
)


def timelines(results: list[dict[str, Any]]) -> str:
    """Seconds after the fault at which each phase of the repair was seen ("-": it did
    not happen in that fault, or its record was not found)."""
    head = (
        "| fault | "
        + " | ".join(title for _, title in PHASES)
        + " | load average |\n|---|"
        + "---:|" * len(PHASES)
        + "---|\n"
    )
    database = [r for r in results if r["scenario"].startswith("pg-")]
    rows = "".join(
        f"| {r['fault']} | "
        + " | ".join(
            "-" if r["phases_s"].get(key) is None else str(r["phases_s"][key]) for key, _ in PHASES
        )
        + f" | {r['load_average']} |\n"
        for r in database
    )
    return head + rows


@dataclass
class Run:
    started: str
    seconds: float
    results: list[dict[str, Any]]


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--out", type=Path, default=DEPLOY / "results")
    args = parser.parse_args(argv)
    cluster = Cluster.from_env()
    started = time.monotonic()
    run = Run(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), 0.0, [])
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only:
        run.results.append(await scenario(cluster, name))
        # Written after each scenario: a run cut short keeps what it measured.
        run.seconds = round(time.monotonic() - started, 1)
        (args.out / "chaos.json").write_text(json.dumps(asdict(run), indent=2) + "\n")
        (args.out / "chaos.md").write_text(
            f"# make chaos, {run.started} ({run.seconds} s)\n\n{markdown(run.results)}"
        )
    results = run.results
    print(markdown(results))
    bad = [
        r["scenario"]
        for r in results
        if r["lost"]
        or r["duplicates"]
        or r["read_your_writes_violated"]
        or not r["streams_exact"]
        or r["relayed_missing"]
        or r["relayed_duplicates"]
        or not r["relayed_in_order"]
        or r["tags_view_count"] != r["stored_posts"]
    ]
    if bad:
        log(f"posts lost, duplicated, unread, or not streamed or relayed once in: {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
