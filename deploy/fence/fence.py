"""The fence: releases Patroni's leader key once the power switch says its node is off.

Patroni's leader key sits on an etcd lease of `ttl` seconds (20, its documented least), and
only the lease's expiry removes the key of a primary that cannot speak: a standby may not
take it before, because a silent primary may still be serving. That wait is the bulk of a
lost node's write outage (docs/deployment.md, "PostgreSQL primary killed: the timeline").
A fence knows more than the standbys: it asks the thing that powers the nodes. Here that is
the Docker engine (a container is a host); on real hosts, the cloud API's instance state or
the IPMI power status. When the engine confirms that the container of the member holding
the leader key is **stopped** (exited or dead; not running, not restarting, not paused), the
fence deletes, in one etcd transaction that holds only if the leader key is still the very
key it read before asking the engine:

- the leader key, so the synchronous standby races at once (Patroni wakes on its deletion);
- the dead member's key (on the same lease), as the lease's expiry would;
- in /sync, the dead primary's name as `leader`, replaced by its synchronous standby's: the
  standby's race (Patroni 3.0 ha.py `is_healthiest_node`) asks every node /sync names for
  its state, and a dead node's REST API costs its 2 s timeout. Who may be promoted is
  unchanged: the synchronous standbys /sync names, which have every acknowledged commit.

It never acts on what it cannot see: a member whose container runs (a network partition, a
hung or slow node), restarts (its service manager brings it back and Patroni takes its own
key again), is paused, or cannot be found or asked (the engine or etcd unreachable, an
unknown name) keeps its lease, which expires as Patroni designs. A fence that is down costs
the lease's 20 s again, never safety.

Triggers: the engine's `die` events for the project's containers, and a poll every
FENCE_INTERVAL seconds in case an event was missed. `fence --check` is the container's
health check: the last round that reached both etcd and the engine is recent.

Settings (environment): FENCE_ETCD_HOSTS (host:port, comma-separated), FENCE_SCOPE_PATH
(Patroni's namespace + scope, /service/tagfeed), FENCE_PROJECT (the compose project whose
containers are the members, by their service name), FENCE_INTERVAL (2), FENCE_HEARTBEAT.
"""

import base64
import json
import os
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Power = Literal["on", "off", "unknown"]


@dataclass(frozen=True)
class Key:
    value: str
    revision: int  # etcd's mod_revision: a transaction compares it


def power_of(states: list[dict[str, Any]]) -> Power:
    """What the engine's `State` of the containers that are one member says of it: "off"
    only for exactly one container, stopped for good (exited or dead: no process of it
    runs); "on" while it runs, restarts or is paused; "unknown" otherwise (no container, two,
    one being created or removed) — and the fence acts only on "off"."""
    if len(states) != 1:
        return "unknown"
    state = states[0]
    if state.get("Running") or state.get("Restarting") or state.get("Paused"):
        return "on"
    if state.get("Status") in {"exited", "dead"}:
        return "off"
    return "unknown"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def release(scope: str, leader: Key, sync: Key | None) -> dict[str, Any]:
    """The etcd transaction (v3 JSON API) that releases ``leader`` (the key's value is
    the member's name) if, and only if, the leader key and /sync are still the ones read."""
    name = leader.value
    compare: list[dict[str, Any]] = [
        {"key": _b64(f"{scope}/leader"), "target": "MOD", "mod_revision": str(leader.revision)},
        {"key": _b64(f"{scope}/leader"), "target": "VALUE", "value": _b64(name)},
    ]
    success: list[dict[str, Any]] = []
    standbys = _sync_standbys(sync, name)
    if sync is not None and standbys:
        compare.append(
            {"key": _b64(f"{scope}/sync"), "target": "MOD", "mod_revision": str(sync.revision)}
        )
        value = json.dumps({"leader": standbys[0], "sync_standby": ",".join(standbys)})
        success.append({"request_put": {"key": _b64(f"{scope}/sync"), "value": _b64(value)}})
    # The leader key last: a standby wakes on its deletion, and etcd delivers a
    # transaction's events in order, so it has seen the others by then.
    success.append({"request_delete_range": {"key": _b64(f"{scope}/members/{name}")}})
    success.append({"request_delete_range": {"key": _b64(f"{scope}/leader")}})
    return {"compare": compare, "success": success}


def _sync_standbys(sync: Key | None, leader: str) -> list[str]:
    """The synchronous standbys /sync names for ``leader`` ([] if it names another)."""
    if sync is None:
        return []
    try:
        state = json.loads(sync.value)
    except ValueError:
        return []
    if not isinstance(state, dict) or state.get("leader") != leader:
        return []
    listed = str(state.get("sync_standby") or "")
    return [s.strip() for s in listed.split(",") if s.strip() and s.strip() != leader]


class Unavailable(Exception):
    """etcd or the engine did not answer: the fence does nothing this round."""


class Etcd:
    """etcd's v3 JSON gateway (what Patroni itself speaks), any member."""

    def __init__(self, hosts: list[str], timeout: float = 2.0) -> None:
        self.hosts = hosts
        self.timeout = timeout

    def _call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        errors = []
        for host in self.hosts:
            request = urllib.request.Request(
                f"http://{host}/v3/{method}",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            try:
                # http:// only, to the configured members (S310 is about arbitrary URLs).
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    answer: dict[str, Any] = json.load(response)
                    return answer
            except (OSError, ValueError) as exc:
                errors.append(f"{host}: {exc}")
        raise Unavailable("etcd: " + "; ".join(errors))

    def get(self, key: str) -> Key | None:
        kvs = self._call("kv/range", {"key": _b64(key)}).get("kvs") or []
        if not kvs:
            return None
        kv = kvs[0]
        return Key(base64.b64decode(kv.get("value", "")).decode(), int(kv["mod_revision"]))

    def txn(self, body: dict[str, Any]) -> bool:
        return bool(self._call("kv/txn", body).get("succeeded"))


class Engine:
    """The Docker engine as the power switch: the members are the project's containers,
    named by their compose service."""

    def __init__(self, project: str) -> None:
        import docker  # Debian's python3-docker, in the fence's image only

        self.project = project
        self.client = docker.from_env(timeout=5)
        # The event stream holds a connection of its own, read by another thread.
        self.events = docker.from_env()

    def power(self, member: str) -> tuple[Power, str]:
        """(power, what the engine said, for the log)."""
        try:
            containers = self.client.containers.list(
                all=True,
                filters={
                    "label": [
                        f"com.docker.compose.project={self.project}",
                        f"com.docker.compose.service={member}",
                    ]
                },
            )
        except Exception as exc:  # the SDK's errors and requests' alike: nothing known
            raise Unavailable(f"docker: {exc}") from exc
        states = [c.attrs.get("State", {}) for c in containers]
        said = "; ".join(
            f"{c.name} {s.get('Status')} exit {s.get('ExitCode')} at {s.get('FinishedAt')}"
            for c, s in zip(containers, states, strict=True)
        )
        return power_of(states), said or "no container"

    def watch_deaths(self, wake: threading.Event) -> None:
        """Set ``wake`` on each `die` of a container of the project (forever)."""
        while True:
            try:
                for _ in self.events.events(
                    decode=True,
                    filters={
                        "type": "container",
                        "event": "die",
                        "label": f"com.docker.compose.project={self.project}",
                    },
                ):
                    wake.set()
            except Exception as exc:  # reconnect; the poll covers the gap
                say(f"docker events: {exc}; again in 1 s")
            wake.set()
            time.sleep(1)


def say(message: str) -> None:
    print(f"fence: {message}", flush=True)


def check(etcd: Etcd, engine: Engine, scope: str, last: dict[str, str]) -> None:
    """One round: the leader key, then the engine's word on its node, then the release.
    The key is read before the engine is asked, so a node that came back and took its key
    again meanwhile fails the transaction's comparison."""
    leader = etcd.get(f"{scope}/leader")
    if leader is None:
        return
    power, said = engine.power(leader.value)
    if power != "off":
        if last.get(leader.value) != said:  # once per change, not every round
            say(f"{leader.value} holds the leader key; its node is {power} ({said}): left alone")
            last[leader.value] = said
        return
    sync = etcd.get(f"{scope}/sync")
    if etcd.txn(release(scope, leader, sync)):
        say(
            f"released {leader.value}'s leader key (revision {leader.revision}): the engine"
            f" confirms its node is off ({said}); /sync was {sync and sync.value}"
        )
    else:
        say(f"{leader.value}'s node is off ({said}) but the keys changed meanwhile: next round")
    last.pop(leader.value, None)


def main() -> int:
    heartbeat = Path(os.environ.get("FENCE_HEARTBEAT", "/run/fence.alive"))
    interval = float(os.environ.get("FENCE_INTERVAL", "2"))
    if sys.argv[1:] == ["--check"]:
        # Healthy: a round reached etcd and the engine within three intervals.
        alive = heartbeat.exists() and time.time() - heartbeat.stat().st_mtime < 3 * interval + 2
        return 0 if alive else 1
    hosts = [h.strip() for h in os.environ["FENCE_ETCD_HOSTS"].split(",") if h.strip()]
    scope = os.environ.get("FENCE_SCOPE_PATH", "/service/tagfeed").rstrip("/")
    etcd = Etcd(hosts)
    engine = Engine(os.environ["FENCE_PROJECT"])
    wake = threading.Event()
    threading.Thread(target=engine.watch_deaths, args=(wake,), daemon=True).start()
    say(f"watching {scope}/leader on {','.join(hosts)}; power from docker ({engine.project})")
    last: dict[str, str] = {}
    while True:
        wake.clear()
        try:
            check(etcd, engine, scope, last)
            heartbeat.touch()
        except Unavailable as exc:
            say(f"{exc}: nothing done this round")
        wake.wait(interval)


if __name__ == "__main__":
    sys.exit(main())
