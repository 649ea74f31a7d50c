"""The real server in JWT mode: a good token posts, no token gets 401, tokens stay out of
the log, and a JWT mode without a key does not start."""

import json
import os
import subprocess
from pathlib import Path

import httpx

from tests.e2e.conftest import TAGFEED, start_server, stop_server
from tests.integration.tokens import AUDIENCE, ISSUER, SECRET, claims, hs256

JWT_ENV = {
    "TAGFEED_AUTH_MODE": "jwt",
    "TAGFEED_JWT_SECRET": SECRET,
    "TAGFEED_JWT_ISSUER": ISSUER,
    "TAGFEED_JWT_AUDIENCE": AUDIENCE,
}


def test_jwt_mode_over_http(database_url: str, tmp_path: Path) -> None:
    server = start_server(database_url, tmp_path / "jwt.log", env=JWT_ENV)  # /readyz: no auth
    token = hs256(claims(sub="auth0|e2e"))
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            created = http.post(
                "/v1/messages",
                json={"text": "signed", "tag": "jwt"},
                headers={"Authorization": f"Bearer {token}", "X-User-ID": "mallory"},
            )
            assert created.status_code == 201, created.text
            assert created.json()["user_id"] == "auth0|e2e"

            anonymous = http.post(
                "/v1/messages", json={"text": "x", "tag": "jwt"}, headers={"X-User-ID": "1"}
            )
            assert anonymous.status_code == 401
            assert anonymous.headers["www-authenticate"] == "Bearer"
            assert anonymous.headers["content-type"] == "application/problem+json"
        server.wait_for_log('"started"')
    finally:
        assert stop_server(server)
    log = server.log_path.read_text()
    assert token not in log
    assert SECRET not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(line.get("event") == "started" and line.get("auth") == "jwt" for line in lines)
    statuses = {line["status"]: line.get("user_id") for line in lines if "status" in line}
    assert statuses[201] == "auth0|e2e"
    assert statuses[401] is None


def test_jwt_mode_without_a_key_does_not_start() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAGFEED_JWT_")}
    result = subprocess.run(
        [TAGFEED, "serve"],
        env={**env, "TAGFEED_AUTH_MODE": "jwt"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "TAGFEED_JWT_SECRET" in result.stderr
