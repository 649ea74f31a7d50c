"""The server's factory tunes the garbage collector of its own process (api/runtime.py);
checked in a child process, so that this one keeps its defaults."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tagfeed.api.runtime import YOUNGEST_THRESHOLD

CHILD = """
import gc, json
defaults = gc.get_threshold()
from tagfeed.api.app import app_from_environment
app_from_environment()
seen = {"defaults": defaults, "now": gc.get_threshold(), "frozen": gc.get_freeze_count()}
print(json.dumps(seen))
"""


def test_the_server_factory_freezes_start_up_objects_and_collects_less_often(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "TAGFEED_DATABASE_URL": f"sqlite:///{tmp_path / 'tagfeed.db'}"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    )
    seen = json.loads(done.stdout)
    assert seen["defaults"][0] < YOUNGEST_THRESHOLD
    assert seen["now"] == [YOUNGEST_THRESHOLD, *seen["defaults"][1:]]
    assert seen["frozen"] > 10_000  # the app, its modules and everything they made
