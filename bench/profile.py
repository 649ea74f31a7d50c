"""Optional: a py-spy flame graph of the server during one scenario (``--profile``)."""

import shutil
import subprocess
from pathlib import Path


def start_profile(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes] | None:
    """Start ``py-spy record`` on ``pid`` and its worker processes for ``seconds``; None
    (and a message) if py-spy is not installed. Wait on the result to get the SVG."""
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        print("bench: --profile needs py-spy (pip install py-spy); not profiling")
        return None
    command = [
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--duration",
        str(max(1, round(seconds))),
        "--output",
        str(output),
        "--nonblocking",  # do not pause the server to sample it: the figures stay honest
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def finish_profile(process: subprocess.Popen[bytes] | None, output: Path) -> Path | None:
    if process is None:
        return None
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None
    return output if process.returncode == 0 and output.exists() else None
