"""The real server process over HTTP: the seed's Postman requests, logs, workers,
graceful shutdown and start-up configuration errors."""

import json
import os
import subprocess
from pathlib import Path

import httpx

from tests.e2e.conftest import TAGFEED, Server, start_server, stop_server

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


def test_two_workers_serve_the_same_database(database_url: str, tmp_path: Path) -> None:
    running = start_server(database_url, tmp_path / "workers.log", "--workers", "2")
    try:
        with httpx.Client(base_url=running.base_url, headers={"X-User-ID": "1"}) as client:
            ids = {
                client.post("/v1/messages", json={"text": "w", "tag": "w"}).json()["id"]
                for _ in range(40)
            }
            assert len(ids) == 40
            assert client.get("/v1/messages", params={"tag": "w", "count": "1"}).json() == 40
    finally:
        assert stop_server(running)


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
