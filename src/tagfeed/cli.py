"""The ``tagfeed`` command: ``serve``, ``migrate``, ``import``, ``export``, ``reduce``,
``rebuild``, ``relay``."""

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
        http="tagfeed.server.protocol:GuardedHttpToolsProtocol",
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


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from tagfeed.bulk.batches import ImportAborted
    from tagfeed.bulk.importer import import_file
    from tagfeed.store.errors import StoreError

    if settings.migrate_on_start:
        _migrate(settings)
    try:
        summary = import_file(
            settings,
            args.file,
            abort=args.on_error == "abort",
            batch_size=args.batch_size,
            stderr=sys.stderr,
        )
    except ImportAborted as exc:
        print(f"{exc}\ntagfeed: import aborted; nothing was imported", file=sys.stderr)
        return 1
    except (OSError, StoreError) as exc:
        print(f"tagfeed: import failed; nothing was imported: {exc}", file=sys.stderr)
        return 1
    print(summary.describe())
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    import time

    from tagfeed.bulk.export import export_messages
    from tagfeed.bulk.files import open_output
    from tagfeed.domain.errors import InvalidInput
    from tagfeed.domain.tags import normalise_tag
    from tagfeed.store.errors import StoreError

    try:
        tag = None if args.tag is None else normalise_tag(args.tag)
    except InvalidInput as exc:
        print(f"tagfeed: --tag: {exc.detail}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        with open_output(args.file) as out:
            written = export_messages(settings, out, tag=tag)
    except (OSError, StoreError) as exc:
        print(f"tagfeed: export failed: {exc}", file=sys.stderr)
        return 1
    # stderr: stdout may be carrying the lines themselves
    print(f"exported {written} messages in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    return 0


def _reduce(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio
    import contextlib

    from tagfeed.server.logs import configure_logging
    from tagfeed.service.reducing import CATCH_UP, keep_running
    from tagfeed.store.factory import store_from_settings

    reducer = CATCH_UP.get(args.name)
    if reducer is None:
        print(
            f"tagfeed: no catch-up reducer {args.name!r}; known: {', '.join(CATCH_UP)}",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings.log_level)

    async def follow() -> None:
        store = store_from_settings(settings)
        await store.open()
        try:
            # Stands by while another process holds the reducer.
            await keep_running(
                store, reducer, every=settings.reducer_lease_seconds / 3, batch=args.batch_size
            )
        finally:
            await store.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(follow())
    return 0


def _rebuild(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio
    import time

    from tagfeed.service.reducing import VIEWS, rebuild
    from tagfeed.store.errors import StoreError
    from tagfeed.store.factory import store_from_settings

    if args.view not in VIEWS:
        print(f"tagfeed: no view {args.view!r}; known: {', '.join(VIEWS)}", file=sys.stderr)
        return 2

    async def build() -> int:
        store = store_from_settings(settings)
        await store.open()
        try:
            return await rebuild(store, args.view)
        finally:
            await store.close()

    started = time.perf_counter()
    try:
        position = asyncio.run(build())
    except StoreError as exc:
        print(f"tagfeed: rebuild failed; the old view is still in place: {exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    print(f"rebuilt {args.view} up to position {position} in {seconds:.2f} s")
    return 0


def _relay(settings: Settings, args: argparse.Namespace) -> int:
    from tagfeed.relay.relaying import run_until_stopped

    return run_until_stopped(settings, batch=args.batch_size)


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tagfeed", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", help="default TAGFEED_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, help="default TAGFEED_PORT or 8080")
    serve.add_argument("--workers", type=int, help="processes; default TAGFEED_WORKERS or 1")
    serve.add_argument("--no-migrate", action="store_true", help="do not migrate on start")
    commands.add_parser("migrate", help="apply schema migrations and exit")
    load = commands.add_parser(
        "import", help="load messages from JSON Lines (gzip or not); see docs/bulk.md"
    )
    load.add_argument("file", metavar="FILE", help="a .jsonl or .jsonl.gz file, or - for stdin")
    load.add_argument(
        "--on-error",
        choices=["skip", "abort"],
        default="skip",
        help="bad lines: report and skip them (default), or stop and import nothing",
    )
    load.add_argument(
        "--batch-size", type=_positive, default=10_000, help="lines per write (default 10000)"
    )
    dump = commands.add_parser("export", help="write messages as JSON Lines, oldest first")
    dump.add_argument(
        "file", metavar="FILE", nargs="?", default="-", help="gzip when it ends in .gz; - stdout"
    )
    dump.add_argument("--tag", help="only messages with this tag (normalised)")
    reduce = commands.add_parser(
        "reduce", help="run a catch-up reducer until stopped (see docs/events.md)"
    )
    reduce.add_argument("name", metavar="NAME", help="the reducer: tags")
    reduce.add_argument(
        "--batch-size", type=_positive, default=1000, help="events per transaction (default 1000)"
    )
    remake = commands.add_parser(
        "rebuild", help="rebuild a view from the event log and swap it in (docs/events.md)"
    )
    remake.add_argument("view", metavar="VIEW", help="messages, counts, tags or trending")
    relay = commands.add_parser(
        "relay", help="publish the event log to NATS JetStream until stopped (docs/events.md)"
    )
    relay.add_argument(
        "--batch-size", type=_positive, default=1000, help="events per checkpoint (default 1000)"
    )
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
    if args.command == "import":
        return _import(settings, args)
    if args.command == "export":
        return _export(settings, args)
    if args.command == "reduce":
        return _reduce(settings, args)
    if args.command == "rebuild":
        return _rebuild(settings, args)
    if args.command == "relay":
        return _relay(settings, args)
    return _migrate(settings)
