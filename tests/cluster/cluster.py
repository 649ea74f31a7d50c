"""The running cluster as the tests and the chaos run see it: its address on 127.0.0.1,
its secrets, tokens for it, and docker commands on its containers.

Only 127.0.0.1 is ever contacted from the host; containers are named by docker.
"""

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROJECT = "tagfeed"


def read_env(path: Path = DEPLOY / ".env") -> dict[str, str]:
    """deploy/.env, written by deploy/scripts/secrets.sh."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.startswith("#"):
            values[name.strip()] = value.strip()
    return values


@dataclass(frozen=True)
class Cluster:
    base_url: str
    secret: str
    issuer: str
    audience: str
    # The primary through the edge (127.0.0.1:15432), as the tagfeed role; NATS (nats1).
    postgres_url: str = ""
    nats_port: int = 14222

    @classmethod
    def from_env(cls) -> "Cluster":
        env = read_env()
        port = int(os.environ.get("GATEWAY_PORT", "18080"))
        pg_port = int(os.environ.get("POSTGRES_PORT", "15432"))
        return cls(
            f"http://127.0.0.1:{port}",
            env["JWT_SECRET"],
            env["JWT_ISSUER"],
            env["JWT_AUDIENCE"],
            f"postgresql://tagfeed:{env['TAGFEED_DB_PASSWORD']}@127.0.0.1:{pg_port}/tagfeed",
            int(os.environ.get("NATS_PORT", "14222")),
        )

    def token(
        self,
        sub: str,
        roles: str = "",
        *,
        ttl: float = 3600,
        not_before: float | None = None,
        **overrides: object,
    ) -> str:
        """An HS256 token as an identity provider would issue it; ``roles`` is one
        space-separated claim (the gateway's HAProxy reads no arrays)."""
        now = int(time.time())
        claims: dict[str, object] = {
            "sub": sub,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + int(ttl),
        }
        if not_before is not None:
            claims["nbf"] = int(not_before)
        if roles:
            claims["roles"] = roles
        claims.update(overrides)
        return jwt.encode(claims, self.secret, algorithm="HS256")


def container(service: str) -> str:
    """docker-compose v1 names containers <project>_<service>_1."""
    return f"{PROJECT}_{service}_1"


def docker(*args: str, check: bool = True, timeout: float = 60) -> str:
    """Run docker; its stdout. A failure or a timeout raises when ``check``, else gives ""
    (a container cut off from the network may hang a command inside it)."""
    try:
        done = subprocess.run(
            ["docker", *args], capture_output=True, text=True, check=False, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        if check:
            raise RuntimeError(f"docker {' '.join(args)}: no answer in {timeout} s") from None
        return ""
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout
