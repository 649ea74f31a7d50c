"""From the samples of every sweep to one summary per scenario: medians over the runs, and
ratios taken inside each sweep (to nginx, to the bare peer and to GET by id, measured minutes
apart on the same machine) before their median is taken, so a noisy neighbour moves both
sides of a ratio."""

import statistics
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Sample:
    """One measured run of one scenario."""

    rps: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int  # non-2xx/3xx responses + socket errors (connect, read, write, timeout)
    requests: int
    server_cpu: float | None = None  # cores busy in the server during the run (1.0 = one)
    socket_errors: int = 0  # of which socket errors
    machine_cpu: float | None = None  # cores busy machine-wide (server, wrk, the rest)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Summary:
    name: str
    title: str
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int  # summed over the runs: an error is never averaged away
    socket_errors: int
    requests: int
    server_cpu: float | None
    ratio_nginx: float | None
    ratio_get: float | None
    runs: list[Sample]
    ratio_peer: float | None = None  # to the bare peer's matching round trip
    ratio_floor: float | None = None  # to the floor app's matching route


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _ratios(samples: list[Sample], reference: list[Sample] | None) -> float | None:
    if not reference:
        return None
    ratios = [s.rps / r.rps for s, r in zip(samples, reference, strict=False) if r.rps > 0]
    return median(ratios)


def summarize(
    name: str,
    title: str,
    samples: list[Sample],
    nginx: list[Sample] | None,
    get_by_id: list[Sample] | None,
    peer: list[Sample] | None = None,
    floor: list[Sample] | None = None,
) -> Summary:
    """``samples[i]``, ``nginx[i]``, ``get_by_id[i]``, ``peer[i]`` and ``floor[i]`` must come
    from the same
    sweep i."""
    return Summary(
        name=name,
        title=title,
        rps=median([s.rps for s in samples]) or 0.0,
        p50_ms=median([s.p50_ms for s in samples if s.p50_ms is not None]),
        p99_ms=median([s.p99_ms for s in samples if s.p99_ms is not None]),
        errors=sum(s.errors for s in samples),
        socket_errors=sum(s.socket_errors for s in samples),
        requests=sum(s.requests for s in samples),
        server_cpu=median([s.server_cpu for s in samples if s.server_cpu is not None]),
        ratio_nginx=_ratios(samples, nginx),
        ratio_get=_ratios(samples, get_by_id),
        runs=samples,
        ratio_peer=_ratios(samples, peer),
        ratio_floor=_ratios(samples, floor),
    )
