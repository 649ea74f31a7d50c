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
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path

from bench import database
from bench.options import QUICK_MESSAGES
from bench.scenarios import BY_NAME, write_request_files
from bench.servers import Running, tagfeed_server
from bench.side_by_side import prepare
from bench.stats import Sample
from bench.sweeps import wrk_sample


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
    samples: dict[str, dict[str, list[Sample]]] = {}
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
        files = write_request_files(
            work / "requests", servers["A"].url, dataset, options.ids, options.seed
        )
        for scenario in options.scenarios:
            requests = files[BY_NAME[scenario].requests]
            samples[scenario] = {"A": [], "B": []}
            for round_ in range(args.rounds):
                for side in ("A", "B") if round_ % 2 == 0 else ("B", "A"):
                    sample = wrk_sample(servers[side], requests, options)
                    samples[scenario][side].append(sample)
                    print(
                        f"  {scenario:<16} {side} {sample.rps:>9,.0f}/s "
                        f"p99 {sample.p99_ms or 0:7.1f} ms  load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
    shutil.rmtree(work, ignore_errors=True)
    a_is = f"{args.a_tagfeed}" if args.a_tagfeed else "as the environment is"
    b_is = f"{name}={value}" if args.setting else "this tree"
    print(f"A: {a_is}; B: {b_is}; {args.rounds} rounds of {args.duration} s")
    print(
        f"{'scenario':<16} {'A req/s':>9} {'B req/s':>9} {'B/A':>6} {'A µs/req':>9} "
        f"{'B µs/req':>9} {'A p99 ms':>9} {'B p99 ms':>9}"
    )
    for scenario, sides in samples.items():
        a, b = sides["A"], sides["B"]
        ratio = statistics.median(y.rps / x.rps for x, y in zip(a, b, strict=True) if x.rps)

        def cpu_us(runs: list[Sample]) -> float:
            return statistics.median((s.server_cpu or 0) / s.rps * 1e6 for s in runs if s.rps)

        def p99(runs: list[Sample]) -> float:
            return statistics.median(s.p99_ms or 0 for s in runs)

        print(
            f"{scenario:<16} {statistics.median(s.rps for s in a):>9,.0f} "
            f"{statistics.median(s.rps for s in b):>9,.0f} {ratio:>6.3f} "
            f"{cpu_us(a):>9.1f} {cpu_us(b):>9.1f} {p99(a):>9.1f} {p99(b):>9.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
