"""A database that cannot be used, said in one line a newcomer can act on.

At start-up (``serve``, ``migrate``, ``import``, ``export``) a wrong URL, a missing
database or user, a server that is not running or a file that cannot be written reach us
wrapped in SQLAlchemy, alembic or our own store errors. ``explain`` walks the exception's
causes to the driver's error and names the setting (password hidden), what went wrong and
what to do.
"""

import os
import socket
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from tagfeed.store.urls import DatabaseUrl

SETTING = "TAGFEED_DATABASE_URL"


class DatabaseProblem(Exception):
    """The configured database cannot be used; ``str()`` is the one line to show."""


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _postgres_reason(url: DatabaseUrl, exc: BaseException) -> str | None:
    parts = urlsplit(url.url)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    database = parts.path.lstrip("/") or parts.username or "postgres"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return (
            f'database "{database}" does not exist on {where}: create it '
            f"(createdb -h {parts.hostname or 'localhost'} -p {parts.port or 5432}"
            + (f" -U {parts.username}" if parts.username else "")
            + f" {database}) or name an existing one"
        )
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return f"the server at {where} refused the password of user {parts.username!r}: fix it"
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return f"the server at {where} refused the login ({exc}): name a user it accepts"
    if isinstance(exc, socket.gaierror):
        return f"the host {parts.hostname!r} is not known: fix the host name"
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing is listening on {where}: start PostgreSQL or fix the host and port"
    if isinstance(exc, TimeoutError):
        return f"no answer from {where} in time: check the server is up and reachable"
    if isinstance(exc, OSError):
        return f"cannot reach {where} ({exc.strerror or exc}): check the host and port"
    if isinstance(exc, asyncpg.PostgresError):
        return f"PostgreSQL refused: {exc}"
    return None


def _sqlite_reason(url: DatabaseUrl, exc: BaseException) -> str | None:
    file = url.sqlite_file
    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        if "readonly" in text or "read-only" in text:
            return f"the file {file} is read-only: make it writable or name another file"
        if "unable to open" in text:
            return _sqlite_open_reason(file)
        if "not a database" in text:
            return f"{file} is not a SQLite database: name another file"
        return f"SQLite failed on {file}: {text}"
    if isinstance(exc, OSError):
        return f"cannot use {file}: {exc.strerror or exc}"
    return None


def _sqlite_open_reason(file: Path) -> str:
    folder = file.parent
    if not folder.exists():
        return f"the folder {folder} does not exist: create it or name a file in another"
    if not folder.is_dir():
        return f"{folder} is not a folder, so {file.name} cannot be created in it"
    if not os.access(folder, os.W_OK):
        return f"the folder {folder} is not writable: name a file in a writable folder"
    return f"cannot open or create {file}: check its permissions"


def check_sqlite_folder(url: DatabaseUrl) -> None:
    """SQLite creates the file but not its folder; we do not create folders either (a
    typo would silently start an empty database somewhere else)."""
    folder = url.sqlite_file.parent
    if not folder.is_dir():
        raise DatabaseProblem(f"{SETTING}={url.display}: {_sqlite_open_reason(url.sqlite_file)}")


def explain(url: DatabaseUrl, exc: BaseException) -> DatabaseProblem:
    """The one-line problem for ``exc`` raised while using ``url``."""
    reason_of = _sqlite_reason if url.backend == "sqlite" else _postgres_reason
    for cause in _causes(exc):
        if isinstance(cause, DatabaseProblem):
            return cause
        reason = reason_of(url, cause)
        if reason is not None:
            return DatabaseProblem(f"{SETTING}={url.display}: {reason}")
    first_line = next(iter(str(exc).splitlines()), "")  # SQLAlchemy adds lines of its own
    return DatabaseProblem(f"{SETTING}={url.display}: {type(exc).__name__}: {first_line}")
