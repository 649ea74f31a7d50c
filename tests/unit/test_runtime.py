"""The server's factory tunes the garbage collector of its own process (server/runtime.py);
checked in a child process, so that this one keeps its defaults."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tagfeed.server.runtime import SWITCH_INTERVAL_SECONDS, YOUNGEST_THRESHOLD

CHILD = """
import gc, json, sys
defaults = gc.get_threshold()
default_interval = sys.getswitchinterval()
from tagfeed.api.app import app_from_environment
app = app_from_environment()
seen = {"defaults": defaults, "now": gc.get_threshold(), "frozen": gc.get_freeze_count(),
        "intervals": [default_interval, sys.getswitchinterval()],
        # Frozen objects are in no generation, so a full collection never scans them.
        "app_scanned": any(o is app for o in gc.get_objects())}
print(json.dumps(seen))
"""


def test_the_server_factory_tunes_the_collector_and_the_gil_of_its_process(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "TAGFEED_DATABASE_URL": f"sqlite:///{tmp_path / 'tagfeed.db'}"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,  # an import takes about a second; generous for a loaded machine
    )
    seen = json.loads(done.stdout)
    assert seen["defaults"][0] < YOUNGEST_THRESHOLD
    assert seen["now"] == [YOUNGEST_THRESHOLD, *seen["defaults"][1:]]
    assert seen["frozen"] > 10_000  # the app, its modules and everything they made
    assert not seen["app_scanned"]
    assert seen["intervals"] == [0.005, SWITCH_INTERVAL_SECONDS]
