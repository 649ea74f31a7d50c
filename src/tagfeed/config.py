"""Settings, read once from ``TAGFEED_*`` environment variables into a typed object.

A bad value stops start-up with an error naming the variable (``SettingsError``).

Read once per process: the ``tagfeed`` command reads and checks them before anything
starts, and installs the object (``use_for_this_process``); the request-head bounds go to
granian from it (``server/serving.py``). ``tagfeed serve`` hands granian an import string,
and granian's workers (one or more) are fresh interpreters, which share no memory with the
command: each reads the same, already checked environment once, through the same function,
for the app it builds. No other module reads the environment.
"""

import re
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from tagfeed.auth.jwt_keys import KeyRing, jwks_keys, pem_keys, secret_keys
from tagfeed.store.urls import DatabaseUrl, parse_database_url

ENV_PREFIX = "TAGFEED_"


class SettingsError(Exception):
    """One or more TAGFEED_* variables hold a value we cannot use."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,  # a bad secret or database URL is never echoed
        allow_inf_nan=False,  # nan would pass no bound check with a sensible message
    )

    database_url: str = "sqlite:///./tagfeed.db"
    # PostgreSQL only: where GET reads go (replicas, e.g. a router that checks Patroni's
    # /replica), each read waiting there for the position it must reflect; unset, reads
    # go where writes go (docs/deployment.md, "Reads from replicas").
    database_read_url: str | None = None
    db_timeout: float = Field(5.0, gt=0, le=300)
    db_pool_size: int = Field(10, ge=1, le=1000)
    sqlite_synchronous: Literal["NORMAL", "FULL", "EXTRA"] = "FULL"
    migrate_on_start: bool = True
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Hostile clients (docs/reliability.md): the largest request head (request line and
    # headers) and the time a client has to send a head, and again a body. The bounds are
    # granian's for the same settings (server/serving.py): a read buffer of at least
    # 8 KiB, a head timeout in whole milliseconds of at most a minute.
    max_header_bytes: int = Field(16 * 1024, ge=8 * 1024, le=1024 * 1024)
    read_timeout: float = Field(10.0, ge=0.001, le=60)
    max_text_length: int = Field(280, ge=1, le=100_000)
    retry_after_seconds: int = Field(2, ge=1, le=3600)
    # Live streams (docs/api.md, "GET /v1/messages/stream"): open streams per process
    # (503 beyond), an idle stream's heartbeat, and the bound on a client that stops
    # reading: events queued for it, or one write blocked this long. Then a read's wait
    # for Tagfeed-Min-Position (503 after it).
    stream_max_clients: int = Field(10_000, ge=1, le=1_000_000)
    stream_heartbeat_seconds: float = Field(15.0, gt=0, le=3600)
    stream_queue_events: int = Field(1000, ge=1, le=1_000_000)
    stream_write_timeout_seconds: float = Field(30.0, gt=0, le=3600)
    min_position_wait_seconds: float = Field(5.0, ge=0, le=60)
    idempotency_key_ttl_hours: float = Field(24, ge=1, le=24 * 365)
    idempotency_purge_interval_seconds: float = Field(600, ge=1, le=86_400)
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # granian's interface to the app (docs/architecture.md, "The path of one request").
    # RSGI serves the route table without the ASGI glue, but granian's RSGI streams have
    # no backpressure: a live-stream client that stops reading is never dropped (its
    # events pile up in the worker), a bound ASGI keeps. So ASGI stays the default.
    server_interface: Literal["asgi", "rsgi"] = "asgi"
    # Prometheus metrics (docs/metrics.md): at /metrics on the API's port, or, with a
    # metrics port, only there (same host), kept off a port the public may reach.
    metrics: bool = True
    metrics_port: int | None = Field(None, ge=1, le=65535)

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _no_metrics_port(cls, raw: object) -> object:
        return None if raw == "" else raw

    @model_validator(mode="after")
    def _metrics_port_usable(self) -> Self:
        if self.metrics_port is not None and not self.metrics:
            raise ValueError(
                f"{ENV_PREFIX}METRICS_PORT set, but {ENV_PREFIX}METRICS is off: unset one"
            )
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError(f"{ENV_PREFIX}METRICS_PORT must differ from {ENV_PREFIX}PORT")
        return self

    # Authentication (docs/api.md "Authentication", SECURITY.md).
    auth_mode: Literal["gateway", "jwt"] = "gateway"
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    jwt_secret: SecretStr | None = None
    jwt_public_key_file: Path | None = None
    jwt_jwks_file: Path | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = Field(30, ge=0, le=300)
    count_role: str | None = None
    # Catch-up reducers (docs/events.md) run inside `tagfeed serve` unless this is off,
    # e.g. when `tagfeed reduce NAME` runs them as processes of their own.
    run_reducers: bool = True
    # SQLite: how long a catch-up reducer's lease lasts unless renewed (it is, every
    # third of it); a process that died is taken over after at most this long.
    reducer_lease_seconds: float = Field(15.0, ge=1, le=600)
    # `tagfeed relay` (docs/events.md, "The relay to NATS JetStream"): where, into which
    # stream and under which subjects; the stream's replicas, age limit and duplicate window.
    nats_url: str = "nats://127.0.0.1:4222"
    nats_stream: str = Field("tagfeed", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    nats_subject_prefix: str = Field(
        "tagfeed.messages", pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
    )
    nats_replicas: int = Field(1, ge=1, le=5)
    nats_max_age_days: float = Field(7.0, gt=0, le=3650)
    nats_duplicate_window_seconds: float = Field(120.0, ge=10, le=86_400)
    _jwt_keys: KeyRing | None = PrivateAttr(None)

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        parse_database_url(url)
        return url

    @field_validator("database_read_url", mode="before")
    @classmethod
    def _no_read_url(cls, raw: object) -> object:
        return None if raw == "" else raw

    @field_validator("database_read_url")
    @classmethod
    def _read_url_is_postgres(cls, url: str | None) -> str | None:
        if url is not None and parse_database_url(url).backend != "postgresql":
            raise ValueError("must be a postgresql:// URL (reads from replicas)")
        return url

    @model_validator(mode="after")
    def _read_url_with_postgres(self) -> Self:
        if self.database_read_url is not None and self.database.backend != "postgresql":
            raise ValueError(
                f"{ENV_PREFIX}DATABASE_READ_URL is set, but {ENV_PREFIX}DATABASE_URL is not"
                " PostgreSQL: replicas are PostgreSQL's; unset it"
            )
        return self

    @field_validator(
        "jwt_secret",
        "jwt_public_key_file",
        "jwt_jwks_file",
        "jwt_issuer",
        "jwt_audience",
        "count_role",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, raw: object) -> object:
        return None if raw == "" else raw

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, raw: object) -> object:
        """A comma-separated string (as the environment holds it) or a sequence of IPs and
        CIDRs; a bare address is a network of one. Host bits set in a CIDR are refused."""
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple):
            return raw
        try:
            return tuple(
                ip_network(item.strip()) if isinstance(item, str) else item
                for item in items
                if not isinstance(item, str) or item.strip()
            )
        except ValueError as exc:
            raise ValueError(f"{exc}; expected IPs or CIDRs, comma-separated") from None

    @field_validator("count_role")
    @classmethod
    def _role_name(cls, role: str | None) -> str | None:
        # Roles arrive comma-separated (X-User-Roles) or space-separated (a JWT claim).
        if role is not None and not re.fullmatch(r"[^\s,]{1,128}", role):
            raise ValueError("must be 1-128 characters without spaces or commas")
        return role

    @model_validator(mode="after")
    def _auth(self) -> Self:
        """JWT mode needs exactly one key source, read and checked here, once. JWT
        settings in gateway mode are refused: whoever set them believes tokens are checked."""
        sources = {
            f"{ENV_PREFIX}JWT_SECRET": self.jwt_secret,
            f"{ENV_PREFIX}JWT_PUBLIC_KEY_FILE": self.jwt_public_key_file,
            f"{ENV_PREFIX}JWT_JWKS_FILE": self.jwt_jwks_file,
        }
        given = [name for name, value in sources.items() if value is not None]
        if self.auth_mode == "gateway":
            jwt_only = {
                **sources,
                f"{ENV_PREFIX}JWT_ISSUER": self.jwt_issuer,
                f"{ENV_PREFIX}JWT_AUDIENCE": self.jwt_audience,
            }
            stray = [name for name, value in jwt_only.items() if value is not None]
            if stray:
                raise ValueError(
                    f"{', '.join(stray)} set, but {ENV_PREFIX}AUTH_MODE is gateway, which "
                    f"checks no tokens: set {ENV_PREFIX}AUTH_MODE=jwt or unset them"
                )
            return self
        if len(given) != 1:
            raise ValueError(
                f"{ENV_PREFIX}AUTH_MODE=jwt needs exactly one of {', '.join(sources)}"
                + (f"; got {', '.join(given)}" if given else "")
            )
        try:
            if self.jwt_secret is not None:
                self._jwt_keys = secret_keys(self.jwt_secret.get_secret_value())
            elif self.jwt_public_key_file is not None:
                self._jwt_keys = pem_keys(self.jwt_public_key_file)
            elif self.jwt_jwks_file is not None:
                self._jwt_keys = jwks_keys(self.jwt_jwks_file)
        except ValueError as exc:
            raise ValueError(f"{given[0]}: {exc}") from None
        return self

    @property
    def database(self) -> DatabaseUrl:
        """``database_url``, parsed: the backend, the driver's forms, a display form."""
        return parse_database_url(self.database_url)

    @property
    def jwt_keys(self) -> KeyRing:
        """The verification keys of JWT mode; ValueError in gateway mode, which has none."""
        if self._jwt_keys is None:
            raise ValueError(f"{ENV_PREFIX}AUTH_MODE is not jwt: there are no JWT keys")
        return self._jwt_keys


class _ExplicitSettings(Settings):
    """Settings from the values given and the defaults only: no environment."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _checked(build: type[Settings], values: dict[str, object]) -> Settings:
    try:
        return build(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "\n".join(
            # pydantic prefixes our validators' messages with "Value error, "
            (
                f"{ENV_PREFIX}{'_'.join(str(p) for p in error['loc']).upper()}: "
                if error["loc"]
                else ""  # a check across variables (model validator) names them itself
            )
            + error["msg"].removeprefix("Value error, ")
            for error in exc.errors()
        )
        raise SettingsError(problems) from None


def load_settings(**overrides: object) -> Settings:
    """Read the environment (and ``overrides``, which win); raise SettingsError naming
    each bad variable."""
    return _checked(Settings, overrides)


def settings_from_values(**values: object) -> Settings:
    """Settings from ``values`` and the defaults, ignoring every ``TAGFEED_*`` variable:
    for tests and embedding, where a developer's environment must not leak in."""
    return _checked(_ExplicitSettings, values)


_this_process: Settings | None = None


def use_for_this_process(settings: Settings) -> None:
    """What ``settings_for_this_process`` answers from now on: the command's object."""
    global _this_process
    _this_process = settings


def settings_for_this_process() -> Settings:
    """The settings the command read, or (in a worker process granian spawned) the
    environment's, read and checked once here (module docstring)."""
    if _this_process is None:
        use_for_this_process(load_settings())
    assert _this_process is not None
    return _this_process
