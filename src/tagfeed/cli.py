"""The ``tagfeed`` command: ``serve`` and ``migrate``."""

import argparse
import os
import sys

from tagfeed.config import ENV_PREFIX, Settings, SettingsError, load_settings


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    if settings.migrate_on_start and not args.no_migrate:
        _migrate(settings)
    # Worker processes build their own app from the environment, so pass the
    # command-line choices on through it.
    os.environ[f"{ENV_PREFIX}LOG_LEVEL"] = settings.log_level
    uvicorn.run(
        "tagfeed.api.app:app_from_environment",
        factory=True,
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
        workers=args.workers or settings.workers,
        loop="uvloop",
        # httptools, plus bounds on slow and oversized request heads (docs/reliability.md).
        # No limit_concurrency: it counts idle connections too, and would answer 503 to a
        # real client while idle or slow ones (each closed within seconds) hold the count.
        http="tagfeed.api.protocol:GuardedHttpToolsProtocol",
        access_log=False,  # our own middleware logs one structured line per request
        log_level="warning",
        server_header=False,
        # The peer must stay the TCP peer: TAGFEED_TRUSTED_PROXIES checks it (SECURITY.md).
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.db_timeout) + 5,
    )
    return 0


def _migrate(settings: Settings) -> int:
    from tagfeed.store.migrate import upgrade

    upgrade(settings.database_url)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tagfeed", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", help="default TAGFEED_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, help="default TAGFEED_PORT or 8080")
    serve.add_argument("--workers", type=int, help="processes; default TAGFEED_WORKERS or 1")
    serve.add_argument("--no-migrate", action="store_true", help="do not migrate on start")
    commands.add_parser("migrate", help="apply schema migrations and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"tagfeed: bad configuration: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, args)
    return _migrate(settings)
