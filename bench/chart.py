"""One PNG per run: req/s per scenario with its budget marked, and p99 per scenario.
nginx is left out of the bars (it would flatten them) and named in the title instead; each
bar is labelled with its share of it."""

from pathlib import Path

from bench.report import Report
from bench.scenarios import GET_BY_ID, NGINX, PEER_OF, PGBENCH

_COLORS = {True: "#4c9a2a", False: "#c0392b", None: "#7f8c8d"}


def write_chart(report: Report, path: Path) -> Path:
    """Needs matplotlib (the ``bench`` extra); draws off-screen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rps = {row.summary.name: row.summary.rps for row in report.rows}
    rows = [row for row in report.rows if row.summary.name != NGINX]
    positions = list(range(len(rows)))
    meta = report.meta

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8.5), sharex=True)
    title = (
        f"tagfeed {meta['backend']}, {meta['workers']} worker(s), {meta['messages']:,} messages, "
        f"wrk -t{meta['threads']} -c{meta['connections']}, median of {meta['runs']} — "
        f"{meta['date']}"
    )
    if NGINX in rps:
        title += f"\nnginx fixed-201 ceiling: {rps[NGINX]:,.0f} req/s (not drawn)"
    figure.suptitle(title)

    top.bar(positions, [r.summary.rps for r in rows], color=[_COLORS[r.passed] for r in rows])
    for x, row in zip(positions, rows, strict=True):
        share = row.summary.ratio_nginx
        label = f"{row.summary.rps:,.0f}" + (f"\n{share:.1%}" if share is not None else "")
        top.annotate(label, (x, row.summary.rps), ha="center", va="bottom", fontsize=8)
        peer = rps.get(PEER_OF.get(row.summary.name, ""))
        budget = row.budget
        floor = budget.floor_rps(rps.get(GET_BY_ID), rps.get(PGBENCH), peer) if budget else None
        if floor is not None:
            top.hlines(floor, x - 0.4, x + 0.4, colors="black", linestyles="dashed")
    top.set_ylabel("req/s (label: share of nginx)")
    top.set_title("throughput — dashed: budget; green pass, red fail, grey no budget", fontsize=9)
    top.grid(axis="y", alpha=0.3)
    top.margins(y=0.15)

    measured = [(x, row) for x, row in zip(positions, rows, strict=True) if row.summary.p99_ms]
    bottom.bar(
        [x for x, _ in measured],
        [row.summary.p99_ms or 0.0 for _, row in measured],
        color="#2e86c1",
    )
    for x, row in measured:
        bottom.annotate(
            f"{row.summary.p99_ms:,.1f}",
            (x, row.summary.p99_ms or 0.0),
            ha="center",
            va="bottom",
            fontsize=8,
        )
        if row.budget is not None and row.budget.max_p99_ms is not None:
            bottom.hlines(
                row.budget.max_p99_ms, x - 0.4, x + 0.4, colors="black", linestyles="dashed"
            )
    bottom.set_yscale("log")
    bottom.set_ylabel("p99 latency, ms (log scale)")
    bottom.set_title("p99 latency — dashed: budget", fontsize=9)
    bottom.grid(axis="y", alpha=0.3, which="both")
    bottom.set_xticks(positions, [row.summary.name for row in rows], rotation=30, ha="right")

    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
