"""A run's results as JSON (everything, every run), Markdown (the table people read) and a
short console table of ratios. The chart is in ``chart.py`` (it needs matplotlib)."""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from bench.budgets import MAX_RSS_GROWTH_MB, MAX_RSS_MB, Budget
from bench.proc import ProcessRss, RssSampler
from bench.stats import Summary


@dataclass(frozen=True)
class Row:
    summary: Summary
    budget: Budget | None
    passed: bool | None


@dataclass(frozen=True)
class Memory:
    peaks_mb: dict[str, float]  # the largest sample of each phase, all processes summed
    sweep_end_mb: list[float]  # the server idle after each sweep, all processes
    # the largest sample of any one worker in each phase: what the budget is about
    worker_peaks_mb: dict[str, float] = field(default_factory=dict)
    # each process (pid, role, MB) in the sample of the largest total
    at_peak: list[ProcessRss] = field(default_factory=list)

    @property
    def max_mb(self) -> float:
        return max(self.peaks_mb.values(), default=0.0)

    @property
    def worker_max_mb(self) -> float | None:
        """The largest worker seen; None if no worker was told apart."""
        return max(self.worker_peaks_mb.values(), default=0.0) or None

    @property
    def judged_mb(self) -> float:
        """What the budget ("RSS per worker") is judged on: the largest worker, or all
        the processes together if no worker was told apart (never less strict)."""
        return self.max_mb if self.worker_max_mb is None else self.worker_max_mb

    @property
    def growth_mb(self) -> float | None:
        """From the end of the first sweep to the end of the last one."""
        ends = self.sweep_end_mb
        return ends[-1] - ends[0] if len(ends) >= 2 else None

    def to_json(self) -> dict[str, object]:
        growth = self.growth_mb
        return {
            "peaks_mb": self.peaks_mb,
            "worker_peaks_mb": self.worker_peaks_mb,
            "at_peak": [vars(p) for p in self.at_peak],
            "sweep_end_mb": self.sweep_end_mb,
            "max_mb": self.max_mb,
            "worker_max_mb": self.worker_max_mb,
            "growth_mb": growth,
            "max_ok": self.judged_mb < MAX_RSS_MB,
            "growth_ok": None if growth is None else growth <= MAX_RSS_GROWTH_MB,
        }

    def processes_text(self) -> str:
        """The sample of the largest total, process by process."""
        return ", ".join(f"{p.role} {p.pid} {p.mb:.0f}" for p in self.at_peak) + " MB"

    @classmethod
    def of(cls, rss: RssSampler, sweep_end_mb: list[float]) -> "Memory":
        peaks = dict(rss.peaks)
        top = max(peaks, key=lambda phase: peaks[phase], default=None)
        at_peak = [] if top is None else rss.at_peak.get(top, [])
        return cls(peaks, sweep_end_mb, dict(rss.worker_peaks), at_peak)


@dataclass(frozen=True)
class Scaling:
    workers: int
    rps_one: dict[str, float]  # scenario -> median req/s with one worker
    rps_many: dict[str, float]  # ... with ``workers``
    rss_max_mb: float  # all processes of the server with ``workers``
    # scenario -> (server cores, machine cores) busy, with one worker and with ``workers``:
    # whether the second worker found a core to use (2 cores: wrk shares them).
    cpu_one: dict[str, tuple[float, float]] = field(default_factory=dict)
    cpu_many: dict[str, tuple[float, float]] = field(default_factory=dict)
    worker_rss_max_mb: float = 0.0  # the largest one worker of them

    def factors(self) -> dict[str, float]:
        return {
            name: self.rps_many[name] / rps
            for name, rps in self.rps_one.items()
            if name in self.rps_many and rps > 0
        }


@dataclass
class Report:
    meta: dict[str, object]
    rows: list[Row]
    memory: Memory
    scaling: Scaling | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "meta": self.meta,
            "scenarios": [
                {
                    **{k: v for k, v in vars(row.summary).items() if k != "runs"},
                    "runs": [s.to_json() for s in row.summary.runs],
                    "budget": row.budget.text() if row.budget else None,
                    "passed": row.passed,
                }
                for row in self.rows
            ],
            "memory": self.memory.to_json(),
            "scaling": None
            if self.scaling is None
            else {
                "workers": self.scaling.workers,
                "rps_one": self.scaling.rps_one,
                "rps_many": self.scaling.rps_many,
                "factors": self.scaling.factors(),
                "rss_max_mb": self.scaling.rss_max_mb,
                "worker_rss_max_mb": self.scaling.worker_rss_max_mb,
                "cpu_one": self.scaling.cpu_one,
                "cpu_many": self.scaling.cpu_many,
            },
            "notes": self.notes,
        }


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _errors(summary: Summary) -> str:
    if not summary.errors:
        return "0"
    status = summary.errors - summary.socket_errors
    return f"{summary.errors} ({status} HTTP, {summary.socket_errors} socket)"


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _rebuilds(seconds: object) -> str:
    if not isinstance(seconds, dict) or not seconds:
        return "none"
    return ", ".join(f"{view} {value} s" for view, value in seconds.items())


def _verdict(passed: bool | None) -> str:
    return {True: "pass", False: "**FAIL**", None: "-"}[passed]


def _cores(scaling: Scaling, name: str) -> str:
    """Where the cores went, one worker → more: the server's and the whole machine's."""
    one, many = scaling.cpu_one.get(name), scaling.cpu_many.get(name)
    if one is None or many is None:
        return ""
    return (
        f"; cores busy, server {one[0]:.2f} → {many[0]:.2f}, "
        f"machine {one[1]:.2f} → {many[1]:.2f} of {os.cpu_count()}"
    )


def markdown(report: Report) -> str:
    meta = report.meta
    lines = [
        f"# tagfeed benchmark — {meta['date']}, {meta['backend']}, {meta['workers']} worker(s)",
        "",
        f"{meta['messages']:,} messages; wrk -t{meta['threads']} -c{meta['connections']}; "
        f"median of {meta['runs']} run(s) of {meta['duration_s']} s after {meta['warmup_s']} s "
        f"of warm-up; commit {meta['commit']}.",
        f"Import: {meta.get('import_s', '?')} s ({_num(_float(meta.get('import_rate')))} "
        f"messages/s); views rebuilt before serving: {_rebuilds(meta.get('rebuild_s'))}. "
        "Load average (1 min) before the run: "
        f"{_num(_float(meta.get('loadavg_start')), 2)}, after: "
        f"{_num(_float(meta.get('loadavg_end')), 2)}, on {meta.get('cpus')} CPUs.",
        "",
        "| scenario | req/s | p50 ms | p99 ms | errors | x nginx | x peer | x floor "
        "| x GET by id | server CPU | budget | result |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in report.rows:
        s = row.summary
        lines.append(
            f"| {s.title} | {_num(s.rps)} | {_num(s.p50_ms, 2)} | {_num(s.p99_ms, 2)} "
            f"| {_errors(s)} | {_ratio(s.ratio_nginx)} | {_ratio(s.ratio_peer)} "
            f"| {_ratio(s.ratio_floor)} | {_ratio(s.ratio_get)} "
            f"| {_ratio(s.server_cpu)} "
            f"| {row.budget.text() if row.budget else ''} | {_verdict(row.passed)} |"
        )
    memory = report.memory.to_json()
    growth = report.memory.growth_mb
    lines += [
        "",
        "## Server memory (RSS)",
        "",
        f"- largest worker: {_num(report.memory.worker_max_mb, 1)} MB"
        f" (budget < {MAX_RSS_MB:.0f} MB a worker): {_verdict(bool(memory['max_ok']))}",
        f"- all processes of the server: {report.memory.max_mb:.1f} MB at most"
        f" ({report.memory.processes_text()})",
        "- growth from the end of the first sweep to the end of the last: "
        + (
            "- (one sweep only)"
            if growth is None
            else f"{growth:+.1f} MB (budget <= {MAX_RSS_GROWTH_MB:g} MB): "
            f"{_verdict(growth <= MAX_RSS_GROWTH_MB)}"
        ),
        "- peak per phase, all processes / largest worker: "
        + ", ".join(
            f"{k} {v:.0f} / {report.memory.worker_peaks_mb.get(k, 0.0):.0f}"
            for k, v in report.memory.peaks_mb.items()
        )
        + " MB",
    ]
    if report.scaling is not None:
        lines += [
            "",
            f"## Scaling to {report.scaling.workers} workers",
            "",
            f"Same database, same settings; RSS of all processes at most "
            f"{report.scaling.rss_max_mb:.0f} MB, of the largest worker "
            f"{report.scaling.worker_rss_max_mb:.0f} MB.",
            "",
        ]
        for name, factor in report.scaling.factors().items():
            lines.append(
                f"- {name}: {report.scaling.rps_one[name]:,.0f}/s → "
                f"{report.scaling.rps_many[name]:,.0f}/s, factor {factor:.2f}"
                + _cores(report.scaling, name)
            )
    lines += [
        "",
        "Ratios are taken inside each sweep, then their median. Errors are summed over the "
        "runs: HTTP = responses other than 2xx/3xx, socket = connect/read/write errors and "
        "timeouts (wrk --timeout 5s). Server CPU: cores busy in the server's processes during "
        "the measured run (1.00 = one core; wrk uses the other).",
    ]
    if report.notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in report.notes)]
    return "\n".join(lines) + "\n"


def console(report: Report) -> str:
    """The short table ``--quick`` prints: throughput and ratios, verdicts."""
    out = [
        f"{'scenario':<18} {'req/s':>8} {'x nginx':>7} {'x peer':>6} {'x floor':>7} "
        f"{'x get':>6} {'p99ms':>8} "
        f"{'err':>5} "
        f"{'cpu':>5}  budget"
    ]
    for row in report.rows:
        s = row.summary
        out.append(
            f"{s.name:<18} {s.rps:>8,.0f} {_ratio(s.ratio_nginx):>7} {_ratio(s.ratio_peer):>6} "
            f"{_ratio(s.ratio_floor):>7} {_ratio(s.ratio_get):>6} "
            f"{_num(s.p99_ms, 1):>8} {s.errors:>5} {_ratio(s.server_cpu):>5}  "
            f"{_verdict(row.passed).strip('*')}"
        )
    out.append(
        f"server RSS: largest worker {_num(report.memory.worker_max_mb)} MB"
        f" (budget < {MAX_RSS_MB:.0f}), all processes {report.memory.max_mb:.0f} MB"
    )
    if report.memory.growth_mb is not None:
        out[-1] += f", growth across sweeps {report.memory.growth_mb:+.1f} MB"
    if report.scaling is not None:
        for name, factor in report.scaling.factors().items():
            out.append(
                f"scaling x{report.scaling.workers} workers {name}: {factor:.2f}"
                + _cores(report.scaling, name)
            )
    out += [f"note: {note}" for note in report.notes]
    return "\n".join(out)


def write(report: Report, stem: Path) -> list[Path]:
    """``stem``.json and ``stem``.md; returns their paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown(report), encoding="utf-8")
    return [json_path, md_path]
