"""A PostgreSQL server of the test's own (initdb + pg_ctl on a free port), so a test may
stop, start and lock it without disturbing anyone. PostgreSQL refuses to run as root, so
as root every command runs as the ``postgres`` OS user, in a temp dir it owns."""

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.e2e.conftest import free_port


def pg_binary(name: str) -> str:
    """The path of a PostgreSQL server binary; fails naming what is missing."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(
            f"{name} not found on PATH or in /usr/lib/postgresql/*/bin: the fault tests start"
            " their own PostgreSQL server (apt-get install postgresql-15)"
        )
    return found


class OwnPostgres:
    """One throw-away cluster: ``fsync`` on (the default), trust auth on 127.0.0.1 only."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tagfeed-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o700)

    def _run(self, *command: str, timeout: float = 60) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        result = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}"
                f"{result.stderr}\n{self.log.read_text() if self.log.exists() else ''}"
            )

    def init(self) -> None:
        self._run(
            pg_binary("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",  # only initdb's own files; the server itself runs with fsync on
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=on"
            " -c synchronous_commit=on -c max_connections=100"
        )
        ctl = pg_binary("pg_ctl")
        self._run(ctl, "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(pg_binary("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        """Stop (immediately) if running, and delete every file."""
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
