"""What the side-by-side tools (``bench.ab``, ``bench.server_choice``) share: quick
options for their scenarios, a work directory of their own and the cached data set."""

import os
from datetime import UTC, datetime
from pathlib import Path

from bench.dataset import DatasetInfo, ensure_dataset
from bench.options import BENCH_DIR, Options, parse_options


def prepare(
    tool: str, scenarios: str, duration: float, messages: int
) -> tuple[Options, Path, DatasetInfo]:
    options = parse_options(["--quick", "--scenarios", scenarios, "--duration", str(duration)])
    cache = BENCH_DIR / ".cache"
    work = cache / f"{tool}-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    today = datetime.now(UTC).date()
    return options, work, ensure_dataset(cache / "datasets", messages, options.seed, today)
