"""The database a run serves from: made empty at the start, filled with ``tagfeed import``,
removed at the end.

SQLite: a file under the cache directory. PostgreSQL: a database named ``tagfeed_bench*``
on the server of ``admin_url`` (a URL of a database we may connect to in order to create
and drop others), dropped WITH (FORCE) on exit.
"""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import asyncpg

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


class LoadError(RuntimeError):
    """The data set could not be loaded."""


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    return f"{url.rpartition('/')[0]}/{name}"


async def _admin(admin_url: str, *statements: str) -> None:
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def admin(admin_url: str, *statements: str) -> None:
    asyncio.run(_admin(admin_url, *statements))


@contextmanager
def postgres_database(admin_url: str, name: str) -> Iterator[str]:
    """A new, empty database ``name`` (any left from an earlier run is dropped first)."""
    if not name.startswith("tagfeed_bench"):
        raise ValueError(f"refusing to manage database {name!r}: not tagfeed_bench*")
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    admin(admin_url, drop, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin_url, name)
    finally:
        admin(admin_url, drop)


@contextmanager
def sqlite_database(path: Path) -> Iterator[str]:
    """A new SQLite file at ``path`` (with its -wal and -shm), deleted on exit."""
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]

    def remove() -> None:
        for file in files:
            with suppress(FileNotFoundError):
                file.unlink()

    remove()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield f"sqlite:///{path.resolve()}"
    finally:
        remove()


def _tagfeed(database_url: str, *args: str, log: Path) -> None:
    beside = Path(sys.executable).parent / "tagfeed"
    command = [str(beside) if beside.exists() else "tagfeed", *args]
    env = {**os.environ, "TAGFEED_DATABASE_URL": database_url, "TAGFEED_LOG_LEVEL": "warning"}
    with log.open("ab") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise LoadError(f"`tagfeed {' '.join(args)}` exited {done.returncode}:\n{tail}")


def import_available() -> bool:
    """Whether this tagfeed has the ``import`` command (it is being written)."""
    beside = Path(sys.executable).parent / "tagfeed"
    command = [str(beside) if beside.exists() else "tagfeed", "import", "--help"]
    done = subprocess.run(command, capture_output=True, check=False)
    return done.returncode == 0


# The views the server's catch-up reducers keep (``tagfeed reduce``'s names). A server
# started on a fresh import would fold the whole history into them during the first
# sweeps, on the same core as the requests measured: they are rebuilt before serving.
CATCH_UP_VIEWS = ("tags", "trending")


def migrate(database_url: str, log: Path) -> None:
    """``tagfeed migrate``: an empty database with tagfeed's schema."""
    _tagfeed(database_url, "migrate", log=log)


def load(database_url: str, dataset: Path, log: Path) -> float:
    """Migrate, then ``tagfeed import`` the data set. Returns the seconds the import took."""
    migrate(database_url, log)
    started = time.monotonic()
    _tagfeed(database_url, "import", str(dataset), log=log)
    return time.monotonic() - started


def catch_up_views(database_url: str, log: Path) -> dict[str, float]:
    """``tagfeed rebuild`` each catch-up view, so the reducers are idle when sweeps start;
    returns the seconds each took."""
    seconds = {}
    for view in CATCH_UP_VIEWS:
        started = time.monotonic()
        _tagfeed(database_url, "rebuild", view, log=log)
        seconds[view] = time.monotonic() - started
    return seconds
