"""The cluster's state as the chaos run reads it, with docker (only 127.0.0.1 is ever
contacted from the host): Patroni's members, the VIP's holder, containers' health."""

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from tests.cluster.cluster import PROJECT, container, docker

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
