"""What granian's main process is told of the settings (``ServerPlan``), and the command
that starts it (``launch_command``). Imports neither granian nor pydantic: ``tagfeed
serve`` builds the plan from its settings and execs the launcher (``server/launch.py``)."""

import json
import sys
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not imported at run time: pydantic is for the CLI, not the server
    from tagfeed.config import Settings

LAUNCHER = "tagfeed.server.launch"


@dataclass(frozen=True)
class ServerPlan:
    """What granian's main process needs of the settings, and no more: ``tagfeed serve``
    reads and checks the settings (pydantic, ~20 MB) and hands this plan on to the server's
    main process (``server/launch.py``), which lives as long as the server and so imports
    neither pydantic nor the app. The workers read the settings themselves."""

    host: str
    port: int
    workers: int
    read_timeout: float  # TAGFEED_READ_TIMEOUT, seconds
    max_header_bytes: int  # TAGFEED_MAX_HEADER_BYTES
    stream_max_clients: int  # TAGFEED_STREAM_MAX_CLIENTS
    db_timeout: float  # TAGFEED_DB_TIMEOUT, seconds
    log_level: str
    metrics: bool
    metrics_port: int | None
    database: str  # the database as the logs name it (no password)
    auth: str
    interface: str  # TAGFEED_SERVER_INTERFACE: granian's interface to the app, asgi or rsgi

    @classmethod
    def of(cls, settings: "Settings", host: str, port: int, workers: int) -> "ServerPlan":
        return cls(
            host=host,
            port=port,
            workers=workers,
            read_timeout=settings.read_timeout,
            max_header_bytes=settings.max_header_bytes,
            stream_max_clients=settings.stream_max_clients,
            db_timeout=settings.db_timeout,
            log_level=settings.log_level,
            metrics=settings.metrics,
            metrics_port=settings.metrics_port,
            database=settings.database.display,
            auth=settings.auth_mode,
            interface=settings.server_interface,
        )

    def encode(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def decode(cls, text: str) -> "ServerPlan":
        return cls(**json.loads(text))


def launch_command(plan: ServerPlan) -> list[str]:
    """The argv that runs the launcher with ``plan``, in the interpreter running now."""
    return [sys.executable, "-m", LAUNCHER, plan.encode()]
