"""The tagfeed command: serve, migrate, import, export, reduce, rebuild and relay."""

import argparse
import os
import socket
import subprocess
import sys
import time
from importlib.metadata import version
from typing import TYPE_CHECKING, NoReturn

from tagfeed.config import Settings, SettingsError, load_settings, use_for_this_process

if TYPE_CHECKING:
    from tagfeed.server.plan import ServerPlan

DESCRIPTION = """\
tagfeed: a service for short tagged messages.

Every command uses the database TAGFEED_DATABASE_URL names: sqlite:///<file> (default
sqlite:///./tagfeed.db, relative to the current directory), sqlite:////<absolute file>
or postgresql://user[:password]@host:port/database. serve also reads TAGFEED_HOST,
TAGFEED_PORT, TAGFEED_WORKERS and the other TAGFEED_* variables of the README's table."""

_DATABASE = "the database: TAGFEED_DATABASE_URL (default sqlite:///./tagfeed.db, relative to"
_DATABASE += " the current directory)"

IMPORT_FORMAT = (
    """\
One JSON object per line; blank lines are passed over:
  {"text": "...", "tag": "...", "user_id": "1", "created_at": "2026-11-28T15:46:08Z"}
text, tag and user_id are checked and normalised as POST /v1/messages does them;
created_at is an RFC 3339 instant with a zone; an optional "id" (a lower-case UUID) is kept,
otherwise one is made. Other fields are ignored. Bad lines are reported on stderr with
their number. Writes to """
    + _DATABASE
    + "."
)


def _fail(message: str) -> int:
    print(f"tagfeed: {message}", file=sys.stderr)
    return 1


def _probe(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, or None. Checked before migrating, so a
    port in use is one line, not a migration, a start and a stop. granian binds it again
    just after (with SO_REUSEADDR, as here); another process could take it in between,
    which granian then reports itself."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    """Check the port, migrate, then become granian's main process: exec the lean
    launcher (``server/launch.py``) with what it needs of the settings, so the process
    that lives as long as the server holds neither pydantic nor the app (the workers
    read the settings themselves). Same pid, stdout, stderr and signals."""
    from tagfeed.server.plan import ServerPlan

    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    workers = args.workers or settings.workers
    refused = _probe(host, port)
    if refused is not None:
        return _fail(f"{refused}; choose another with --port or TAGFEED_PORT")
    if settings.migrate_on_start and not args.no_migrate:
        code = _migrate_apart()
        if code:
            return code
    return _become_server(ServerPlan.of(settings, host, port, workers))


def _become_server(plan: "ServerPlan") -> NoReturn:
    from tagfeed.server.plan import launch_command

    argv = launch_command(plan)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)  # noqa: S606 - this interpreter, our own module


def _migrate_apart() -> int:
    """``tagfeed migrate`` for ``serve``, in a short-lived process of its own with this
    one's environment (so the same settings): alembic and SQLAlchemy, ~33 MB, are
    imported there, not in the server's main process, which lives as long as the server
    (docs/performance.md, "Streams"). Its one line when the database cannot be used goes
    to stderr as it is; what it prints on success is dropped."""
    done = subprocess.run(
        [sys.executable, "-m", "tagfeed", "migrate"], stdout=subprocess.DEVNULL, check=False
    )
    return done.returncode if done.returncode > 0 else (1 if done.returncode else 0)


def _migrate(settings: Settings, *, quiet: bool = False) -> int:
    from tagfeed.store.diagnosis import DatabaseProblem
    from tagfeed.store.migrate import head_revision, upgrade

    try:
        upgrade(settings.database_url)
    except DatabaseProblem as exc:
        return _fail(str(exc))
    if not quiet:
        print(f"{settings.database.display}: schema at revision {head_revision()} (the newest)")
    return 0


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from tagfeed.bulk.batches import ImportAborted
    from tagfeed.bulk.importer import import_file
    from tagfeed.store.diagnosis import explain
    from tagfeed.store.errors import StoreError

    if settings.migrate_on_start:
        code = _migrate(settings, quiet=True)
        if code:
            return code
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
    except StoreError as exc:
        return _fail(f"import failed; nothing was imported: {explain(settings.database, exc)}")
    except OSError as exc:
        return _fail(f"import failed; nothing was imported: {exc}")
    print(f"{summary.describe()}, into {settings.database.display}")
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from tagfeed.bulk.export import export_messages
    from tagfeed.bulk.files import open_output
    from tagfeed.domain.errors import InvalidInput
    from tagfeed.domain.tags import normalise_tag
    from tagfeed.store.diagnosis import explain
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
    except StoreError as exc:
        return _fail(f"export failed: {explain(settings.database, exc)}")
    except OSError as exc:
        # the file is written beside its name and renamed at the end: name the file asked
        # for, not the temporary one the error holds
        return _fail(f"export failed: cannot write {args.file}: {exc.strerror or exc}")
    # stderr: stdout may be carrying the lines themselves
    print(f"exported {written} messages in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    return 0


def _metrics_port(settings: Settings, requested: int | None) -> tuple[int | None, str | None]:
    """``relay`` and ``reduce``: the port to serve ``/metrics`` on (``--metrics-port``, else
    TAGFEED_METRICS_PORT; None: no port), or why it cannot be used."""
    port = settings.metrics_port if requested is None else requested
    if port is None:
        return None, None
    if not settings.metrics:
        return None, "--metrics-port given, but TAGFEED_METRICS is off: unset one"
    refused = _probe(settings.host, port)
    if refused is not None:
        return None, f"{refused}; choose another with --metrics-port or TAGFEED_METRICS_PORT"
    return port, None


def _reduce(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio
    import contextlib

    from tagfeed.metrics import METRICS
    from tagfeed.server.logs import configure_logging
    from tagfeed.server.metrics_share import metrics_for_serving
    from tagfeed.service.reducing import CATCH_UP, keep_running
    from tagfeed.store.factory import store_from_settings

    reducer = CATCH_UP.get(args.name)
    if reducer is None:
        print(
            f"tagfeed: no catch-up reducer {args.name!r}; known: {', '.join(CATCH_UP)}",
            file=sys.stderr,
        )
        return 2
    port, problem = _metrics_port(settings, args.metrics_port)
    if problem is not None:
        return _fail(problem)
    configure_logging(settings.log_level)

    async def follow() -> None:
        store = store_from_settings(settings)
        await store.open()
        try:
            # Stands by while another process holds the reducer.
            await keep_running(
                store,
                reducer,
                every=settings.reducer_lease_seconds / 3,
                batch=args.batch_size,
                metrics=METRICS if settings.metrics else None,
            )
        finally:
            await store.close()

    with contextlib.suppress(KeyboardInterrupt), metrics_for_serving(False, port, settings.host):
        asyncio.run(follow())
    return 0


def _rebuild(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio
    import time

    from tagfeed.service.reducing import VIEWS, rebuild
    from tagfeed.store.codec import UnknownEvent
    from tagfeed.store.diagnosis import explain
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
        reason = explain(settings.database, exc)
        return _fail(f"rebuild failed; the old view is still in place: {reason}")
    except UnknownEvent as exc:  # appended by a newer tagfeed
        return _fail(f"rebuild failed; the old view is still in place: {exc}; upgrade tagfeed")
    seconds = time.perf_counter() - started
    print(f"rebuilt {args.view} up to position {position} in {seconds:.2f} s")
    return 0


def _relay(settings: Settings, args: argparse.Namespace) -> int:
    from tagfeed.relay.relaying import run_until_stopped
    from tagfeed.server.metrics_share import metrics_for_serving

    port, problem = _metrics_port(settings, args.metrics_port)
    if problem is not None:
        return _fail(problem)
    with metrics_for_serving(False, port, settings.host):
        return run_until_stopped(settings, batch=args.batch_size)


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 1-65535, got {value}")
    return value


_METRICS_PORT_HELP = (
    "serve /metrics (its position and lag gauges, its database calls) on this port of"
    " TAGFEED_HOST; default TAGFEED_METRICS_PORT, else none"
)


def _parser() -> argparse.ArgumentParser:
    text = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="tagfeed", description=DESCRIPTION, formatter_class=text)
    parser.add_argument("--version", action="version", version=f"tagfeed {version('tagfeed')}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the HTTP API",
        description=f"Serve the HTTP API on {_DATABASE}, migrating it first.",
    )
    serve.add_argument("--host", help="default TAGFEED_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, help="default TAGFEED_PORT or 8080")
    serve.add_argument("--workers", type=int, help="processes; default TAGFEED_WORKERS or 1")
    serve.add_argument(
        "--no-migrate",
        action="store_true",
        help="do not migrate on start (as TAGFEED_MIGRATE_ON_START=false)",
    )
    commands.add_parser(
        "migrate",
        help="apply schema migrations and exit",
        description=f"Bring the schema of {_DATABASE} to the newest revision.",
    )
    load = commands.add_parser(
        "import",
        help="load messages from JSON Lines (gzip or not)",
        description=IMPORT_FORMAT,
        formatter_class=text,
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
    dump = commands.add_parser(
        "export",
        help="write messages as JSON Lines, oldest first",
        description=f"Write the messages of {_DATABASE} as JSON Lines, oldest first, in the"
        " format import reads.",
    )
    dump.add_argument(
        "file", metavar="FILE", nargs="?", default="-", help="gzip when it ends in .gz; - stdout"
    )
    dump.add_argument("--tag", help="only messages with this tag (normalised)")
    reduce = commands.add_parser(
        "reduce",
        help="run a catch-up reducer until stopped",
        description=f"Run a catch-up reducer on {_DATABASE} until stopped; one process at a"
        " time holds it, others stand by.",
    )
    reduce.add_argument("name", metavar="NAME", help="the reducer: tags or trending")
    reduce.add_argument(
        "--batch-size", type=_positive, default=1000, help="events per transaction (default 1000)"
    )
    reduce.add_argument("--metrics-port", type=_port, help=_METRICS_PORT_HELP)
    remake = commands.add_parser(
        "rebuild",
        help="rebuild a view from the event log and swap it in",
        description=f"Rebuild a view of {_DATABASE} from its event log into fresh tables"
        " while the old one serves, then swap it in.",
    )
    remake.add_argument("view", metavar="VIEW", help="messages, counts, tags or trending")
    relay = commands.add_parser(
        "relay",
        help="publish the event log to NATS JetStream until stopped",
        description=f"Publish the event log of {_DATABASE} to the JetStream stream"
        " TAGFEED_NATS_STREAM at TAGFEED_NATS_URL, in log order, until stopped.",
    )
    relay.add_argument(
        "--batch-size", type=_positive, default=1000, help="events per checkpoint (default 1000)"
    )
    relay.add_argument("--metrics-port", type=_port, help=_METRICS_PORT_HELP)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        for problem in str(exc).splitlines():
            print(f"tagfeed: bad configuration: {problem}", file=sys.stderr)
        return 2
    use_for_this_process(settings)  # the app factory and the protocol get this object
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
