"""``TAGFEED_DATABASE_URL``, parsed once into what each user of it needs.

The settings validate it with this parser, the adapters take their driver's form from it
(a SQLite path, an asyncpg DSN), the migrations SQLAlchemy's, and every message that names
the database uses ``display``, which never shows a password. Stdlib only: ``config``
imports it.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

_SQLITE = "sqlite:///"
_POSTGRES_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    url: str  # as configured
    backend: Literal["sqlite", "postgresql"]

    @property
    def sqlite_path(self) -> str:
        """The file, as written: relative to the current directory unless absolute."""
        if self.backend != "sqlite":
            raise ValueError(f"not a SQLite URL: {self.display}")
        return self.url[len(_SQLITE) :]

    @property
    def sqlite_file(self) -> Path:
        """The file, absolute and without ``..``: what logs and errors name."""
        return Path(os.path.abspath(self.sqlite_path))

    @property
    def asyncpg_dsn(self) -> str:
        """asyncpg takes ``postgresql://`` and ``postgres://`` as they are."""
        if self.backend != "postgresql":
            raise ValueError(f"not a PostgreSQL URL: {self.display}")
        return self.url

    @property
    def sqlalchemy_url(self) -> str:
        """For alembic: PostgreSQL through SQLAlchemy's asyncpg dialect, one driver for all."""
        if self.backend == "sqlite":
            return self.url
        return "postgresql+asyncpg://" + self.url.split("://", 1)[1]

    @property
    def display(self) -> str:
        """The URL for people: the password replaced by ``***``; a SQLite file made
        absolute, since a relative one depends on the directory tagfeed started in."""
        if self.backend == "sqlite":
            return f"{_SQLITE}{self.sqlite_file}"
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        user, _, host = parts.netloc.rpartition("@")
        name = user.partition(":")[0]
        return urlunsplit(parts._replace(netloc=f"{name}:***@{host}"))


def parse_database_url(url: str) -> DatabaseUrl:
    """ValueError, without echoing the URL (it may hold a password), unless it is one of
    ``sqlite:///<file>`` or ``postgresql://...`` (``postgres://`` too)."""
    if url.startswith(_SQLITE) and len(url) > len(_SQLITE):
        if url.endswith(":memory:"):
            raise ValueError("SQLite needs a file: several connections share it")
        return DatabaseUrl(url, "sqlite")
    scheme, sep, _ = url.partition("://")
    if sep and scheme in _POSTGRES_SCHEMES:
        return DatabaseUrl(url, "postgresql")
    raise ValueError("must start with sqlite:///<path> or postgresql://")
