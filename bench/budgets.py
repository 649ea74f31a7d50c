"""The performance budgets of the issue, per scenario and backend, and their verdicts.

All figures are for this 2-core machine, one server worker, wrk -t1 -c64, 1M messages.
A scenario that had any error fails whatever its speed: throughput made of 404s or 503s
proves nothing.
"""

from dataclasses import dataclass

from bench.stats import Summary

MAX_RSS_MB = 150.0
# "Does not grow across two back-to-back runs": allow for allocator and measurement noise.
MAX_RSS_GROWTH_MB = 5.0


@dataclass(frozen=True)
class Budget:
    min_rps: float | None = None
    max_p99_ms: float | None = None
    min_of_get: float | None = None  # at least this fraction of GET by id's req/s
    min_of_pgbench: float | None = None  # at least this fraction of pgbench's tps

    def text(self) -> str:
        parts = []
        if self.min_rps is not None:
            parts.append(f">= {self.min_rps:,.0f}/s")
        if self.max_p99_ms is not None:
            parts.append(f"p99 <= {self.max_p99_ms:g} ms")
        if self.min_of_get is not None:
            parts.append(f">= {self.min_of_get:.0%} of GET by id")
        if self.min_of_pgbench is not None:
            parts.append(f">= {self.min_of_pgbench:.0%} of pgbench")
        return ", ".join(parts)

    def floor_rps(self, get_rps: float | None, pgbench_tps: float | None) -> float | None:
        """The lowest req/s that meets every throughput clause, where it can be known."""
        floors = [self.min_rps]
        if self.min_of_get is not None and get_rps is not None:
            floors.append(self.min_of_get * get_rps)
        if self.min_of_pgbench is not None and pgbench_tps is not None:
            floors.append(self.min_of_pgbench * pgbench_tps)
        known = [f for f in floors if f is not None]
        return max(known) if known else None


_POST_SQLITE = Budget(min_rps=8_000, max_p99_ms=25)
_POST_POSTGRES = Budget(min_of_pgbench=0.5)
_PAGE = Budget(min_rps=5_000)
_COUNT = Budget(min_rps=8_000, min_of_get=0.8)
_COMMON = {
    "get_by_id": Budget(min_rps=10_000),
    "page_random_tag": _PAGE,
    "page_hot_tag": _PAGE,
    "page_20_hot_tag": _PAGE,
    "count_hot_90d": _COUNT,
    "count_all_year": _COUNT,
    "counts_day_hot": _COUNT,
}


def budget_for(scenario: str, backend: str) -> Budget | None:
    if scenario in ("post_random", "post_hot_tag"):
        return _POST_SQLITE if backend == "sqlite" else _POST_POSTGRES
    return _COMMON.get(scenario)


def verdict(
    budget: Budget | None, summary: Summary, get_rps: float | None, pgbench_tps: float | None
) -> bool | None:
    """True/False, or None when there is no budget or what it compares with was not run."""
    if budget is None:
        return None
    checks: list[bool] = [summary.errors == 0]
    if budget.min_rps is not None:
        checks.append(summary.rps >= budget.min_rps)
    if budget.max_p99_ms is not None:
        checks.append(summary.p99_ms is not None and summary.p99_ms <= budget.max_p99_ms)
    if budget.min_of_get is not None:
        # the ratio taken inside each sweep, when there is one
        ratio = summary.ratio_get
        if ratio is None and get_rps:
            ratio = summary.rps / get_rps
        if ratio is None:
            return None
        checks.append(ratio >= budget.min_of_get)
    if budget.min_of_pgbench is not None:
        if pgbench_tps is None:
            return None
        checks.append(summary.rps >= budget.min_of_pgbench * pgbench_tps)
    return all(checks)
