"""``tagfeed import`` into an empty SQLite file and ``tagfeed serve``, both real processes:
a server running first keeps the import to WAL (and keeps answering); a server started
during a first import that has the file to itself fails at start, naming the lock."""

import os
import subprocess
import time
from contextlib import suppress
from pathlib import Path

import httpx

from tests.e2e.conftest import TAGFEED, free_port, start_server, stop_server
from tests.integration.test_sqlite_first_import import in_wal_mode

LINE = '{"text": "hi %d", "tag": "t%d", "user_id": "u", "created_at": "2026-03-01T00:00:00Z"}\n'


def start_import(url: str) -> subprocess.Popen[bytes]:
    """``tagfeed import -`` reading from a pipe: the import stays in its one transaction
    until the pipe is closed."""
    return subprocess.Popen(
        [TAGFEED, "import", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "TAGFEED_DATABASE_URL": url},
    )  # fmt: skip


def feed(child: subprocess.Popen[bytes], count: int) -> None:
    """Hand over ``count`` lines; the pipe holds 64 KiB, so most were read when this returns."""
    assert child.stdin is not None
    child.stdin.write("".join(LINE % (n, n % 50) for n in range(count)).encode())
    child.stdin.flush()


def finish(child: subprocess.Popen[bytes]) -> tuple[int, str]:
    out, err = child.communicate(timeout=60)
    return child.returncode, (out + err).decode()


def test_a_running_server_keeps_a_first_import_to_wal_and_answers_meanwhile(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = sqlite_url.removeprefix("sqlite:///")
    server = start_server(sqlite_url, tmp_path / "server.log")
    try:
        child = start_import(sqlite_url)
        feed(child, 30_000)  # three batches: the import's transaction is under way
        assert child.poll() is None
        answer = httpx.get(f"{server.base_url}/v1/messages", headers={"X-User-ID": "u"}, timeout=10)
        assert (answer.status_code, answer.json()) == (200, [])  # the import not yet seen
        assert not os.path.exists(path + "-journal")
        code, output = finish(child)
        assert code == 0, output
        assert "imported 30000 messages" in output
        answer = httpx.get(
            f"{server.base_url}/v1/messages?limit=3", headers={"X-User-ID": "u"}, timeout=10
        )
        assert (answer.status_code, len(answer.json())) == (200, 3)
    finally:
        stop_server(server)
    assert in_wal_mode(path)


def test_a_server_started_during_a_first_import_alone_fails_naming_the_lock(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = sqlite_url.removeprefix("sqlite:///")
    child = start_import(sqlite_url)
    try:
        feed(child, 30_000)
        assert os.path.exists(path + "-journal")  # alone: in rollback-journal mode
        started = time.monotonic()
        serve = subprocess.run(
            [TAGFEED, "serve", "--host", "127.0.0.1", "--port", str(free_port())],
            env={**os.environ, "TAGFEED_DATABASE_URL": sqlite_url},
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert serve.returncode == 1
        assert "database is locked" in serve.stderr.decode()
        assert time.monotonic() - started < 30
        code, output = finish(child)
        assert code == 0, output
    finally:
        with suppress(ProcessLookupError):
            child.kill()
    assert in_wal_mode(path)
    server = start_server(sqlite_url, tmp_path / "server.log")
    try:
        answer = httpx.get(
            f"{server.base_url}/v1/messages?limit=3", headers={"X-User-ID": "u"}, timeout=10
        )
        assert (answer.status_code, len(answer.json())) == (200, 3)
    finally:
        stop_server(server)
