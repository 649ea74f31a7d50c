"""Where the CPU goes in a benchmark run through the gateway: each component's CPU time,
read from its containers' cgroups before and after, and the load generator's own.

    python -m tests.cluster.cpu OUT LABEL -- wrk ...

runs the command (its output passes through), then appends to OUT one markdown row: the
cores each component used during the run (CPU seconds / wall seconds) and the total,
which on this 2-core machine cannot exceed 2. Containers are grouped by service name
without its number (api1-3 -> api).
"""

import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from tests.cluster.cluster import PROJECT

GROUPS = ("wrk", "edge", "gw", "api", "pg", "etcd", "nats", "other")
_V1 = Path("/sys/fs/cgroup/cpuacct/docker")
_V2 = Path("/sys/fs/cgroup/system.slice")


def _containers() -> dict[str, str]:
    """Service name -> container id, for the project's running containers."""
    out = subprocess.run(
        [
            "docker",
            "ps",
            "--filter",
            f"label=com.docker.compose.project={PROJECT}",
            "--format",
            '{{.ID}} {{.Label "com.docker.compose.service"}}',
            "--no-trunc",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {service: cid for cid, service in (line.split() for line in out.splitlines() if line)}


def _cpu_seconds(cid: str) -> float:
    """A container's CPU time so far (cgroup v1 cpuacct, or v2 cpu.stat)."""
    v1 = _V1 / cid / "cpuacct.usage"
    if v1.exists():
        return int(v1.read_text()) / 1e9
    stat = (_V2 / f"docker-{cid}.scope" / "cpu.stat").read_text()
    match = re.search(r"^usage_usec (\d+)$", stat, re.M)
    return int(match.group(1)) / 1e6 if match else 0.0


def _group(service: str) -> str:
    name = service.rstrip("0123456789")
    return name if name in GROUPS else "other"


def snapshot() -> dict[str, float]:
    totals: dict[str, float] = {}
    for service, cid in _containers().items():
        group = _group(service)
        totals[group] = totals.get(group, 0.0) + _cpu_seconds(cid)
    return totals


def main(argv: list[str]) -> int:
    out, label, dash, *command = argv
    assert dash == "--", "usage: python -m tests.cluster.cpu OUT LABEL -- COMMAND..."
    before, start = snapshot(), time.monotonic()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, check=False)
    wall = time.monotonic() - start
    after = snapshot()
    mine = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = {g: after.get(g, 0.0) - before.get(g, 0.0) for g in GROUPS if g != "wrk"}
    used["wrk"] = (mine.ru_utime - children.ru_utime) + (mine.ru_stime - children.ru_stime)
    cores = [used.get(g, 0.0) / wall for g in GROUPS]
    with Path(out).open("a") as f:
        row = " | ".join(f"{c:.2f}" for c in cores)
        f.write(f"| {label} | {row} | {sum(cores):.2f} |\n")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
