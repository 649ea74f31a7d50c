"""What the side-by-side tools (``bench.ab``, ``bench.server_choice``) share: quick
options for their scenarios, a work directory of their own and the cached data set."""

import os
import statistics
from datetime import UTC, datetime
from pathlib import Path

from bench.dataset import DatasetInfo, ensure_dataset
from bench.options import BENCH_DIR, Options, parse_options
from bench.scenarios import BY_NAME, write_request_files
from bench.servers import Running
from bench.stats import Sample
from bench.sweeps import wrk_sample


def prepare(
    tool: str, scenarios: str, duration: float, messages: int
) -> tuple[Options, Path, DatasetInfo]:
    options = parse_options(["--quick", "--scenarios", scenarios, "--duration", str(duration)])
    cache = BENCH_DIR / ".cache"
    work = cache / f"{tool}-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    today = datetime.now(UTC).date()
    return options, work, ensure_dataset(cache / "datasets", messages, options.seed, today)


def drive_in_turn(
    servers: dict[str, Running], work: Path, dataset: DatasetInfo, options: Options, rounds: int
) -> dict[str, dict[str, list[Sample]]]:
    """Drive A and B in turn, scenario by scenario (A B, then B A, ...), so both see the
    same noisy neighbours; the samples by scenario and side."""
    files = write_request_files(
        work / "requests", servers["A"].url, dataset, options.ids, options.seed
    )
    samples: dict[str, dict[str, list[Sample]]] = {}
    for scenario in options.scenarios:
        requests = files[BY_NAME[scenario].requests]
        samples[scenario] = {"A": [], "B": []}
        for round_ in range(rounds):
            for side in ("A", "B") if round_ % 2 == 0 else ("B", "A"):
                sample = wrk_sample(servers[side], requests, options)
                samples[scenario][side].append(sample)
                print(
                    f"  {scenario:<16} {side} {sample.rps:>9,.0f}/s "
                    f"p99 {sample.p99_ms or 0:7.1f} ms  load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    return samples


def print_pairs(samples: dict[str, dict[str, list[Sample]]]) -> None:
    """Per scenario: each side's median req/s, B/A as the median of the ratios taken
    within each round, and each side's server CPU per request (cores busy / req/s)."""
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
