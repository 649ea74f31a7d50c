"""What ``tagfeed serve`` hands granian's main process (``server/plan.py``): the settings
it needs, through the command line of the launcher, unchanged."""

import sys

from tagfeed.config import settings_from_values
from tagfeed.server.plan import LAUNCHER, ServerPlan, launch_command


def test_the_plan_carries_the_settings_the_main_process_needs_through_its_argv() -> None:
    settings = settings_from_values(
        database_url="sqlite:////tmp/x.db",
        read_timeout=2.5,
        max_header_bytes=12_345,
        stream_max_clients=77,
        db_timeout=3.0,
        log_level="warning",
        metrics_port=9123,
        server_interface="rsgi",
    )
    plan = ServerPlan.of(settings, "::1", 8123, 3)
    argv = launch_command(plan)
    assert argv[:3] == [sys.executable, "-m", LAUNCHER]
    assert ServerPlan.decode(argv[3]) == plan
    assert (plan.host, plan.port, plan.workers) == ("::1", 8123, 3)
    assert (plan.read_timeout, plan.max_header_bytes) == (2.5, 12_345)
    assert (plan.stream_max_clients, plan.db_timeout) == (77, 3.0)
    assert (plan.log_level, plan.metrics_port) == ("warning", 9123)
    assert plan.database == "sqlite:////tmp/x.db"
    assert plan.interface == "rsgi"
    assert ServerPlan.of(settings_from_values(), "h", 1, 1).interface == "asgi"  # the default
