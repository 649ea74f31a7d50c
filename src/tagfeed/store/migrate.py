"""Schema migrations with Alembic, configured in code so nothing but the package is needed."""

from pathlib import Path

from alembic import command
from alembic.config import Config

_SCRIPTS = Path(__file__).parent / "migrations"


def _alembic_url(database_url: str) -> str:
    if database_url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + database_url.split("://", 1)[1]
    return database_url


def _config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["database_url"] = _alembic_url(database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run from several processes at once on
    PostgreSQL (they queue on an advisory lock), and a no-op when already there."""
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(_config(database_url), revision)


def head_revision() -> str:
    """The newest revision this version of tagfeed knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config("sqlite:///unused")).get_current_head()
    assert head is not None
    return head
