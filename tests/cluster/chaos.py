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

from tests.cluster.cluster import DEPLOY, Cluster, container, docker
from tests.cluster.followers import FOLLOWERS, Progress, holder, stream_ids, tag_count
from tests.cluster.load import READERS, WRITERS, Load, log, log_position, longest_gap, verify
from tests.cluster.report import load_average, markdown
from tests.cluster.state import (
    ADDRESSES,
    NETWORK,
    etcd_whole,
    gateway_whole,
    healthy,
    patroni_whole,
    primary,
    running,
    vip_holder,
    wait_for,
)
from tests.cluster.streams import StreamClient, caught_up
from tests.cluster.timeline import LeaderWatch, failover_phases, fence_released, restart_phases

BEFORE = 5.0  # seconds of load before the fault
AFTER = 15.0  # seconds of load once the cluster is whole again
STREAMS = 3  # live streams of the load's tag


# -- the cluster's state, read with docker ---------------------------------------------


# -- the load --------------------------------------------------------------------------


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
    # What the fence (deploy/fence) must do: release the leader key (True: the node is
    # off), leave it to its lease (False: the node runs or restarts), or None (not
    # watched: the fault is elsewhere, or the fence is stopped for it).
    fence: bool | None = None


def failover_of(gateway: str | None, node: str) -> Phases:
    """The phases of a failover away from (or back to) ``node``, as ``Fault.phases``."""
    return lambda at, watch: failover_phases(at, watch, gateway, node)


async def kill_primary() -> Fault:
    """The primary's node is lost (the container killed: Patroni and postgres gone, not
    restarted). The fence sees the engine report it stopped and releases its key."""
    node = await asyncio.to_thread(primary) or "pg1"
    log(f"docker kill -s KILL {container(node)} (the primary)")
    struck = now()
    await adocker("kill", "-s", "KILL", container(node))

    gateway = await asyncio.to_thread(vip_holder)

    async def heal() -> None:
        await wait_for(lambda: primary() not in {None, node}, 60)
        log(f"new primary {await asyncio.to_thread(primary)}; docker start {container(node)}")
        await adocker("start", container(node))

    return Fault(node, heal, patroni_whole, failover_of(gateway, node), struck, fence=True)


async def kill_primary_unfenced() -> Fault:
    """The same loss with the fence stopped: what the lease alone costs (Patroni's ttl),
    measured in the same run for the comparison."""
    log(f"docker stop {container('fence')} (the fence is down for this fault)")
    await adocker("stop", container("fence"))
    fault = await kill_primary()
    healed = fault.heal

    async def heal() -> None:
        await healed()
        log(f"docker start {container('fence')}")
        await adocker("start", container("fence"))

    fault.heal, fault.fence = heal, None
    return fault


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

    # The engine reports the container restarting, not stopped: the fence leaves the key.
    return Fault(node, heal, patroni_whole, failover_of(gateway, node), struck, fence=False)


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
    return Fault(
        node, heal, patroni_whole, lambda at, _: restart_phases(at, node, gateway), struck, False
    )


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

    # Unreachable is not off: the container runs, so the fence must leave the key to its
    # lease (a fence that released it here would make two primaries possible).
    return Fault(node, heal, patroni_whole, failover_of(gateway, node), struck, fence=False)


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
    "pg-primary-killed": ("PostgreSQL primary SIGKILLed (node lost), fenced", kill_primary),
    "pg-primary-killed-unfenced": (
        "PostgreSQL primary SIGKILLed (node lost), fence stopped",
        kill_primary_unfenced,
    ),
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
    fenced = fence_released(fault_wall)
    if fenced is not None:
        phases["fenced"] = fenced
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
        # Whether the fence released the leader key, and whether it should have.
        "fence_released": fenced is not None,
        "fence_expected": fault.fence,
        "load_average": load_average(),
    }
    log(json.dumps(result))
    return result


async def followers_caught_up(progress: Progress, within: float) -> None:
    """Wait until the relay and the tags reducer have reached the head."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if progress.lag_at_end("relay") == 0 and progress.lag_at_end("tags") == 0:
            return
        await asyncio.sleep(0.5)


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
        or (r["fence_expected"] is not None and r["fence_released"] != r["fence_expected"])
    ]
    if bad:
        log(
            "posts lost, duplicated, unread, or not streamed or relayed once, or the fence"
            f" acted where it must not (or did not where it must) in: {bad}"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
