"""The real server process over HTTP: the seed's Postman requests, logs, workers,
graceful shutdown and start-up configuration errors."""

import contextlib
import http.client
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import TAGFEED, Server, start_server, stop_server

USER = {"X-User-ID": "1"}
JSON = {"Content-Type": "application/json"}
COLLECTION = Path(__file__).with_name("seed_postman_collection.json")


def postman_requests() -> dict[str, dict[str, object]]:
    items = json.loads(COLLECTION.read_text())["item"]
    return {item["name"]: item["request"] for item in items}


def replay(server: Server, request: dict[str, object], **extra_headers: str) -> httpx.Response:
    """Send a Postman request to our server instead of localhost:8080."""
    url = httpx.URL(request["url"]["raw"])  # type: ignore[index]
    headers = {h["key"]: h["value"] for h in request["header"]}  # type: ignore[attr-defined]
    body = request["body"]["raw"].encode()  # type: ignore[index]
    return httpx.request(
        str(request["method"]),
        httpx.URL(server.base_url).join(url.raw_path.decode()),
        headers={**headers, **extra_headers},
        content=body or None,
        timeout=10,
    )


def test_the_seed_postman_requests(server: Server) -> None:
    requests = postman_requests()
    created = replay(server, requests["POST /messages"])
    assert created.status_code == 201
    assert created.json()["tag"] == "philotimo"
    assert created.headers["location"].startswith("/v1/messages/")

    # The seed's GET carries no X-User-ID; the seed itself says that is a 403.
    anonymous = replay(server, requests["GET /messages"])
    assert anonymous.status_code == 403
    assert anonymous.headers["content-type"] == "application/problem+json"
    # With the gateway's header it lists 2019-08-01..2019-09-03: nothing from today.
    listed = replay(server, requests["GET /messages"], **{"X-User-ID": "1"})
    assert listed.status_code == 200
    assert listed.json() == []
    today = httpx.get(f"{server.base_url}/v1/messages", headers={"X-User-ID": "1"})
    assert [m["id"] for m in today.json()] == [created.json()["id"]]


def test_one_json_log_line_per_request_without_texts(server: Server) -> None:
    secret_text = "do-not-log-this-text"
    response = httpx.post(
        f"{server.base_url}/v1/messages",
        json={"text": secret_text, "tag": "x"},
        headers={"X-User-ID": "auth0|alice", "X-Request-ID": "req-42"},
    )
    assert response.status_code == 201
    stop_server(server)  # flush
    lines = [json.loads(line) for line in server.log_lines() if line.startswith("{")]
    ours = [line for line in lines if line.get("request_id") == "req-42"]
    assert len(ours) == 1
    assert ours[0]["method"] == "POST"
    assert ours[0]["path"] == "/v1/messages"
    assert ours[0]["status"] == 201
    assert ours[0]["user_id"] == "auth0|alice"
    assert ours[0]["duration_ms"] >= 0
    assert secret_text not in server.log_path.read_text()


def test_sigterm_exits_cleanly_and_loses_nothing(
    server: Server, database_url: str, tmp_path: Path
) -> None:
    with httpx.Client(base_url=server.base_url, headers={"X-User-ID": "1"}) as client:
        ids = [
            client.post("/v1/messages", json={"text": f"m{i}", "tag": "t"}).json()["id"]
            for i in range(20)
        ]
    assert stop_server(server)
    restarted = start_server(database_url, tmp_path / "restarted.log")
    try:
        with httpx.Client(base_url=restarted.base_url, headers={"X-User-ID": "1"}) as client:
            for message_id in ids:
                assert client.get(f"/v1/messages/{message_id}").status_code == 200
    finally:
        stop_server(restarted)


def _pids_under(parent: int) -> set[int]:
    """The processes whose parent is ``parent`` (granian's workers under its main process)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # exited meanwhile
                continue
            if int(stat.rpartition(")")[2].split()[1]) == parent:
                children.add(int(entry.name))
    return children


def _socket_inodes(local_port: int, remote_port: int) -> set[str]:
    """The inodes of the TCP sockets from /proc/net/tcp (remote port 0: the listening ones;
    granian's workers each listen on a socket of their own, with SO_REUSEPORT)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)) == (
            local_port,
            remote_port,
        ):
            inodes.add(fields[9])
    assert inodes, f"no socket from port {local_port} to port {remote_port}"
    return inodes


def _holders(pids: set[int], inodes: set[str]) -> set[int]:
    """Which of ``pids`` have one of the sockets ``inodes`` open."""
    targets = {f"socket:[{inode}]" for inode in inodes}
    holding = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in targets:
                    holding.add(pid)
    return holding


def test_two_workers_serve_the_same_database(database_url: str, tmp_path: Path) -> None:
    """Each worker process answers some of the requests (seen by which process holds the
    server's end of each connection), and each reads what the other wrote."""
    running = start_server(database_url, tmp_path / "workers.log", "--workers", "2")
    port = httpx.URL(running.base_url).port
    assert port is not None
    # The main process's children that accept on the port (not, say, the multiprocessing
    # resource tracker); the server answers once the first of them does.
    deadline = time.monotonic() + 20
    while len(workers := _holders(_pids_under(running.process.pid), _socket_inodes(port, 0))) < 2:
        assert time.monotonic() < deadline, f"workers listening: {workers}"
        time.sleep(0.1)
    by_worker: dict[int, list[http.client.HTTPConnection]] = {}
    opened: list[http.client.HTTPConnection] = []
    body = json.dumps({"text": "w", "tag": "w"})
    try:
        # A new connection goes to whichever worker accepts it first; which one is up to
        # the scheduler, so open (and keep open) connections until both have answered.
        while len(by_worker) < len(workers) and len(opened) < 200:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            opened.append(conn)
            conn.request("POST", "/v1/messages", body, headers=USER | JSON)
            response = conn.getresponse()
            assert response.status == 201, response.read()
            response.read()
            # The process that holds the server's end of this connection answered it.
            [worker] = _holders(workers, _socket_inodes(port, conn.sock.getsockname()[1]))
            by_worker.setdefault(worker, []).append(conn)
        served = {pid: len(conns) for pid, conns in by_worker.items()}
        assert len(served) == 2, f"one worker answered all {len(opened)} connections: {served}"
        for conn, *_ in by_worker.values():
            conn.request("GET", "/v1/messages?tag=w&count=1", headers=USER)
            response = conn.getresponse()
            assert response.status == 200
            assert json.loads(response.read()) == len(opened)
    finally:
        for conn in opened:
            conn.close()
        assert stop_server(running)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_workers_stop_when_the_main_process_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves granian's main process no chance to stop its workers; each one ends
    itself then (runtime.stop_with_parent), gracefully, instead of serving on as an orphan."""
    running = start_server(
        f"sqlite:///{tmp_path / 'feed.db'}", tmp_path / "k.log", "--workers", "2"
    )
    port = httpx.URL(running.base_url).port
    assert port is not None
    deadline = time.monotonic() + 20  # until both workers serve (listen)
    while len(_holders(_pids_under(running.process.pid), _socket_inodes(port, 0))) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    children = _pids_under(running.process.pid)  # the workers and the resource tracker
    running.process.kill()
    running.process.wait(timeout=10)
    deadline = time.monotonic() + 15
    while alive := [pid for pid in children if _running(pid)]:
        if time.monotonic() > deadline:
            for pid in alive:
                os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"outlived granian's main process: {alive}")
        time.sleep(0.1)
    assert running.log_path.read_text().count('"event":"stopped"') == 2


def test_bad_setting_stops_start_up_naming_the_variable() -> None:
    result = subprocess.run(
        [TAGFEED, "serve"],
        env={**os.environ, "TAGFEED_DB_TIMEOUT": "soon"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "TAGFEED_DB_TIMEOUT" in result.stderr


def test_the_migration_at_start_runs_in_a_process_of_its_own(server: Server) -> None:
    """alembic and SQLAlchemy (~33 MB) are loaded by the start-up migration's own
    short-lived process, never by the main process, which lives as long as the server."""
    maps = Path(f"/proc/{server.process.pid}/maps").read_text()
    assert "/granian/" in maps  # the right process: granian's main one
    assert "/sqlalchemy/" not in maps


def test_granian_s_main_process_holds_neither_the_settings_models_nor_the_app(
    server: Server,
) -> None:
    """``tagfeed serve`` checks the settings, then execs the lean launcher
    (server/launch.py): the process that lives as long as the server loads neither
    pydantic (the settings) nor the JWT keys' cryptography nor the database drivers, which
    the workers load for themselves (their compiled parts would show in its maps)."""
    pid = server.process.pid
    command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert command[1:3] == [b"-m", b"tagfeed.server.launch"]  # the same pid, exec'd
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert "/granian/" in maps  # the right process: granian's main one
    for heavy in ("/pydantic_core/", "/cryptography/", "/asyncpg/"):
        assert heavy not in maps, heavy
    children = _pids_under(pid)  # the worker does load them (and the resource tracker not)
    assert any("/pydantic_core/" in Path(f"/proc/{c}/maps").read_text() for c in children)
