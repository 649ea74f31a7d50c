"""The real ``tagfeed`` command, as a newcomer first meets it: a database it cannot use is
one line on stderr naming TAGFEED_DATABASE_URL (password hidden), what is wrong and what
to do; the server says where it listens and on which database, once it listens."""

import json
import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import POSTGRES_URL
from tests.e2e.conftest import TAGFEED, free_port, start_server, stop_server


def tagfeed(*args: str, url: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TAGFEED, *args],
        env={**os.environ, "TAGFEED_DATABASE_URL": url},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 1, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("tagfeed: "), lines[0]
    assert "TAGFEED_DATABASE_URL=" in lines[0]
    return lines[0]


def on_server(name: str) -> str:
    return POSTGRES_URL.rpartition("/")[0] + f"/{name}"


def closed_port() -> int:
    return free_port()  # bound, then closed: nothing listens there


@pytest.mark.postgres
@pytest.mark.parametrize("command", ["migrate", "import", "export"])
def test_a_database_that_does_not_exist(command: str, tmp_path: Path) -> None:
    name = f"tagfeed_missing_{secrets.token_hex(4)}"
    (tmp_path / "in.jsonl").write_text("")
    args = {"import": [str(tmp_path / "in.jsonl")], "export": [str(tmp_path / "out.jsonl")]}
    line = one_line(tagfeed(command, *args.get(command, []), url=on_server(name)))
    assert f'database "{name}" does not exist' in line
    assert f"createdb -h 127.0.0.1 -p 5432 -U postgres {name}" in line


@pytest.mark.postgres
def test_a_user_that_does_not_exist_and_its_password_hidden() -> None:
    user = f"nobody_{secrets.token_hex(3)}"
    url = POSTGRES_URL.replace("://postgres@", f"://{user}:hunter2-secret@", 1)
    assert user in url
    line = one_line(tagfeed("migrate", url=url))
    assert f"{user}:***@" in line
    assert "hunter2" not in line
    assert f'role "{user}" does not exist' in line
    assert "name a user it accepts" in line


@pytest.mark.parametrize("command", ["migrate", "import", "serve"])
def test_nothing_listening_on_the_port(command: str, tmp_path: Path) -> None:
    port = closed_port()
    (tmp_path / "in.jsonl").write_text("")
    extra = {"import": [str(tmp_path / "in.jsonl")], "serve": ["--port", str(free_port())]}
    args = extra.get(command, [])
    line = one_line(
        tagfeed(command, *args, url=f"postgresql://postgres:pw@127.0.0.1:{port}/postgres")
    )
    assert f"postgres:***@127.0.0.1:{port}" in line
    assert f"nothing is listening on 127.0.0.1:{port}: start PostgreSQL" in line


def test_a_sqlite_folder_that_does_not_exist_is_named_and_not_created(tmp_path: Path) -> None:
    folder = tmp_path / "no" / "such"
    line = one_line(tagfeed("migrate", url=f"sqlite:///{folder}/feed.db"))
    assert f"the folder {folder} does not exist" in line
    assert not (tmp_path / "no").exists()


def test_a_sqlite_folder_that_is_a_file_is_named(tmp_path: Path) -> None:
    # Tests run as root, whom permissions do not stop: a parent that is a file does.
    (tmp_path / "plain").write_text("")
    line = one_line(tagfeed("migrate", url=f"sqlite:///{tmp_path}/plain/feed.db"))
    assert f"{tmp_path}/plain is not a folder, so feed.db cannot be created in it" in line


def test_a_read_only_file_is_named(tmp_path: Path) -> None:
    # root writes through permission bits, not through the immutable attribute
    file = tmp_path / "feed.db"
    (tmp_path / "in.jsonl").write_text("")
    assert tagfeed("migrate", url=f"sqlite:///{file}").returncode == 0
    subprocess.run(["chattr", "+i", str(file)], check=True)
    try:
        line = one_line(tagfeed("import", str(tmp_path / "in.jsonl"), url=f"sqlite:///{file}"))
    finally:
        subprocess.run(["chattr", "-i", str(file)], check=True)
    assert f"the file {file} is read-only: make it writable" in line


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("these are notes, not a database\n" * 200)
    line = one_line(tagfeed("migrate", url=f"sqlite:///{tmp_path}/notes.db"))
    assert f"{tmp_path}/notes.db is not a SQLite database" in line


def test_migrate_names_the_database_and_the_revision(tmp_path: Path) -> None:
    from tagfeed.store.migrate import head_revision

    run = tagfeed("migrate", url="sqlite:///feed.db", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (
        run.stdout
        == f"sqlite:///{tmp_path}/feed.db: schema at revision {head_revision()} (the newest)\n"
    )


def test_import_names_the_database(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(
        '{"text":"t","tag":"x","user_id":"1","created_at":"2026-11-28T15:46:08Z"}\n'
    )
    run = tagfeed("import", "in.jsonl", url="sqlite:///feed.db", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("imported 1 messages (0 skipped)")
    assert run.stdout.endswith(f", into sqlite:///{tmp_path}/feed.db\n")


def test_export_to_a_missing_folder_names_the_file_asked_for(tmp_path: Path) -> None:
    target = tmp_path / "no" / "x.jsonl"
    run = tagfeed("export", str(target), url=f"sqlite:///{tmp_path}/feed.db")
    assert run.returncode == 1
    assert run.stderr == (
        f"tagfeed: export failed: cannot write {target}: No such file or directory\n"
    )


def test_the_help_is_plain_and_names_the_database_setting() -> None:
    for command in (
        [], ["serve"], ["migrate"], ["import"], ["export"], ["reduce"], ["rebuild"], ["relay"]
    ):  # fmt: skip
        run = subprocess.run(
            [TAGFEED, *command, "--help"], capture_output=True, text=True, check=True
        )
        assert "TAGFEED_DATABASE_URL" in run.stdout, command
        assert "``" not in run.stdout, command
        assert "docs/" not in run.stdout, command
    version = subprocess.run([TAGFEED, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("tagfeed 0.")


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [TAGFEED, "serve", "--port", str(port)],
            env={**os.environ, "TAGFEED_DATABASE_URL": f"sqlite:///{tmp_path}/feed.db"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr == (
        f"tagfeed: cannot listen on 127.0.0.1:{port}: Address already in use;"
        " choose another with --port or TAGFEED_PORT\n"
    )
    assert not (tmp_path / "feed.db").exists()  # stopped before migrating


def test_started_names_the_address_and_the_database_once_listening(tmp_path: Path) -> None:
    relative = os.path.relpath(tmp_path / "feed.db")  # to the directory serve starts in
    server = start_server(f"sqlite:///{relative}", tmp_path / "server.log", wait_for="/healthz")
    try:
        server.wait_for_log('"started"', within=20)
        events = [json.loads(line) for line in server.log_lines()]
        started = next(event for event in events if event["event"] == "started")
        assert started["address"] == server.base_url
        assert started["database"] == f"sqlite:///{tmp_path}/feed.db"
        assert started["workers"] == 1
        assert httpx.get(f"{server.base_url}/healthz").status_code == 200
    finally:
        assert stop_server(server)


@pytest.mark.postgres
def test_serve_without_migrating_logs_why_the_database_cannot_be_used(tmp_path: Path) -> None:
    name = f"tagfeed_missing_{secrets.token_hex(4)}"
    server = start_server(
        on_server(name), tmp_path / "server.log", "--no-migrate", wait_for="/healthz"
    )
    try:
        deadline = time.monotonic() + 20
        while not any("database_unusable" in line for line in server.log_lines()):
            assert time.monotonic() < deadline, server.log_lines()
            time.sleep(0.05)
        event = next(json.loads(line) for line in server.log_lines() if "database_unusable" in line)
        assert f'database "{name}" does not exist' in event["detail"]
        assert event["detail"].startswith("TAGFEED_DATABASE_URL=postgresql://")
        assert httpx.get(f"{server.base_url}/readyz").status_code == 503
    finally:
        assert stop_server(server)
