"""The metrics of several server processes behind one ``/metrics`` (docs/metrics.md).

With ``--workers N`` (or a separate metrics port) ``tagfeed serve`` makes a fresh directory
for the server's lifetime and names it to its processes in ``TAGFEED_METRICS_DIR``. Each
process writes a snapshot of its own registry there every second, and once more as it shuts
down; a scrape writes the answering process's snapshot afresh and merges them all: counters
and histograms add up over every process that ever ran (so totals survive a worker's
restart), gauges over the live ones only, combined as ``metrics.GAUGE_MERGE`` says (what
``mark_process_dead`` does in prometheus-client's multiprocess mode). So a scrape sees its
own process exactly and the others at most a second late.
"""

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Final

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from tagfeed.metrics import GAUGE_MERGE, METRICS

DIR_VARIABLE: Final = "TAGFEED_METRICS_DIR"
SNAPSHOT_INTERVAL_SECONDS: Final = 1.0

_Key = tuple[str, tuple[tuple[str, str], ...]]  # (sample name, sorted labels)


class Snapshots:
    """This process's snapshots in ``directory``, named ``<pid>-<start>.json``: the pid
    tells whether the process still lives, the start time keeps a reused pid apart."""

    def __init__(self, registry: Collector, directory: Path, pid: int | None = None) -> None:
        self._registry = registry
        self.path = directory / f"{os.getpid() if pid is None else pid}-{time.time_ns()}.json"

    def write(self) -> None:
        """Replace this process's snapshot; readers see the old or the new one, whole."""
        families = [
            [m.name, m.documentation, m.type, [[s.name, s.labels, s.value] for s in m.samples]]
            for m in self._registry.collect()
        ]
        scratch = self.path.with_suffix(".tmp")
        scratch.write_text(json.dumps(families))
        os.replace(scratch, self.path)

    async def publish(self, interval: float = SNAPSHOT_INTERVAL_SECONDS) -> None:
        """Write a snapshot every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            self.write()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class SharedMetrics(Collector):
    """Every process's snapshot in ``directory``, merged. ``refresh`` (the answering
    process's ``Snapshots.write``) runs first, so that process is never late."""

    def __init__(self, directory: Path, refresh: Callable[[], None] | None = None) -> None:
        self._directory = directory
        self._refresh = refresh

    def collect(self) -> Iterable[Metric]:
        if self._refresh is not None:
            self._refresh()
        kinds: dict[str, tuple[str, str]] = {}  # name -> (help, type)
        values: dict[str, dict[_Key, float]] = {}
        for path in sorted(self._directory.glob("*.json")):
            try:
                families: list[Any] = json.loads(path.read_text())
            except FileNotFoundError:
                continue
            live = _alive(int(path.name.partition("-")[0]))
            for name, documentation, kind, samples in families:
                if kind == "gauge" and not live:
                    continue
                kinds.setdefault(name, (documentation, kind))
                by_key = values.setdefault(name, {})
                use_max = kind == "gauge" and GAUGE_MERGE.get(name, "sum") == "max"
                for sample_name, labels, value in samples:
                    key = (sample_name, tuple(sorted(labels.items())))
                    old = by_key.get(key)
                    if old is None:
                        by_key[key] = value
                    else:
                        by_key[key] = max(old, value) if use_max else old + value
        return [_family(name, *kinds[name], values[name]) for name in kinds]


def _family(name: str, documentation: str, kind: str, values: dict[_Key, float]) -> Metric:
    """One merged family, rebuilt through prometheus-client's typed families."""
    label_names = [n for n, _ in next(iter(values))[1] if n != "le"] if values else []

    def label_values(labels: tuple[tuple[str, str], ...]) -> list[str]:
        found = dict(labels)
        return [found[n] for n in label_names]

    if kind == "counter":
        counter = CounterMetricFamily(name, documentation, labels=label_names)
        for (sample, labels), value in values.items():
            if sample == f"{name}_total":
                counter.add_metric(label_values(labels), value)
        return counter
    if kind == "gauge":
        gauge = GaugeMetricFamily(name, documentation, labels=label_names)
        for (_, labels), value in values.items():
            gauge.add_metric(label_values(labels), value)
        return gauge
    if kind != "histogram":
        raise ValueError(f"{name}: cannot merge a {kind} across processes")
    buckets: dict[tuple[str, ...], list[tuple[str, float]]] = {}
    sums: dict[tuple[str, ...], float] = {}
    for (sample, labels), value in values.items():
        series = tuple(label_values(labels))
        if sample == f"{name}_bucket":
            buckets.setdefault(series, []).append((dict(labels)["le"], value))
        elif sample == f"{name}_sum":
            sums[series] = value
    histogram = HistogramMetricFamily(name, documentation, labels=label_names)
    for series, series_buckets in buckets.items():
        series_buckets.sort(key=lambda bucket: float(bucket[0]))
        histogram.add_metric(list(series), series_buckets, sums.get(series, 0.0))
    return histogram


@contextmanager
def metrics_for_serving(shared: bool, port: int | None, host: str) -> Iterator[None]:
    """For ``tagfeed serve``'s lifetime: with ``shared`` (several processes, or a metrics
    port), a fresh directory named in ``TAGFEED_METRICS_DIR``, removed when the server
    stops. With ``port``, the metrics served there by prometheus-client's own HTTP server
    in a thread of this process: the workers' snapshots merged when ``shared`` (as
    ``tagfeed serve`` does: granian's workers are processes of their own, even one), else
    this process's own registry, live."""
    with ExitStack() as stack:
        registry: Collector = METRICS.registry
        if shared:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="tagfeed-metrics-"))
            os.environ[DIR_VARIABLE] = directory
            stack.callback(os.environ.pop, DIR_VARIABLE, None)
            registry = CollectorRegistry(auto_describe=False)
            registry.register(SharedMetrics(Path(directory)))
        if port is not None:
            server, _ = start_http_server(port, addr=host, registry=registry)
            stack.callback(server.server_close)
            stack.callback(server.shutdown)
        yield
