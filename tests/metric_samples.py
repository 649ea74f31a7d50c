"""Reading Prometheus's text exposition in tests: every sample by (name, sorted labels)."""

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def requests_of(seen: Samples, route: str, method: str, status: int) -> float:
    """``tagfeed_http_requests_total`` of one route template, method and status (0 if none)."""
    labels = (("method", method), ("route", route), ("status", str(status)))
    return seen.get(("tagfeed_http_requests_total", labels), 0.0)
