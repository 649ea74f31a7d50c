"""Settings, read once from ``TAGFEED_*`` environment variables into a typed object.

A bad value stops start-up with an error naming the variable (``SettingsError``).
"""

from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "TAGFEED_"


class SettingsError(Exception):
    """One or more TAGFEED_* variables hold a value we cannot use."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    database_url: str = "sqlite:///./tagfeed.db"
    db_timeout: float = Field(5.0, gt=0, le=300)
    db_pool_size: int = Field(10, ge=1, le=1000)
    sqlite_synchronous: Literal["NORMAL", "FULL", "EXTRA"] = "FULL"
    migrate_on_start: bool = True
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    max_text_length: int = Field(280, ge=1, le=100_000)
    retry_after_seconds: int = Field(2, ge=1, le=3600)
    idempotency_key_ttl_hours: float = Field(24, ge=1, le=24 * 365)
    idempotency_purge_interval_seconds: float = Field(600, ge=1, le=86_400)
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
            if url.endswith(":memory:"):
                raise ValueError("SQLite needs a file: several connections share it")
            return url
        if url.startswith(("postgresql://", "postgres://")):
            return url
        raise ValueError("must start with sqlite:///<path> or postgresql://")


def load_settings(**overrides: object) -> Settings:
    """Read the environment (and ``overrides``, which win); raise SettingsError naming
    each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{ENV_PREFIX}{'_'.join(str(p) for p in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        raise SettingsError(problems) from None
