"""``GET /metrics``: the Prometheus exposition of this server's metrics (docs/metrics.md).
Not under ``/v1`` and open to every caller, like ``/healthz``: it holds counts and timings,
never a message, a tag or a user id."""

from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tagfeed.metrics import Metrics
from tagfeed.server.metrics_share import SharedMetrics, Snapshots


def metrics_source(metrics: Metrics, shared_dir: Path | None) -> tuple[Collector, Snapshots | None]:
    """What a scrape reads: this process's registry alone, or, when the server shares a
    directory among its processes, every process's snapshot merged (this one's fresh)."""
    if shared_dir is None:
        return metrics.registry, None
    snapshots = Snapshots(metrics.registry, shared_dir)
    merged = CollectorRegistry(auto_describe=False)
    merged.register(SharedMetrics(shared_dir, refresh=snapshots.write))
    return merged, snapshots


def metrics_route(source: Collector) -> Route:
    async def metrics(request: Request) -> Response:
        # The text format, or OpenMetrics when the scraper asks for it.
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(source), headers={"Content-Type": content_type})

    return Route("/metrics", metrics, methods=["GET"])
