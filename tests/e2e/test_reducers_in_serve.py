"""``tagfeed serve`` runs the catch-up reducers by default, and not when told not to."""

import time
from pathlib import Path

import httpx

from tests.e2e.conftest import Server, start_server, stop_server
from tests.integration.test_reducers import checkpoint, tag_stats

USER = {"X-User-ID": "1"}


def post(server: Server, tag: str) -> int:
    created = httpx.post(
        f"{server.base_url}/v1/messages", json={"text": "hi", "tag": tag}, headers=USER, timeout=10
    )
    assert created.status_code == 201, created.text
    return int(created.headers["tagfeed-position"])


def test_the_server_keeps_the_tags_view_by_itself(server: Server, database_url: str) -> None:
    positions = [post(server, tag) for tag in ("alpha", "alpha", "beta")]
    deadline = time.monotonic() + 30
    while checkpoint(database_url) < positions[-1] and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = tag_stats(database_url)
    assert {tag: n for tag, (n, _, _) in stats.items()} == {"alpha": 2, "beta": 1}


def test_with_reducers_off_the_server_leaves_the_view_alone(
    database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    running = start_server(database_url, log, env={"TAGFEED_RUN_REDUCERS": "false"})
    try:
        post(running, "gamma")
        time.sleep(1.0)
        assert tag_stats(database_url) == {}
        assert checkpoint(database_url) == 0
    finally:
        stop_server(running)
