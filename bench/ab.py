"""A/B: two ``tagfeed serve`` on one data set, B with an extra ``TAGFEED_*`` setting or A
another tree's code, driven in turn (A B, then B A, ...) scenario by scenario, so both see
the same noisy neighbours.

    python -m bench.ab TAGFEED_METRICS=false [--scenarios get_by_id,post_random] [--rounds 4]
    python -m bench.ab --a-tagfeed /work/main/.venv/bin/tagfeed   # A: that tree, B: this one

Prints, per scenario, the median req/s of each side, B/A (the median of the ratios taken
within each round), the median p99 of each side, and the server CPU per request of each
side (cores busy / req/s), which moves less than req/s when other work shares the
machine; each run's line shows the load average. SQLite, 100k messages, as
``make bench-quick``; ``make bench-ab AB=...`` runs it (docs/performance.md).
"""

import argparse
import os
import shutil
import sys
from contextlib import ExitStack
from pathlib import Path

from bench import database
from bench.options import QUICK_MESSAGES
from bench.servers import Running, tagfeed_server
from bench.side_by_side import drive_in_turn, prepare, print_pairs


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n")[0])
    p.add_argument(
        "setting", nargs="?", help="B's extra setting, NAME=VALUE (a TAGFEED_* variable)"
    )
    p.add_argument(
        "--a-tagfeed",
        type=Path,
        help="A runs this tagfeed command (another tree's venv); B runs this tree's",
    )
    p.add_argument("--scenarios", default="get_by_id,post_random")
    p.add_argument("--rounds", type=int, default=4, help="A/B pairs per scenario (default 4)")
    p.add_argument("--duration", type=float, default=3.0, help="seconds per run (default 3)")
    p.add_argument("--messages", type=int, default=QUICK_MESSAGES)
    return p


def _started(
    stack: ExitStack, url: str, log: Path, extra: dict[str, str], command: Path | None = None
) -> Running:
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        return stack.enter_context(tagfeed_server(url, 1, log, command))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    name, _, value = (args.setting or "").partition("=")
    if args.setting is None and args.a_tagfeed is None:
        print("bench.ab: give a setting for B, or --a-tagfeed for A", file=sys.stderr)
        return 2
    if args.setting is not None and (not name.startswith("TAGFEED_") or not value):
        print("bench.ab: the setting must be TAGFEED_NAME=VALUE", file=sys.stderr)
        return 2
    extra = {name: value} if args.setting is not None else {}
    options, work, dataset = prepare("ab", args.scenarios, args.duration, args.messages)
    with database.sqlite_database(work / "tagfeed.db") as url, ExitStack() as stack:
        database.load(url, dataset.path, work / "import.log")
        database.catch_up_views(url, work / "import.log")
        # Both servers share one database, so one of them would hold every catch-up
        # reducer's lease and fold the posts of both: ~35 us more CPU a POST on that side,
        # a bias larger than most settings under test. Neither runs them, unless the
        # setting under test is that one (or the caller's environment says otherwise).
        common = {} if name == "TAGFEED_RUN_REDUCERS" else {"TAGFEED_RUN_REDUCERS": "false"}
        common = {k: v for k, v in common.items() if k not in os.environ}
        servers = {
            "A": _started(stack, url, work / "a.log", common, args.a_tagfeed),
            "B": _started(stack, url, work / "b.log", {**common, **extra}),
        }
        samples = drive_in_turn(servers, work, dataset, options, args.rounds)
    shutil.rmtree(work, ignore_errors=True)
    a_is = f"{args.a_tagfeed}" if args.a_tagfeed else "as the environment is"
    b_is = f"{name}={value}" if args.setting else "this tree"
    print(f"A: {a_is}; B: {b_is}; {args.rounds} rounds of {args.duration} s")
    print_pairs(samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
