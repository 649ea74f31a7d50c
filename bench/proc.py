"""What a server costs, from /proc, over a process and all its descendants (granian's main
process, its workers, multiprocessing's resource tracker): resident memory (VmRSS) of each
process and of them all, sampled every 0.5 s by a background thread with the maximum kept
per named phase, and CPU time."""

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

PROC = Path("/proc")


def _stats(proc: Path) -> dict[int, list[str]]:
    """pid -> the fields of /proc/pid/stat after "(comm)", i.e. from field 3 (state) on."""
    stats: dict[int, list[str]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended while we looked
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        stats[int(entry.name)] = stat.rpartition(")")[2].split()
    return stats


def _tree(root: int, stats: dict[int, list[str]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def tree_cpu_seconds(root: int, proc: Path = PROC) -> float:
    """User + system CPU seconds used so far by ``root`` and its live descendants."""
    stats = _stats(proc)
    ticks = sum(int(stats[pid][11]) + int(stats[pid][12]) for pid in _tree(root, stats))
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds(proc: Path = PROC) -> float:
    """CPU seconds every core of the machine has spent busy so far (``/proc/stat``: all
    but idle and iowait), so a run can say how much of the machine was left: on 2 cores,
    2.0 busy means no second worker can add anything."""
    fields = (proc / "stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def tree_runqueue_wait_seconds(root: int, proc: Path = PROC) -> float:
    """Seconds the threads of ``root`` and its live descendants have spent runnable but
    waiting for a CPU (``/proc/PID/task/TID/schedstat``, second field, in ns): how much a
    busy machine held them back, as against waiting on a lock, a disk or a peer."""
    waited = 0
    for pid in _tree(root, _stats(proc)):
        for task in (proc / str(pid) / "task").glob("*"):
            try:
                waited += int((task / "schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue  # it ended meanwhile, or the kernel keeps no schedstats
    return waited / 1e9


def _vmrss_kib(status: str) -> int:
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0  # a zombie or kernel thread has none


# How a worker is told from the server's other processes: granian starts its workers with
# multiprocessing's "spawn" (``tagfeed.server.serving``), whose children run
# ``spawn_main(...) --multiprocessing-fork``; the resource tracker it also starts does not.
WORKER_MARK = b"--multiprocessing-fork"
TRACKER_MARK = b"multiprocessing.resource_tracker"


@dataclass(frozen=True)
class ProcessRss:
    pid: int
    role: str  # "main" (the root), "worker", "resource_tracker" or "other"
    mb: float  # MB (2**20 bytes) resident


def _role(root: int, pid: int, command: bytes) -> str:
    if pid == root:
        return "main"
    if WORKER_MARK in command.split(b"\0"):
        return "worker"
    return "resource_tracker" if TRACKER_MARK in command else "other"


def tree_rss(root: int, proc: Path = PROC) -> list[ProcessRss]:
    """The resident memory of ``root`` and of each of its live descendants now, with
    each one's role; empty if it is gone."""
    found = []
    for pid in _tree(root, _stats(proc)):
        try:
            kib = _vmrss_kib((proc / str(pid) / "status").read_text())
            command = (proc / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue  # it ended meanwhile
        found.append(ProcessRss(pid, _role(root, pid, command), kib / 1024))
    return found


def tree_rss_mb(root: int, proc: Path = PROC) -> float:
    """MB (2**20 bytes) resident in ``root`` and its descendants now; 0 if it is gone."""
    return sum(p.mb for p in tree_rss(root, proc))


def tree_rss_by_role(root: int, proc: Path = PROC) -> dict[str, float]:
    """MB resident now in ``root`` and its descendants, summed by role: the budget of
    streams is per process, so the worker's own RSS is told apart."""
    by_role: dict[str, float] = {}
    for process in tree_rss(root, proc):
        by_role[process.role] = by_role.get(process.role, 0.0) + process.mb
    return by_role


def largest_worker_mb(processes: list[ProcessRss]) -> float:
    """The RSS of the largest worker among ``processes``; 0 if there is none."""
    return max((p.mb for p in processes if p.role == "worker"), default=0.0)


class RssSampler:
    """``with RssSampler(pid) as rss: rss.phase("x"); ...``: ``peaks`` maps each phase to
    the largest sample taken during it of all the processes together, ``worker_peaks`` to
    the largest sample of any one worker (the issue's budget is per worker), and
    ``at_peak`` to the processes of the sample that gave ``peaks``; ``last`` is the
    latest sample of them all."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self._pid = pid
        self._interval = interval
        self._phase = "start"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self.peaks: dict[str, float] = {}
        self.worker_peaks: dict[str, float] = {}
        self.at_peak: dict[str, list[ProcessRss]] = {}
        self.last = 0.0

    def phase(self, name: str) -> None:
        """Start attributing samples to ``name`` (and take one now)."""
        with self._lock:
            self._phase = name
        self.sample()

    def sample(self) -> float:
        processes = tree_rss(self._pid)
        rss = sum(p.mb for p in processes)
        worker = largest_worker_mb(processes)
        with self._lock:
            self.last = rss
            phase = self._phase
            if rss >= self.peaks.get(phase, 0.0):
                self.peaks[phase] = rss
                self.at_peak[phase] = processes
            self.worker_peaks[phase] = max(self.worker_peaks.get(phase, 0.0), worker)
        return rss

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def __enter__(self) -> "RssSampler":
        self.sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
