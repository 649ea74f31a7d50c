"""The HTTP server ``tagfeed serve`` runs: granian, with the request-head bounds of the
settings (docs/reliability.md, "Hostile input").

Granian (Rust: hyper and tokio) parses HTTP and moves bytes outside the interpreter; every
worker is a process of its own, running the app on uvloop over ASGI (or RSGI,
``TAGFEED_SERVER_INTERFACE``). Measured against uvicorn (httptools, uvloop) on this app:
docs/performance.md, "Server: granian".

The bounds are granian's public settings, enforced by hyper before any Python runs:

- ``TAGFEED_READ_TIMEOUT`` is ``http1_header_read_timeout``: a connection must have sent a
  whole request head this long after it opened, or after its previous response. Otherwise
  it is closed without an answer (hyper sends none). So it is also the keep-alive
  timeout: an idle connection is closed after it.
- ``TAGFEED_MAX_HEADER_BYTES`` is ``http1_buffer_size``: a head (request line and headers)
  that does not fit gets a 431 with an empty body, and the connection is closed, as soon as
  the buffer is full: a header without end costs at most that much memory.
- hyper allows at most 100 header fields (a fixed limit): more get the same 431.
- A request hyper cannot parse gets a 400 with an empty body, and a close.

These answers come from hyper, not the app: they cannot be problem+json and carry no
``X-Request-ID`` (docs/api.md, "Refusals before the app"). The body is bounded by the app
(``routes._read_body``: size and ``TAGFEED_READ_TIMEOUT``), and an answer sent before the
body was read (403, 413, 415 ...) closes the connection (hyper does not read the rest).
"""

import multiprocessing
import socket
import time

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops
from granian.http import HTTP1Settings
from granian.log import LogLevels

from tagfeed.server.plan import ServerPlan

APP = "tagfeed.api.app:app_from_environment"
BACKLOG = 1024  # granian's default listen backlog
# hyper's answer to a request line it cannot parse: the knock's answer, from the server
# alone (the app never sees it, so it leaves no access-log line and no metric).
_KNOCK = b"KNOCK\r\n\r\n"


def http1_settings(plan: ServerPlan) -> HTTP1Settings:
    """The request-head bounds of the plan as granian's HTTP/1 settings."""
    return HTTP1Settings(
        header_read_timeout=round(plan.read_timeout * 1000),
        max_buffer_size=plan.max_header_bytes,
    )


def serve(plan: ServerPlan) -> None:
    """Run the server ``tagfeed serve`` runs; return once it has stopped (SIGTERM, SIGINT)."""
    # Workers are fresh interpreters (spawned, not forked): each reads the settings
    # from the environment once and imports only what serving needs (not this command's
    # migration tooling), and no thread of this process (the log writer) is forked half-way.
    multiprocessing.set_start_method("spawn", force=True)
    Granian(
        APP,
        factory=True,
        address=plan.host,
        port=plan.port,
        # RSGI serves the route table without the ASGI glue (api/rsgi_front.py), but
        # without the slow stream client's bound (config.py): ASGI unless asked.
        interface=Interfaces.RSGI if plan.interface == "rsgi" else Interfaces.ASGI,
        workers=plan.workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=http1_settings(plan),
        # Granian handles at most `backpressure` requests at once in a worker, and a live
        # stream is a request that lasts: its default (the backlog, 1,024) would hold every
        # request behind the 1,025th open stream. Room for every stream a worker allows
        # (TAGFEED_STREAM_MAX_CLIENTS, then 503s) and a backlog of ordinary requests besides.
        backpressure=plan.stream_max_clients + BACKLOG,
        log_level=LogLevels.warning,  # our middleware logs one JSON line per request
        log_access=False,
        # A worker that dies (SIGKILL, out of memory) is replaced at once, as uvicorn did;
        # one that dies again within 5.5 s of that stops the server (granian's rule).
        respawn_failed_workers=True,
        # On SIGTERM a worker stops accepting, lets the requests it has read finish (each
        # bounded by TAGFEED_DB_TIMEOUT, a body by TAGFEED_READ_TIMEOUT; live streams are
        # ended at once, server/shutdown.py), then runs the app's lifespan shutdown. One
        # still alive well after that is killed.
        workers_kill_timeout=int(plan.db_timeout + plan.read_timeout) + 5,
    ).serve()


def wait_until_serving(host: str, port: int, pause: float = 0.05) -> None:
    """Return once a worker answers on ``host:port``. The port accepts connections as soon
    as granian's main process binds it, before any worker has built the app, so a
    connection alone proves nothing: the knock is a request line hyper refuses by itself
    (400), which it answers only from a worker that serves."""
    # a wildcard address is listened on, not connected to: knock on loopback instead
    wildcard = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # noqa: S104
    target = wildcard.get(host, host)
    while True:
        try:
            with socket.create_connection((target, port), timeout=1) as sock:
                sock.sendall(_KNOCK)
                sock.settimeout(60)
                if sock.recv(16).startswith(b"HTTP/"):
                    return
        except OSError:
            pass
        time.sleep(pause)
