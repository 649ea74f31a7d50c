"""The performance budgets, per scenario and backend, and their verdicts.

Every throughput budget is a ratio to something measured in the same run, never an
absolute rate (a shared, noisy machine moves both sides alike): to the bare peer's
matching round trip (``bench/peer.py`` on the same server), to GET by id, or to pgbench's
one-row insert on the same PostgreSQL. Latency budgets are p99s at the sweep's 64
connections. One server worker, wrk -t1 -c64, 1M messages (the counts' budget is meant
for 10M: ``make bench BENCH_ARGS=--large``). A scenario that had any error fails whatever
its speed: throughput made of 404s or 503s proves nothing.
"""

from dataclasses import dataclass

from bench.stats import Summary

MAX_RSS_MB = 150.0
# "Does not grow across two back-to-back runs": allow for allocator and measurement noise.
MAX_RSS_GROWTH_MB = 5.0


@dataclass(frozen=True)
class Budget:
    max_p99_ms: float | None = None
    min_of_peer: float | None = None  # at least this fraction of the peer's req/s
    min_of_get: float | None = None  # at least this fraction of GET by id's req/s
    min_of_pgbench: float | None = None  # at least this fraction of pgbench's tps

    def text(self) -> str:
        parts = []
        if self.min_of_peer is not None:
            parts.append(f">= {self.min_of_peer:.0%} of the peer")
        if self.max_p99_ms is not None:
            parts.append(f"p99 <= {self.max_p99_ms:g} ms")
        if self.min_of_get is not None:
            parts.append(f">= {self.min_of_get:.0%} of GET by id")
        if self.min_of_pgbench is not None:
            parts.append(f">= {self.min_of_pgbench:.0%} of pgbench")
        return ", ".join(parts)

    def floor_rps(
        self, get_rps: float | None, pgbench_tps: float | None, peer_rps: float | None = None
    ) -> float | None:
        """The lowest req/s that meets every throughput clause, where it can be known."""
        floors: list[float | None] = []
        if self.min_of_peer is not None and peer_rps is not None:
            floors.append(self.min_of_peer * peer_rps)
        if self.min_of_get is not None and get_rps is not None:
            floors.append(self.min_of_get * get_rps)
        if self.min_of_pgbench is not None and pgbench_tps is not None:
            floors.append(self.min_of_pgbench * pgbench_tps)
        known = [f for f in floors if f is not None]
        return max(known) if known else None


READ_P99_MS = 30.0  # every read scenario, at 64 connections
_POST_SQLITE = Budget(min_of_peer=0.7, max_p99_ms=25)
_POST_POSTGRES = Budget(min_of_pgbench=0.5)
_PAGE = Budget(min_of_peer=0.5, max_p99_ms=READ_P99_MS)
_COUNT = Budget(min_of_get=0.9, max_p99_ms=READ_P99_MS)
_COMMON = {
    "get_by_id": Budget(min_of_peer=0.75, max_p99_ms=READ_P99_MS),
    "page_random_tag": _PAGE,
    "page_hot_tag": _PAGE,
    "page_20_hot_tag": _PAGE,
    "count_hot_90d": _COUNT,
    "count_all_year": _COUNT,
    "counts_day_hot": _COUNT,
    # Issue 9: trending answered from its view within 20% of a lookup by id.
    "trending_24h": Budget(min_of_get=0.8, max_p99_ms=READ_P99_MS),
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
    if budget.min_of_peer is not None:
        if summary.ratio_peer is None:  # the peer did not run
            return None
        checks.append(summary.ratio_peer >= budget.min_of_peer)
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
