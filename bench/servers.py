"""The processes under test: ``tagfeed serve``, the bare peer and the nginx ceiling, each a
context manager
that starts the process in its own session, waits until it answers, and on exit stops the
whole process group (SIGTERM, then SIGKILL after a grace period), whatever happened."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tagfeed.config import settings_from_values
from tagfeed.server.plan import ServerPlan
from tagfeed.server.serving import http1_settings

HOST = "127.0.0.1"


class ServerError(RuntimeError):
    """A server did not start, or died."""


@dataclass(frozen=True)
class Running:
    process: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:PORT
    log: Path  # its stdout and stderr

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise ServerError(f"exited with {process.returncode} before answering:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own loopback URL
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise ServerError(f"{url} did not answer within {timeout:.0f} s")


def stop_group(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM to the process's group (started with ``start_new_session``), SIGKILL after
    ``grace`` seconds; a no-op if it has exited."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    except ProcessLookupError:
        pass


@contextmanager
def _process(
    command: list[str], env: dict[str, str], log: Path, ready_url: str, timeout: float
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_ready(process, ready_url, log, timeout)
        yield process
    finally:
        stop_group(process)


@contextmanager
def tagfeed_server(
    database_url: str, workers: int, log: Path, command: Path | None = None
) -> Iterator[Running]:
    """``tagfeed serve`` on a free loopback port (``command``: the ``tagfeed`` of another
    tree's venv; by default this venv's). Extra TAGFEED_* variables of the caller's
    environment (e.g. TAGFEED_SQLITE_SYNCHRONOUS) pass through; the log level is warning so
    the per-request log does not cost the server CPU."""
    beside = Path(sys.executable).parent / "tagfeed"  # the venv the bench runs in
    tagfeed = str(beside) if beside.exists() else shutil.which("tagfeed") or "tagfeed"
    if command is not None:
        tagfeed = str(command)
    port = free_port()
    env = {
        **os.environ,
        "TAGFEED_DATABASE_URL": database_url,
        "TAGFEED_LOG_LEVEL": "warning",
    }
    serve = [tagfeed, "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    url = f"http://{HOST}:{port}"
    with _process(serve, env, log, f"{url}/healthz", timeout=120) as process:
        yield Running(process, url, log)


@contextmanager
def server_process(
    command: list[str], env: dict[str, str], log: Path, url: str
) -> Iterator[Running]:
    """Any server process answering ``url/healthz`` once ready: started, waited for, stopped."""
    with _process(command, env, log, f"{url}/healthz", timeout=60) as process:
        yield Running(process, url, log)


@contextmanager
def app_server(
    target: str, interface: str, workers: int, log: Path, env: dict[str, str] | None = None
) -> Iterator[Running]:
    """A bench app (``target``, e.g. ``bench.peer:app``) on the server ``tagfeed serve``
    runs: granian with uvloop, HTTP/1 only, tagfeed's default head bounds, the same number
    of workers, no access log (``tagfeed.server.serving``); ``interface`` asgi or rsgi (a
    ``module:function`` RSGI target is a factory)."""
    port = free_port()
    root = Path(__file__).resolve().parent.parent  # so that ``bench.*`` imports
    http1 = http1_settings(ServerPlan.of(settings_from_values(), HOST, port, workers))
    command = [
        str(Path(sys.executable).parent / "granian"), target,
        "--interface", interface, "--host", HOST, "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "1", "--no-ws", "--log-level", "warning",
        "--http1-buffer-size", str(http1.max_buffer_size),
        "--http1-header-read-timeout", str(http1.header_read_timeout),
    ]  # fmt: skip
    if target in _FACTORIES:
        command.append("--factory")
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": str(root)}
    with server_process(command, full_env, log, f"http://{HOST}:{port}") as running:
        yield running


_FACTORIES = {"bench.rsgi_apps:floor"}


@contextmanager
def peer_server(workers: int, log: Path) -> Iterator[Running]:
    """The bare peer (``bench/peer.py``) on granian's ASGI, as tagfeed is served."""
    with app_server("bench.peer:app", "asgi", workers, log) as running:
        yield running


_NGINX_CONF = """\
worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen {host}:{port};
        location / {{
            default_type application/json;
            return 201 '{body}';
        }}
        location = /healthz {{ return 200; }}
    }}
}}
"""
# The size and shape of a tagfeed message, so the ceiling moves as many bytes.
_NGINX_BODY = (
    '{"id":"019ac5a2-7b1e-7cc0-9f6a-2b1d4c3e5f60","text":"alpha bravo charlie delta #1",'
    '"tag":"tag00001","user_id":"u0001","created_at":"2026-11-28T12:00:00.000000Z"}'
)


@contextmanager
def nginx_server(workers: int, log: Path) -> Iterator[Running]:
    """Debian's nginx, with its own configuration in a temporary directory, answering every
    request with a fixed 201 JSON message: the ceiling of this machine's HTTP stack + wrk."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as prefix:
        conf = Path(prefix) / "nginx.conf"
        conf.write_text(
            _NGINX_CONF.format(
                workers=workers, prefix=prefix, host=HOST, port=port, body=_NGINX_BODY
            )
        )
        command = [nginx, "-p", prefix, "-c", str(conf), "-e", f"{prefix}/error.log"]
        url = f"http://{HOST}:{port}"
        with _process(command, dict(os.environ), log, f"{url}/healthz", timeout=30) as process:
            yield Running(process, url, log)
