"""Running wrk and reading what it prints.

``run_wrk`` drives one URL with ``lua/replay.lua`` and returns a ``WrkResult``.
``parse_wrk_output`` prefers the ``BENCH_RESULT {json}`` line that replay.lua's ``done()``
prints (exact percentiles and error counts) and otherwise reads wrk's own ``--latency``
summary, so it also understands the output of a plain ``wrk --latency`` run.
"""

import json
import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

LUA_DIR = Path(__file__).parent / "lua"
REPLAY = LUA_DIR / "replay.lua"
_MARK = "BENCH_RESULT "
_UNITS_US = {"us": 1.0, "ms": 1_000.0, "s": 1_000_000.0, "m": 60_000_000.0, "h": 3.6e9}


class WrkError(RuntimeError):
    """wrk failed to run, or printed nothing we can read."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    status_errors: int  # responses that were not 2xx/3xx
    socket_errors: int  # connect + read + write + timeout

    @property
    def errors(self) -> int:
        return self.status_errors + self.socket_errors

    def to_json(self) -> dict[str, float | int]:
        return {**asdict(self), "errors": self.errors}


def _duration_us(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if match is None:
        raise WrkError(f"unreadable duration {text!r}")
    return float(match[1]) * _UNITS_US[match[2]]


def _from_mark(line: str) -> WrkResult:
    data = json.loads(line[len(_MARK) :])
    seconds = data["duration_us"] / 1e6
    socket = sum(data[k] for k in ("connect_errors", "read_errors", "write_errors"))
    return WrkResult(
        requests=data["requests"],
        seconds=seconds,
        rps=data["requests"] / seconds if seconds else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        status_errors=data["status_errors"],
        socket_errors=socket + data["timeout_errors"],
    )


def _from_text(output: str) -> WrkResult:
    def find(pattern: str) -> re.Match[str] | None:
        return re.search(pattern, output, re.MULTILINE)

    done = find(r"^\s*(\d+) requests in ([\d.]+\w+),")
    rps = find(r"^Requests/sec:\s*([\d.]+)")
    p50 = find(r"^\s*50%\s+(\S+)")
    p99 = find(r"^\s*99%\s+(\S+)")
    if not (done and rps and p50 and p99):
        raise WrkError("wrk output has no --latency summary:\n" + output[-2000:])
    socket = find(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    status = find(r"Non-2xx or 3xx responses: (\d+)")
    return WrkResult(
        requests=int(done[1]),
        seconds=_duration_us(done[2]) / 1e6,
        rps=float(rps[1]),
        p50_ms=_duration_us(p50[1]) / 1000,
        p99_ms=_duration_us(p99[1]) / 1000,
        status_errors=int(status[1]) if status else 0,
        socket_errors=sum(int(n) for n in socket.groups()) if socket else 0,
    )


def parse_wrk_output(output: str) -> WrkResult:
    """The figures of one wrk run; raises ``WrkError`` if there are none."""
    for line in output.splitlines():
        if line.startswith(_MARK):
            return _from_mark(line)
    return _from_text(output)


def run_wrk(
    url: str,
    requests_file: Path,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    timeout_s: int = 5,
) -> WrkResult:
    """Drive ``url`` for ``seconds`` with the requests in ``requests_file`` (see replay.lua).
    Costs ``seconds`` plus wrk's start-up; raises ``WrkError`` if wrk fails."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s}s",
        "--latency",
        "-s",
        str(REPLAY),
        url,
        "--",
        str(requests_file),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WrkError(f"wrk did not run: {exc}") from exc
    if done.returncode != 0:
        raise WrkError(f"wrk exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return parse_wrk_output(done.stdout)
