"""A server just started says the log's whole head in ``Tagfeed-Position``, not only what
its catch-up reducers have read so far (here they do not run at all)."""

from pathlib import Path

import httpx

from tests.e2e.conftest import start_server, stop_server

USER = {"X-User-ID": "1"}
NO_REDUCERS = {"TAGFEED_RUN_REDUCERS": "false"}


def test_a_restarted_server_reads_say_the_whole_head(database_url: str, tmp_path: Path) -> None:
    first = start_server(database_url, tmp_path / "first.log", env=NO_REDUCERS)
    try:
        for n in range(3):
            created = httpx.post(
                f"{first.base_url}/v1/messages",
                json={"text": f"hi {n}", "tag": "alpha"},
                headers=USER,
                timeout=10,
            )
            assert created.status_code == 201, created.text
        head = int(created.headers["tagfeed-position"])
    finally:
        stop_server(first)
    assert head == 3

    second = start_server(database_url, tmp_path / "second.log", env=NO_REDUCERS)
    try:
        read = httpx.get(f"{second.base_url}/v1/messages?tag=alpha", headers=USER, timeout=10)
        assert read.status_code == 200, read.text
        assert len(read.json()) == 3
        assert int(read.headers["tagfeed-position"]) == head
    finally:
        stop_server(second)
