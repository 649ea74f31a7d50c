"""Every Prometheus metric tagfeed exposes, declared here and nowhere else, with the small
typed API the rest of the code records through (docs/metrics.md lists the names).

Each process records into its own registry, in memory: a request costs a few dict and list
operations, no lock and no file write (the multiprocess mode of prometheus-client writes an
mmap'd file under a lock on every increment, which cost more than 5% of a GET). With
``--workers N`` each process publishes its registry to a directory the server shares, and
``/metrics`` merges them (``server/metrics_share.py``).

The metrics on every request's path are kept by hand: the requests (``RequestMetrics``)
and the store's calls (``DbCalls``), a few dict and list operations each, where
prometheus-client's ``Histogram.observe`` takes two locks, for the bucket and the sum
(0.65 µs a call, against 0.2). The PostgreSQL pool's gauges are read when scraped, not set
on every checkout. The rest are ordinary prometheus-client objects, which are
thread-safe, so the SQLite writer thread may record from its own thread.
"""

from bisect import bisect_left
from collections.abc import Callable, Iterable
from threading import get_ident
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

# HTTP latency: tagfeed answers in a few ms; the top buckets catch the database timeout
# (TAGFEED_DB_TIMEOUT, 5 s by default) and slow clients.
REQUEST_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# Database calls: SQLite reads on the event loop take tens of µs, commits a few ms.
DB_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
)  # fmt: skip
BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)

# The `le` label of each bucket, +Inf last, as prometheus-client writes them.
_LE: Final = (*(repr(bound) for bound in REQUEST_BUCKETS), "+Inf")
_DB_LE: Final = (*(repr(bound) for bound in DB_BUCKETS), "+Inf")

UNMATCHED: Final = "unmatched"  # the route label of every path no route matches
KNOWN_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD: Final = "OTHER"  # any other method: a client cannot grow the label set

GaugeMerge = Literal["sum", "max"]
# How the gauges of several live processes combine (counters and histograms add up; the
# gauges of a process that has died are dropped).
GAUGE_MERGE: Final[dict[str, GaugeMerge]] = {
    "tagfeed_writer_queue_depth": "sum",
    "tagfeed_postgres_pool_in_use": "sum",
    "tagfeed_postgres_pool_size": "sum",
    "tagfeed_streams_open": "sum",
    # A reducer's figures are the same wherever it runs; the furthest behind alerts.
    "tagfeed_reducer_position": "max",
    "tagfeed_reducer_head": "max",
    "tagfeed_reducer_lag_events": "max",
}


class _Series:
    """The requests of one (route, method): counts by status and the latency histogram,
    buckets not cumulative (made so when collected)."""

    __slots__ = ("buckets", "by_status", "seconds")

    def __init__(self) -> None:
        self.by_status: dict[int, int] = {}
        self.buckets = [0] * (len(REQUEST_BUCKETS) + 1)  # the last one is +Inf
        self.seconds = 0.0


def _cumulative(les: Iterable[str], buckets: Iterable[int]) -> list[tuple[str, float]]:
    """Per-bucket counts (``bisect_left`` over the bounds: a value lands in the first
    bucket whose bound is >= it, as prometheus-client counts) made cumulative, by ``le``."""
    total, cumulative = 0, []
    for le, count in zip(les, buckets, strict=True):
        total += count
        cumulative.append((le, float(total)))
    return cumulative


class RequestMetrics(Collector):
    """``tagfeed_http_requests_total{route,method,status}`` and
    ``tagfeed_http_request_duration_seconds{route,method}``. ``record`` runs on the event
    loop after each response; its series are made once per (route, method) and found by
    two dict lookups, so a request allocates nothing here but the float it adds."""

    def __init__(self) -> None:
        self._series: dict[str, dict[str, _Series]] = {}

    def record(self, route: str, method: str, status: int, seconds: float) -> None:
        by_method = self._series.get(route)
        if by_method is None:
            by_method = self._series[route] = {}
        series = by_method.get(method)
        if series is None:
            if method not in KNOWN_METHODS:
                method = OTHER_METHOD
            series = by_method.setdefault(method, _Series())
        by_status = series.by_status
        by_status[status] = by_status.get(status, 0) + 1
        series.buckets[bisect_left(REQUEST_BUCKETS, seconds)] += 1
        series.seconds += seconds

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily(
            "tagfeed_http_requests",
            "HTTP requests answered, by route template, method and status.",
            labels=("route", "method", "status"),
        )
        durations = HistogramMetricFamily(
            "tagfeed_http_request_duration_seconds",
            "Time from the request's arrival in the app to the end of its response.",
            labels=("route", "method"),
        )
        for route, by_method in list(self._series.items()):
            for method, series in list(by_method.items()):
                for status, count in list(series.by_status.items()):
                    requests.add_metric((route, method, str(status)), count)
                buckets = _cumulative(_LE, series.buckets)
                durations.add_metric((route, method), buckets, series.seconds)
        return [requests, durations]


class _DbSeries:
    """One thread's calls of one store operation: latency buckets (not cumulative), their
    sum, and the failed ones."""

    __slots__ = ("buckets", "errors", "seconds")

    def __init__(self) -> None:
        self.buckets = [0] * (len(DB_BUCKETS) + 1)
        self.seconds = 0.0
        self.errors = 0


class DbCalls(Collector):
    """``tagfeed_db_call_duration_seconds{op}`` and ``tagfeed_db_call_errors_total{op}``.
    Store calls are timed on the event loop and in worker threads: each thread adds only to
    series of its own (keyed by its ident, which no two live threads share), so no update
    is lost without a lock; a scrape adds the threads up."""

    def __init__(self) -> None:
        self._by_thread: dict[int, dict[str, _DbSeries]] = {}

    def observe(self, op: str, seconds: float, ok: bool) -> None:
        by_op = self._by_thread.get(get_ident())
        if by_op is None:
            by_op = self._by_thread.setdefault(get_ident(), {})
        series = by_op.get(op)
        if series is None:
            series = by_op[op] = _DbSeries()
        series.buckets[bisect_left(DB_BUCKETS, seconds)] += 1
        series.seconds += seconds
        if not ok:
            series.errors += 1

    def collect(self) -> Iterable[Metric]:
        totals: dict[str, _DbSeries] = {}
        for by_op in list(self._by_thread.values()):
            for op, series in list(by_op.items()):
                total = totals.setdefault(op, _DbSeries())
                total.buckets = [a + b for a, b in zip(total.buckets, series.buckets, strict=True)]
                total.seconds += series.seconds
                total.errors += series.errors
        durations = HistogramMetricFamily(
            "tagfeed_db_call_duration_seconds",
            "Time of one call to the store, by operation, failed calls included.",
            labels=("op",),
        )
        errors = CounterMetricFamily(
            "tagfeed_db_call_errors",
            "Calls to the store that failed, by operation.",
            labels=("op",),
        )
        for op, total in sorted(totals.items()):
            durations.add_metric((op,), _cumulative(_DB_LE, total.buckets), total.seconds)
            errors.add_metric((op,), total.errors)
        return [durations, errors]


class Metrics:
    """One process's metrics and the calls that record them. Use the module-level
    ``METRICS`` (and the functions bound to it below); tests make their own."""

    def __init__(self) -> None:
        # `_created` series: noise on dashboards, and meaningless once merged.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        self.requests = RequestMetrics()
        self.registry.register(self.requests)
        r = self.registry
        self.replays = Counter(
            "tagfeed_idempotent_replays",
            "POSTs answered with the stored answer of an earlier one (same Idempotency-Key).",
            registry=r,
        )
        self.db_calls = DbCalls()
        r.register(self.db_calls)
        # observe_db_call(op, seconds, ok): one call to the store, ``op`` from a small
        # fixed set (the port's method names), never anything a client chose.
        # Thread-safe. Bound straight to the collector: one Python call, not two.
        self.observe_db_call = self.db_calls.observe
        self.batch_size = Histogram(
            "tagfeed_writer_batch_size",
            "Units of work committed together (group commit: the SQLite writer thread, "
            "PostgreSQL's batched appends).",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "tagfeed_writer_queue_depth",
            "Units of work left waiting when the writer took its last batch.",
            registry=r,
        )
        self.pool_in_use = Gauge(
            "tagfeed_postgres_pool_in_use", "PostgreSQL connections lent out.", registry=r
        )
        self.pool_size = Gauge(
            "tagfeed_postgres_pool_size", "PostgreSQL connections the pool may open.", registry=r
        )
        self.streams = Gauge("tagfeed_streams_open", "Open live streams (SSE).", registry=r)
        self.positions = Gauge(
            "tagfeed_reducer_position",
            "The last event a reducer folded.",
            ("reducer",),
            registry=r,
        )
        self.heads = Gauge(
            "tagfeed_reducer_head",
            "The last event in the log, as a reducer last saw it.",
            ("reducer",),
            registry=r,
        )
        self.lags = Gauge(
            "tagfeed_reducer_lag_events",
            "Events a reducer has yet to fold.",
            ("reducer",),
            registry=r,
        )

    def record_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.record(route, method, status, seconds)

    def idempotent_replay(self) -> None:
        self.replays.inc()

    def writer_batch(self, size: int, queue_depth: int) -> None:
        self.batch_size.observe(size)
        self.queue_depth.set(queue_depth)

    def watch_pool(self, in_use: Callable[[], float], size: Callable[[], float]) -> None:
        """Read the pool's connections lent out and its maximum when scraped (the last
        pool opened in this process; ``forget_pool`` when it closes)."""
        self.pool_in_use.set_function(in_use)
        self.pool_size.set_function(size)

    def forget_pool(self) -> None:
        self.watch_pool(lambda: 0.0, lambda: 0.0)

    def streams_open(self, delta: int) -> None:
        self.streams.inc(delta)

    def reducer_position(self, name: str, position: int, head: int) -> None:
        """A reducer folded up to ``position`` while the log ended at ``head``."""
        self.positions.labels(name).set(position)
        self.heads.labels(name).set(head)
        self.lags.labels(name).set(max(head - position, 0))


METRICS: Final = Metrics()

# The API the storage layer, the streams and the reducers call (docs/metrics.md says where).
record_request = METRICS.record_request
idempotent_replay = METRICS.idempotent_replay
observe_db_call = METRICS.observe_db_call
writer_batch = METRICS.writer_batch
streams_open = METRICS.streams_open
reducer_position = METRICS.reducer_position
