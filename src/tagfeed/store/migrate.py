"""Schema migrations with Alembic, configured in code so nothing but the package is needed."""

import sqlite3
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.exc import SQLAlchemyError

from tagfeed.store.diagnosis import check_sqlite_folder, explain
from tagfeed.store.urls import DatabaseUrl, parse_database_url

_SCRIPTS = Path(__file__).parent / "migrations"
# What a database that cannot be used raises through alembic; anything else (a bug in a
# migration) keeps its traceback.
_DATABASE_ERRORS = (SQLAlchemyError, OSError, sqlite3.Error, asyncpg.PostgresError)


def _config(url: DatabaseUrl) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["database_url"] = url.sqlalchemy_url
    config.attributes["backend"] = url.backend
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run from several processes at once on
    PostgreSQL (they queue on an advisory lock), and a no-op when already there. A
    database that cannot be used raises DatabaseProblem, one line naming the setting."""
    url = parse_database_url(database_url)
    if url.backend == "sqlite":
        check_sqlite_folder(url)
    try:
        command.upgrade(_config(url), revision)
    except _DATABASE_ERRORS as exc:  # SQLAlchemy wraps the driver's error; explain it
        raise explain(url, exc) from exc


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(_config(parse_database_url(database_url)), revision)


def head_revision() -> str:
    """The newest revision this version of tagfeed knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(
        _config(parse_database_url("sqlite:///unused"))
    ).get_current_head()
    assert head is not None
    return head
