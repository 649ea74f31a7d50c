"""When each phase of a database failover happened, from the engines' own records, so
the chaos table can say where the seconds of a write outage went.

    watch = LeaderWatch.start()          etcd's leader key, as etcd tells it (a watch)
    ... the fault ...
    phases = failover_phases(fault_wall, watch, gateway)

Sources, all read with docker (only 127.0.0.1 is ever contacted from the host):

- the leader key: ``etcdctl watch`` on etcd1, each event stamped when its line arrives
  here (etcd delivers watch events within milliseconds): DELETE when the dead primary's
  lease ran out, PUT when a standby took the key;
- promotion and the synchronous standby: the new primary's postgres log lines, stamped
  by docker (``docker logs --timestamps``: the host's clock, as ``time.time()`` here);
- routing: the gateway HAProxy's "Server postgres/pgN is UP" line, stamped by docker;
- the fence: its "released pgN's leader key" line (deploy/fence/fence.py), stamped by docker.

Each phase is seconds after the fault, or None when its record was not found.
"""

import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from tests.cluster.cluster import container

LEADER_KEY = "/service/tagfeed/leader"
PG_NODES = ("pg1", "pg2", "pg3")


@dataclass
class LeaderWatch:
    """``etcdctl watch`` of the leader key in the background: (wall time, event, value)."""

    process: subprocess.Popen[str]
    events: list[tuple[float, str, str]] = field(default_factory=list)

    @classmethod
    def start(cls) -> "LeaderWatch":
        process = subprocess.Popen(
            ["docker", "exec", container("etcd1"), "etcdctl", "watch", LEADER_KEY],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        watch = cls(process)
        threading.Thread(target=watch._read, daemon=True).start()
        return watch

    def _read(self) -> None:
        # Lines come as: PUT / key / value, or DELETE / key.
        assert self.process.stdout is not None
        kind = ""
        for raw in self.process.stdout:
            line = raw.strip()
            now = time.time()
            if line in {"PUT", "DELETE"}:
                kind = line
                if kind == "DELETE":
                    self.events.append((now, kind, ""))
            elif line != LEADER_KEY and kind == "PUT":
                self.events.append((now, kind, line))
                kind = ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def first(self, kind: str, after: float) -> tuple[float, str] | None:
        for at, seen, value in self.events:
            if seen == kind and at >= after:
                return at, value
        return None


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z (.*)$")


def log_lines(service: str, since: float) -> list[tuple[float, str]]:
    """A container's log lines since ``since`` (wall time), each with docker's stamp."""
    # docker logs writes the container's stderr to its own stderr: both, in one stream.
    try:
        out = subprocess.run(
            ["docker", "logs", "--timestamps", "--since", f"{since - 1:.3f}", container(service)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
            timeout=30,
        ).stdout
    except subprocess.TimeoutExpired:
        return []
    lines: list[tuple[float, str]] = []
    for raw in out.splitlines():
        match = _STAMP.match(raw)
        if not match:
            continue
        whole, fraction, text = match.groups()
        at = datetime.fromisoformat(whole + "+00:00").timestamp() + float(fraction or 0)
        if at >= since:
            lines.append((at, text))
    return lines


def first_line(service: str, since: float, pattern: str) -> float | None:
    wanted = re.compile(pattern)
    for at, text in log_lines(service, since):
        if wanted.search(text):
            return at
    return None


def _offset(at: float | None, fault: float) -> float | None:
    return None if at is None else round(at - fault, 2)


def failover_phases(
    fault: float, watch: LeaderWatch, gateway: str | None, old: str
) -> dict[str, object]:
    """The phases of a failover after a fault at wall time ``fault``: the leader key
    released and taken, the promotion, the new synchronous standby, the gateway routing
    to the new primary. Within one fault, the node that took the key is the one to read;
    when that is the ``old`` primary (restarted, it took its own key back), its postgres
    was restarted in place rather than a standby promoted."""
    released = watch.first("DELETE", fault)
    taken = watch.first("PUT", fault)
    phases: dict[str, object] = {
        "leader_key_released": _offset(released and released[0], fault),
        "leader_key_taken": _offset(taken and taken[0], fault),
        "new_primary": taken and taken[1],
    }
    node = taken[1] if taken else None
    if node in PG_NODES:
        phases["promoted" if node != old else "restarted"] = _offset(
            first_line(node, fault, r"database system is ready to accept connections"), fault
        )
        phases["sync_standby"] = _offset(
            first_line(node, fault, r"is now a synchronous standby"), fault
        )
        if gateway is not None:
            phases["routed"] = _offset(
                first_line(gateway, fault, rf"Server postgres/{node} is UP"), fault
            )
    return phases


def restart_phases(fault: float, node: str, gateway: str | None) -> dict[str, object]:
    """The phases of a postgres restarted in place by its Patroni (the node keeps the
    leader key): crash recovery done, the synchronous standby back, routing back."""
    phases: dict[str, object] = {
        "promoted": None,
        "restarted": _offset(
            first_line(node, fault, r"database system is ready to accept connections"), fault
        ),
        "sync_standby": _offset(first_line(node, fault, r"is now a synchronous standby"), fault),
    }
    if gateway is not None:
        phases["routed"] = _offset(
            first_line(gateway, fault, rf"Server postgres/{node} is UP"), fault
        )
    return phases


def fence_released(fault: float) -> float | None:
    """Seconds after the fault at which the fence released a leader key (its log line,
    stamped by docker), or None if it did not."""
    return _offset(first_line("fence", fault, r"^fence: released \S+ leader key"), fault)
