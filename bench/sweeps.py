"""Measuring: one sample per scenario per sweep, each a warm-up then a measured run, taken
against tagfeed, the bare peer, the nginx ceiling or pgbench, with the server's memory and
CPU watched."""

import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.options import Options
from bench.pgbench import PgbenchError, run_pgbench
from bench.proc import RssSampler, machine_busy_seconds, tree_cpu_seconds
from bench.profile import finish_profile, start_profile
from bench.scenarios import BY_NAME, NGINX, PEER, PGBENCH
from bench.servers import Running
from bench.stats import Sample
from bench.wrk import run_wrk


@dataclass(frozen=True)
class Targets:
    tagfeed: Running
    nginx: Running | None = None
    pgbench_url: str | None = None
    peer: Running | None = None
    others: dict[str, Running] = field(default_factory=dict)  # by Scenario.target


def wrk_sample(target: Running, requests: Path, options: Options) -> Sample:
    """Warm up, then measure; also the target's CPU use (cores) over the measured run."""
    if options.warmup > 0:
        run_wrk(target.url, requests, seconds=options.warmup, connections=options.connections)
    cpu_before = tree_cpu_seconds(target.pid)
    machine_before, started = machine_busy_seconds(), time.monotonic()
    result = run_wrk(
        target.url,
        requests,
        seconds=options.duration,
        connections=options.connections,
        threads=options.threads,
    )
    cpu = (tree_cpu_seconds(target.pid) - cpu_before) / result.seconds if result.seconds else None
    # over the wall time between the two readings (wrk's own start and end included)
    machine = (machine_busy_seconds() - machine_before) / (time.monotonic() - started)
    return Sample(
        rps=result.rps,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        errors=result.errors,
        requests=result.requests,
        server_cpu=cpu,
        socket_errors=result.socket_errors,
        machine_cpu=machine,
    )


def pgbench_sample(url: str, options: Options) -> Sample:
    if options.warmup > 0:
        run_pgbench(url, clients=options.connections, seconds=options.warmup)
    result = run_pgbench(url, clients=options.connections, seconds=options.duration)
    if result is None:
        raise PgbenchError(f"pgbench completed no transaction in {options.duration} s")
    requests = round(result.tps * options.duration)
    return Sample(result.tps, None, None, result.failed, requests)


class Sweeps:
    """Runs the scenarios ``options.runs`` times and keeps every sample, in sweep order."""

    def __init__(self, options: Options, files: dict[str, Path], profile_stem: Path) -> None:
        self.options = options
        self.files = files
        self.profile_stem = profile_stem
        self.samples: dict[str, list[Sample]] = {name: [] for name in options.scenarios}
        self.sweep_end_mb: list[float] = []
        self.notes: list[str] = []

    def _one(self, name: str, targets: Targets, sweep: int) -> Sample:
        scenario = BY_NAME[name]
        if scenario.target == PGBENCH:
            assert targets.pgbench_url is not None
            return pgbench_sample(targets.pgbench_url, self.options)
        fixed = {NGINX: targets.nginx, PEER: targets.peer, **targets.others}
        target = fixed.get(scenario.target, targets.tagfeed)
        assert target is not None
        if not (self.options.profile == name and sweep == 0):
            return wrk_sample(target, self.files[scenario.requests], self.options)
        output = self.profile_stem.with_name(f"{self.profile_stem.name}-profile-{name}.svg")
        seconds = self.options.duration + self.options.warmup
        spy = start_profile(targets.tagfeed.pid, seconds, output)
        try:
            return wrk_sample(target, self.files[scenario.requests], self.options)
        finally:
            made = finish_profile(spy, output)
            self.notes.append(f"py-spy profile of {name}: {made or 'not made'}")

    def run(self, targets: Targets, rss: RssSampler) -> None:
        """All sweeps; raises RuntimeError at once if the server dies."""
        server = targets.tagfeed
        for sweep in range(self.options.runs):
            for name in self.options.scenarios:
                rss.phase(name)
                sample = self._one(name, targets, sweep)
                self.samples[name].append(sample)
                cpu = "" if sample.server_cpu is None else f"cpu {sample.server_cpu:.2f}  "
                print(
                    f"  sweep {sweep + 1}/{self.options.runs} {name:<16} {sample.rps:>9,.0f}/s "
                    f"p99 {sample.p99_ms or 0:>7.2f} ms  errors {sample.errors}  {cpu}"
                    f"rss {rss.last:.0f} MB",
                    flush=True,
                )
                if not server.alive():
                    raise RuntimeError(f"tagfeed serve died during {name}; see {server.log}")
            rss.phase("idle")
            time.sleep(1.0)  # let the last requests' garbage go before the idle sample
            self.sweep_end_mb.append(rss.sample())
