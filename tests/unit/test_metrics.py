"""tagfeed.metrics: what each recording call adds to the exposition, read back through
prometheus-client's own parser, so the text Prometheus scrapes is what is checked."""

import threading

import pytest
from prometheus_client import generate_latest

from tagfeed.metrics import OTHER_METHOD, REQUEST_BUCKETS, UNMATCHED, Metrics
from tests.metric_samples import Samples, parse_samples


def scrape(metrics: Metrics) -> Samples:
    text = generate_latest(metrics.registry).decode()
    return parse_samples(text)


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_requests_are_counted_by_route_method_and_status() -> None:
    metrics = Metrics()
    for _ in range(3):
        metrics.record_request("/v1/messages/{message_id}", "GET", 200, 0.002)
    metrics.record_request("/v1/messages/{message_id}", "GET", 404, 0.001)
    metrics.record_request("/v1/messages", "POST", 201, 0.004)
    seen = scrape(metrics)
    total = "tagfeed_http_requests_total"
    route = "/v1/messages/{message_id}"
    assert sample(seen, total, route=route, method="GET", status="200") == 3
    assert sample(seen, total, route=route, method="GET", status="404") == 1
    assert sample(seen, total, route="/v1/messages", method="POST", status="201") == 1
    assert len([key for key in seen if key[0] == total]) == 3


def test_latency_buckets_are_cumulative_and_a_bound_is_inclusive() -> None:
    metrics = Metrics()
    for seconds in (0.0001, 0.001, 0.001, 0.003, 30.0):  # 0.001 sits exactly on a bound
        metrics.record_request("/healthz", "GET", 200, seconds)
    seen = scrape(metrics)
    name = "tagfeed_http_request_duration_seconds"

    def bucket(le: str) -> float:
        return sample(seen, f"{name}_bucket", route="/healthz", method="GET", le=le)

    assert bucket("0.0005") == 1
    assert bucket("0.001") == 3
    assert bucket("0.0025") == 3
    assert bucket("0.005") == 4
    assert bucket(repr(REQUEST_BUCKETS[-1])) == 4
    assert bucket("+Inf") == 5
    assert sample(seen, f"{name}_count", route="/healthz", method="GET") == 5
    assert sample(seen, f"{name}_sum", route="/healthz", method="GET") == pytest.approx(30.0051)


def test_methods_outside_http_s_usual_set_share_one_label_value() -> None:
    metrics = Metrics()
    for method in ("BREW", "WHEN", "GET"):
        metrics.record_request(UNMATCHED, method, 405, 0.001)
    seen = scrape(metrics)
    total = "tagfeed_http_requests_total"
    assert sample(seen, total, route=UNMATCHED, method=OTHER_METHOD, status="405") == 2
    assert sample(seen, total, route=UNMATCHED, method="GET", status="405") == 1


def test_database_calls_count_errors_only_when_they_fail() -> None:
    metrics = Metrics()
    metrics.observe_db_call("get", 0.0003, ok=True)
    metrics.observe_db_call("get", 6.0, ok=False)
    metrics.observe_db_call("apply", 0.002, ok=True)
    seen = scrape(metrics)
    calls = "tagfeed_db_call_duration_seconds"
    assert sample(seen, f"{calls}_count", op="get") == 2
    assert sample(seen, f"{calls}_bucket", op="get", le="0.0005") == 1
    assert sample(seen, f"{calls}_count", op="apply") == 1
    assert sample(seen, "tagfeed_db_call_errors_total", op="get") == 1
    # An operation's error series exists from its first call, at 0: the first failure is
    # then an increase PromQL sees, not a series appearing at 1.
    assert seen[("tagfeed_db_call_errors_total", (("op", "apply"),))] == 0


def test_writer_pool_streams_and_replays() -> None:
    metrics = Metrics()
    metrics.writer_batch(size=37, queue_depth=5)
    metrics.writer_batch(size=1, queue_depth=0)
    lent = [3]
    metrics.watch_pool(lambda: lent[0], lambda: 10)
    metrics.streams_open(+1)
    metrics.streams_open(+1)
    metrics.streams_open(-1)
    metrics.idempotent_replay()
    seen = scrape(metrics)
    assert sample(seen, "tagfeed_writer_batch_size_count") == 2
    assert sample(seen, "tagfeed_writer_batch_size_sum") == 38
    assert sample(seen, "tagfeed_writer_batch_size_bucket", le="32.0") == 1
    assert sample(seen, "tagfeed_writer_queue_depth") == 0  # the latest, not a sum
    assert sample(seen, "tagfeed_postgres_pool_in_use") == 3
    assert sample(seen, "tagfeed_postgres_pool_size") == 10
    assert sample(seen, "tagfeed_streams_open") == 1
    assert sample(seen, "tagfeed_idempotent_replays_total") == 1
    lent[0] = 4  # the pool is read at each scrape
    assert sample(scrape(metrics), "tagfeed_postgres_pool_in_use") == 4
    metrics.forget_pool()  # the pool closed
    assert sample(scrape(metrics), "tagfeed_postgres_pool_size") == 0


def test_a_reducer_reports_its_position_and_its_lag() -> None:
    metrics = Metrics()
    metrics.reducer_position("counts", position=90, head=100)
    metrics.reducer_position("trending", position=100, head=100)
    seen = scrape(metrics)
    assert sample(seen, "tagfeed_reducer_position", reducer="counts") == 90
    assert sample(seen, "tagfeed_reducer_head", reducer="counts") == 100
    assert sample(seen, "tagfeed_reducer_lag_events", reducer="counts") == 10
    assert sample(seen, "tagfeed_reducer_lag_events", reducer="trending") == 0


def test_no_created_series() -> None:
    metrics = Metrics()
    metrics.idempotent_replay()
    metrics.observe_db_call("get", 0.001, ok=True)
    assert b"_created" not in generate_latest(metrics.registry)


def test_database_calls_from_several_threads_add_up() -> None:
    """Each thread records into its own series (CPython 3.11 happens not to switch
    threads inside ``+=`` on a list item, but nothing promises it); a scrape sums them."""
    metrics = Metrics()

    def calls() -> None:
        for _ in range(20_000):
            metrics.observe_db_call("get", 0.001, ok=True)  # on a bound: counted in it

    threads = [threading.Thread(target=calls) for _ in range(4)]
    for thread in threads:
        thread.start()
    calls()
    for thread in threads:
        thread.join()
    seen = scrape(metrics)
    calls_name = "tagfeed_db_call_duration_seconds"
    assert sample(seen, f"{calls_name}_count", op="get") == 100_000
    assert sample(seen, f"{calls_name}_bucket", op="get", le="0.001") == 100_000
    assert sample(seen, f"{calls_name}_bucket", op="get", le="0.0005") == 0
    assert sample(seen, f"{calls_name}_sum", op="get") == pytest.approx(100.0)
