"""Start the real ``tagfeed serve`` process on a free port and speak HTTP to it."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

TAGFEED = str(Path(sys.executable).parent / "tagfeed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log_lines(self) -> list[str]:
        return self.log_path.read_text().splitlines()

    def wait_for_log(self, text: str, within: float = 10.0) -> None:
        """Until a line of the log holds ``text``. ``started`` is written by a thread of
        the main process once a worker answers its own knock, which a loaded machine can
        leave behind the first requests a test makes."""
        deadline = time.monotonic() + within
        while not any(text in line for line in self.log_lines()):
            assert time.monotonic() < deadline, f"no {text!r} in the log within {within:g} s"
            time.sleep(0.05)


def start_server(
    database_url: str,
    log_path: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    wait_for: str = "/readyz",
) -> Server:
    """Start ``tagfeed serve`` and return once ``wait_for`` answers 200 (``/healthz`` for a
    server whose database is meant to be unusable)."""
    port = free_port()
    environment = {**os.environ, "TAGFEED_DATABASE_URL": database_url, **(env or {})}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [TAGFEED, "serve", "--host", "127.0.0.1", "--port", str(port), *extra],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tagfeed serve exited: {log_path.read_text()}")
        try:
            if httpx.get(f"{server.base_url}{wait_for}", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"tagfeed serve did not become ready: {log_path.read_text()}")


def stop_server(server: Server) -> bool:
    """SIGTERM, then True when the process shut down gracefully: it exited by itself
    (granian's main process exits 0 after its graceful shutdown; -15 would be a process
    that re-raised SIGTERM, as uvicorn did) and logged that
    the store was closed."""
    if server.process.poll() is None:
        server.process.terminate()
    try:
        code = server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        raise
    return code in (0, -signal.SIGTERM) and '"event":"stopped"' in server.log_path.read_text()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    running = start_server(database_url, tmp_path / "server.log")
    yield running
    stop_server(running)
