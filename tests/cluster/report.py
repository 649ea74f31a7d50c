"""The chaos run's results as markdown: the faults, the database repairs' phases, the
streams and the log's followers."""

from pathlib import Path
from typing import Any


def load_average() -> str:
    """The machine's 1, 5 and 15-minute load averages (the host is shared: say it)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def markdown(results: list[dict[str, Any]]) -> str:
    head = (
        "| fault | acked posts | lost | duplicates | write unavailable (s) | read unavailable (s)"
        " | failed reads | failed counts | own writes unread | retries | whole again (s) |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    rows = "".join(
        f"| {r['fault']} | {r['acknowledged_posts']} | {r['lost']} | {r['duplicates']}"
        f" | {r['write_unavailable_s']} | {r['read_unavailable_s']} | {r['failed_reads']}"
        f"/{r['reads']} | {r['failed_counts']}/{r['counts']}"
        f" | {r['read_your_writes_violated']}/{r['read_your_writes']}"
        f" | {r['write_retries']} | {r['whole_again_s']} |\n"
        for r in results
    )
    return head + rows + "\n" + timelines(results) + "\n" + followed(results)


def followed(results: list[dict[str, Any]]) -> str:
    """The streams and the log's followers in each fault: each stream's longest wait for
    an event, whether every stream got every post once and in order; when the relay and
    the tags reducer moved again, and whether what they made holds each post once."""
    head = (
        "| fault | stream gap (s) | streams exact | stream reconnects | relay back (s)"
        " | relayed once, in order | tags reducer back (s) | tags view = stored | load average |\n"
        "|---|---:|---|---:|---:|---|---:|---|---|\n"
    )
    rows = "".join(
        f"| {r['fault']} | {r['stream_gap_s']} | {'yes' if r['streams_exact'] else 'NO'}"
        f" | {sum(int(c['connects']) for c in r['streams']) - len(r['streams'])}"
        f" | {r['phases_s'].get('relay_back') or '-'}"
        f" | {r['relayed']}/{r['stored_posts']}"
        + (
            " yes"
            if not r["relayed_missing"] and not r["relayed_duplicates"] and r["relayed_in_order"]
            else " NO"
        )
        + f" | {r['phases_s'].get('tags_back') or '-'}"
        f" | {'yes' if r['tags_view_count'] == r['stored_posts'] else 'NO'}"
        f" | {r['load_average']} |\n"
        for r in results
    )
    return head + rows


# The timeline table's columns: phase key, heading.
PHASES = (
    ("fenced", "fence released the key"),
    ("leader_key_released", "leader key released"),
    ("leader_key_taken", "leader key taken"),
    ("promoted", "promoted"),
    ("restarted", "restarted in place"),
    ("sync_standby", "sync standby"),
    ("routed", "gateway routes to it"),
    ("writes_back", "writes back"),
    ("reads_back", "reads back"),
)


def timelines(results: list[dict[str, Any]]) -> str:
    """Seconds after the fault at which each phase of the repair was seen ("-": it did
    not happen in that fault, or its record was not found)."""
    head = (
        "| fault | "
        + " | ".join(title for _, title in PHASES)
        + " | load average |\n|---|"
        + "---:|" * len(PHASES)
        + "---|\n"
    )
    database = [r for r in results if r["scenario"].startswith("pg-")]
    rows = "".join(
        f"| {r['fault']} | "
        + " | ".join(
            "-" if r["phases_s"].get(key) is None else str(r["phases_s"][key]) for key, _ in PHASES
        )
        + f" | {r['load_average']} |\n"
        for r in database
    )
    return head + rows
