"""granian's main process, as ``tagfeed serve`` starts it: ``python -m
tagfeed.server.launch PLAN``, exec'd by the command (same pid, same stdout and stderr,
same signals) once it has checked the settings, the port and migrated.

This process lives as long as the server and serves no request: it spawns and watches
the workers, writes the ``started`` line and, with a metrics port, serves ``/metrics``. So
it imports granian, the log writer and, only with metrics to share, prometheus-client:
not the settings' pydantic models, the JWT keys or the app, which the workers import for
themselves (~27 MB less than when the command itself became this process;
docs/performance.md, "Streams: where the memory goes").
"""

import sys
import threading

from tagfeed.server.logs import log_event
from tagfeed.server.plan import ServerPlan
from tagfeed.server.serving import serve, wait_until_serving


def _announce_when_serving(plan: ServerPlan) -> None:
    """Log ``started`` once a worker answers on the port, naming the database and the
    address. granian offers no hook for that moment (its main process binds the port
    before any worker has built the app), so a thread of this (main) process knocks
    (``serving.wait_until_serving``); with several workers, this line is written once."""
    wait_until_serving(plan.host, plan.port)
    host = plan.host if ":" not in plan.host else f"[{plan.host}]"
    log_event(
        plan.log_level,
        "info",
        "started",
        address=f"http://{host}:{plan.port}",
        database=plan.database,
        auth=plan.auth,
        workers=plan.workers,
    )


def main(argv: list[str]) -> int:
    (encoded,) = argv
    plan = ServerPlan.decode(encoded)
    threading.Thread(
        target=_announce_when_serving, args=(plan,), name="announce", daemon=True
    ).start()
    # Every worker is a process of its own, even with one: a metrics port (served by this
    # process) needs their snapshots as much as several workers do.
    shared = plan.metrics and (plan.workers > 1 or plan.metrics_port is not None)
    if not shared and plan.metrics_port is None:
        serve(plan)
        return 0
    from tagfeed.server.metrics_share import metrics_for_serving  # prometheus-client

    with metrics_for_serving(shared, plan.metrics_port, plan.host):
        serve(plan)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
