"""Two trees of tagfeed, back to back: each its own SQLite file loaded by its own ``tagfeed
import``, each app served by the same granian command, driven in turn (A B, then B A, ...)
scenario by scenario, so both see the same noisy neighbours.

    python -m bench.trees /path/to/old/checkout [--scenarios post_random,post_hot_tag]

A is the other tree (its ``.venv`` must hold tagfeed and granian), B this one. For what a
change of the code costs where the schema differs too (issue 9: POST with the event log
against the commit before it), which ``bench.ab`` (one database, one tree) cannot measure.
Both apps run under ``python -m granian`` with the options ``tagfeed serve`` gives
granian, so the server is not part of the difference. Prints each side's median req/s, p99,
B/A (the median of the ratios within rounds) and server CPU per request.
"""

import argparse
import os
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from bench.options import QUICK_MESSAGES
from bench.servers import HOST, Running, free_port, server_process
from bench.side_by_side import drive_in_turn, prepare, print_pairs
from tagfeed.config import settings_from_values
from tagfeed.server.serving import APP, BACKLOG

HERE = Path(sys.executable).parent


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.trees", description=__doc__.split("\n")[0])
    p.add_argument("other", type=Path, help="the other tree's checkout, with its .venv")
    p.add_argument("--scenarios", default="post_random,post_hot_tag")
    p.add_argument("--rounds", type=int, default=4, help="A/B pairs per scenario (default 4)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per run (default 5)")
    p.add_argument("--messages", type=int, default=QUICK_MESSAGES)
    p.add_argument(
        "--b-env", action="append", default=[], help="NAME=VALUE for B only (repeatable)"
    )
    return p


def _load(bin_dir: Path, db: Path, data: Path, log: Path) -> str:
    url = f"sqlite:///{db}"
    env = {**os.environ, "TAGFEED_DATABASE_URL": url}
    with log.open("ab") as out:
        for command in (["migrate"], ["import", str(data)]):
            subprocess.run(
                [str(bin_dir / "tagfeed"), *command], env=env, stdout=out, stderr=out, check=True
            )
    return url


def _serve(stack: ExitStack, bin_dir: Path, url: str, log: Path, extra: dict[str, str]) -> Running:
    settings = settings_from_values()
    port = free_port()
    command = [
        str(bin_dir / "python"),
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--factory",
        "--loop",
        "uvloop",
        "--http",
        "1",
        "--no-ws",
        "--workers",
        "1",
        "--backpressure",
        str(settings.stream_max_clients + BACKLOG),
        "--log-level",
        "warning",
        "--host",
        HOST,
        "--port",
        str(port),
        APP,
    ]
    env = {**os.environ, "TAGFEED_DATABASE_URL": url, "TAGFEED_LOG_LEVEL": "warning", **extra}
    return stack.enter_context(server_process(command, env, log, f"http://{HOST}:{port}"))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    other_bin = args.other.resolve() / ".venv" / "bin"
    b_env = dict(item.partition("=")[::2] for item in args.b_env)
    options, work, dataset = prepare("trees", args.scenarios, args.duration, args.messages)
    with ExitStack() as stack:
        urls = {
            side: _load(bin_dir, work / f"{side}.db", dataset.path, work / f"{side}-import.log")
            for side, bin_dir in (("A", other_bin), ("B", HERE))
        }
        servers = {
            "A": _serve(stack, other_bin, urls["A"], work / "a.log", {}),
            "B": _serve(stack, HERE, urls["B"], work / "b.log", b_env),
        }
        samples = drive_in_turn(servers, work, dataset, options, args.rounds)
    shutil.rmtree(work, ignore_errors=True)
    print(f"A: {args.other}; B: this tree {b_env or ''}; {args.rounds} rounds of {args.duration} s")
    print_pairs(samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
