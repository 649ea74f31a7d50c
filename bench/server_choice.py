"""The comparison that chose tagfeed's HTTP server: tagfeed and the bare peer, each on
granian and on uvicorn, four servers on one data set, driven in turn scenario by scenario
(the order reversed every round), so all four see the same noisy neighbours.

    python -m bench.server_choice --uvicorn-tagfeed /path/to/old/.venv/bin/tagfeed

``--uvicorn-tagfeed`` is the ``tagfeed`` command of a tree from before the switch (commit
0da6980), whose ``serve`` runs uvicorn with its own request-head protocol; without it,
tagfeed's app runs under plain ``uvicorn --factory`` (httptools, no head bounds). Prints,
per scenario, each server's median req/s, p99 and server CPU per request, and the medians
of the ratios taken within each round. SQLite, 100k messages, as ``make bench-quick``;
every server with the catch-up reducers off (they would fold the posts of all of them).
"""

import argparse
import os
import shutil
import statistics
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench import database
from bench.options import QUICK_MESSAGES
from bench.scenarios import BY_NAME, write_request_files
from bench.servers import HOST, Running, free_port, peer_server, server_process
from bench.side_by_side import prepare
from bench.stats import Sample
from bench.sweeps import wrk_sample

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
KINDS = ("tagfeed-granian", "tagfeed-uvicorn", "peer-granian", "peer-uvicorn")
# (B, A): B / A is reported
PAIRS = (
    ("tagfeed-granian", "tagfeed-uvicorn"),
    ("peer-granian", "peer-uvicorn"),
    ("tagfeed-granian", "peer-granian"),
    ("tagfeed-uvicorn", "peer-uvicorn"),
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.server_choice", description=__doc__.split("\n")[0]
    )
    p.add_argument("--uvicorn-tagfeed", type=Path, help="tagfeed of a tree before the switch")
    p.add_argument("--scenarios", default="get_by_id,page_hot_tag,post_random")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=8.0, help="seconds per run (default 8)")
    p.add_argument("--messages", type=int, default=QUICK_MESSAGES)
    return p


@contextmanager
def _server(kind: str, url: str, log: Path, old_tagfeed: Path | None) -> Iterator[Running]:
    if kind == "peer-granian":
        with peer_server(1, log) as running:
            yield running
        return
    port = free_port()
    uvicorn = [
        str(BIN / "uvicorn"), "--host", HOST, "--port", str(port), "--workers", "1",
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
        "--no-server-header",
    ]  # fmt: skip
    serve = ["serve", "--host", HOST, "--port", str(port)]
    command = {
        "tagfeed-granian": [str(BIN / "tagfeed"), *serve],
        "tagfeed-uvicorn": (
            [str(old_tagfeed), *serve]
            if old_tagfeed
            else [*uvicorn, "--factory", "tagfeed.api.app:app_from_environment"]
        ),
        "peer-uvicorn": [*uvicorn, "bench.peer:app"],
    }[kind]
    env = {
        **os.environ,
        "TAGFEED_DATABASE_URL": url,
        "TAGFEED_LOG_LEVEL": "warning",
        "TAGFEED_RUN_REDUCERS": "false",
        "PYTHONPATH": str(ROOT),
    }
    with server_process(command, env, log, f"http://{HOST}:{port}") as running:
        yield running


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options, work, dataset = prepare("server-choice", args.scenarios, args.duration, args.messages)
    samples: dict[tuple[str, str], list[Sample]] = {}
    with database.sqlite_database(work / "tagfeed.db") as url, ExitStack() as stack:
        database.load(url, dataset.path, work / "import.log")
        servers = {
            kind: stack.enter_context(
                _server(kind, url, work / f"{kind}.log", args.uvicorn_tagfeed)
            )
            for kind in KINDS
        }
        files = write_request_files(
            work / "requests", servers["tagfeed-granian"].url, dataset, options.ids, options.seed
        )
        for scenario in options.scenarios:
            requests = files[BY_NAME[scenario].requests]
            for round_ in range(args.rounds):
                for kind in KINDS if round_ % 2 == 0 else KINDS[::-1]:
                    sample = wrk_sample(servers[kind], requests, options)
                    samples.setdefault((scenario, kind), []).append(sample)
                    print(
                        f"  {scenario:<14} {kind:<16} {sample.rps:>9,.0f}/s "
                        f"p99 {sample.p99_ms or 0:7.1f} ms  load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
    shutil.rmtree(work, ignore_errors=True)
    print(f"{args.rounds} rounds of {args.duration:g} s, wrk -t1 -c{options.connections}")
    for scenario in options.scenarios:
        print(f"{scenario}")
        for kind in KINDS:
            runs = samples[(scenario, kind)]
            cpu = statistics.median((s.server_cpu or 0) / s.rps * 1e6 for s in runs if s.rps)
            print(
                f"  {kind:<16} {statistics.median(s.rps for s in runs):>9,.0f}/s  "
                f"p99 {statistics.median(s.p99_ms or 0 for s in runs):7.1f} ms  "
                f"{cpu:6.1f} µs CPU/request"
            )
        for b, a in PAIRS:
            ratio = statistics.median(
                y.rps / x.rps
                for x, y in zip(samples[(scenario, a)], samples[(scenario, b)], strict=True)
                if x.rps
            )
            print(f"  {b} / {a}: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
