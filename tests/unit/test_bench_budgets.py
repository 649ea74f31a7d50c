"""The bench's verdicts: every throughput budget a ratio measured in the same run."""

from bench.budgets import budget_for, verdict
from bench.stats import Summary


def summary(name: str, rps: float, p99: float, **ratios: float | None) -> Summary:
    return Summary(
        name=name,
        title=name,
        rps=rps,
        p50_ms=1.0,
        p99_ms=p99,
        errors=0,
        socket_errors=0,
        requests=1000,
        server_cpu=None,
        ratio_nginx=None,
        ratio_get=ratios.get("get"),
        runs=[],
        ratio_peer=ratios.get("peer"),
    )


def test_get_by_id_is_judged_against_the_peer_not_a_rate() -> None:
    budget = budget_for("get_by_id", "sqlite")
    # The same req/s passes or fails by the peer's rate in the same sweep.
    assert verdict(budget, summary("get_by_id", 9_000, 10, peer=0.80), None, None) is True
    assert verdict(budget, summary("get_by_id", 9_000, 10, peer=0.70), None, None) is False
    assert verdict(budget, summary("get_by_id", 9_000, 10, peer=None), None, None) is None


def test_reads_fail_on_a_p99_over_30_ms_at_any_speed() -> None:
    budget = budget_for("page_hot_tag", "sqlite")
    assert verdict(budget, summary("page_hot_tag", 9_000, 29.0, peer=0.6), None, None) is True
    assert verdict(budget, summary("page_hot_tag", 9_000, 31.0, peer=0.6), None, None) is False


def test_posts_sqlite_against_the_peer_postgres_against_pgbench() -> None:
    sqlite = budget_for("post_random", "sqlite")
    assert verdict(sqlite, summary("post_random", 5_000, 20, peer=0.72), None, None) is True
    assert verdict(sqlite, summary("post_random", 5_000, 26, peer=0.72), None, None) is False
    postgres = budget_for("post_random", "postgres")
    assert verdict(postgres, summary("post_random", 5_000, 99, peer=0.1), None, 9_000) is True
    assert verdict(postgres, summary("post_random", 4_000, 99, peer=0.9), None, 9_000) is False


def test_counts_against_get_by_id() -> None:
    budget = budget_for("count_hot_90d", "sqlite")
    assert verdict(budget, summary("count_hot_90d", 9_000, 5, get=0.91), 10_000, None) is True
    assert verdict(budget, summary("count_hot_90d", 9_000, 5, get=0.85), 10_000, None) is False


def test_trending_within_20_percent_of_get_by_id() -> None:
    budget = budget_for("trending_24h", "sqlite")
    assert verdict(budget, summary("trending_24h", 9_000, 5, get=0.82), 10_000, None) is True
    assert verdict(budget, summary("trending_24h", 9_000, 5, get=0.78), 10_000, None) is False
