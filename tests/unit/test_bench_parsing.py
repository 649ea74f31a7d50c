"""The benchmark's readers of wrk and pgbench output, and its data set's shape. No network,
no server: these run in ``make test``."""

import collections
import json
from datetime import UTC, datetime, timedelta

import pytest

from bench.dataset import HOT_TAG, TAGS, YEAR, generate_lines, tag_name
from bench.pgbench import parse_pgbench_output
from bench.rebuild import parse_rebuilt
from bench.wrk import WrkError, parse_wrk_output

WRK_LATENCY = """\
Running 10s test @ http://127.0.0.1:38801/v1/messages
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    19.71ms    4.16ms 112.03ms   91.25%
    Req/Sec     3.26k   210.11     3.61k    79.00%
  Latency Distribution
     50%  183.00us
     75%   20.01ms
     90%   22.60ms
     99%    1.21s
  32450 requests in 10.01s, 13.45MB read
  Socket errors: connect 0, read 2, write 0, timeout 5
  Non-2xx or 3xx responses: 17
Requests/sec:   3241.76
Transfer/sec:      1.34MB
"""


def test_reads_the_latency_summary_of_plain_wrk() -> None:
    result = parse_wrk_output(WRK_LATENCY)
    assert result.requests == 32450
    assert result.seconds == pytest.approx(10.01)
    assert result.rps == pytest.approx(3241.76)
    assert result.p50_ms == pytest.approx(0.183)
    assert result.p99_ms == pytest.approx(1210.0)
    assert (result.status_errors, result.socket_errors, result.errors) == (17, 7, 24)


def test_no_error_lines_means_no_errors() -> None:
    clean = "\n".join(
        line for line in WRK_LATENCY.splitlines() if "errors" not in line and "Non-2xx" not in line
    )
    assert parse_wrk_output(clean).errors == 0


def test_prefers_the_line_printed_by_replay_lua() -> None:
    mark = {
        "requests": 50000,
        "duration_us": 10_000_000,
        "bytes": 1,
        "connect_errors": 1,
        "read_errors": 2,
        "write_errors": 3,
        "timeout_errors": 4,
        "status_errors": 5,
        "p50_us": 1500,
        "p90_us": 2000,
        "p99_us": 25000,
        "max_us": 90000,
        "mean_us": 1600.5,
    }
    result = parse_wrk_output(WRK_LATENCY + "BENCH_RESULT " + json.dumps(mark) + "\n")
    assert result.rps == pytest.approx(5000.0)
    assert (result.p50_ms, result.p99_ms) == (1.5, 25.0)
    assert (result.status_errors, result.socket_errors) == (5, 10)


def test_output_without_figures_is_an_error() -> None:
    with pytest.raises(WrkError, match="no --latency summary"):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_reads_pgbench_tps() -> None:
    output = (
        "number of transactions actually processed: 123456\n"
        "number of failed transactions: 0 (0.000%)\n"
        "latency average = 5.184 ms\n"
        "initial connection time = 80.112 ms\n"
        "tps = 12345.678901 (without initial connection time)\n"
    )
    result = parse_pgbench_output(output)
    assert (result.tps, result.latency_ms, result.failed) == (12345.678901, 5.184, 0)


END = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.fixture(scope="module")
def lines() -> list[dict[str, str]]:
    return [json.loads(line) for line in generate_lines(20_000, seed=7, end=END)]


def test_the_hottest_tag_holds_about_ten_percent(lines: list[dict[str, str]]) -> None:
    counts = collections.Counter(line["tag"] for line in lines)
    (top, n), *_ = counts.most_common(1)
    assert top == HOT_TAG
    assert 0.08 <= n / len(lines) <= 0.12
    assert counts[tag_name(2)] < n
    assert set(counts) <= {tag_name(k) for k in range(1, TAGS + 1)}
    assert len(counts) > 2000  # a long tail, not a handful of tags


def test_lines_fill_the_past_year_in_time_order(lines: list[dict[str, str]]) -> None:
    moments = [datetime.fromisoformat(line["created_at"]) for line in lines]
    assert moments == sorted(moments)
    assert END - YEAR <= moments[0] < END - YEAR + timedelta(days=1)
    assert END - timedelta(days=1) < moments[-1] < END
    assert lines[0]["created_at"].endswith("Z")
    assert len(lines[0]["created_at"]) == len("2026-03-01T12:00:00.000000Z")
    assert len({line["user_id"] for line in lines}) > 3000


def test_the_same_seed_gives_the_same_lines() -> None:
    first = list(generate_lines(200, seed=3, end=END))
    assert first == list(generate_lines(200, seed=3, end=END))
    assert first != list(generate_lines(200, seed=4, end=END))


def test_reads_what_the_rebuild_command_prints() -> None:
    assert parse_rebuilt("rebuilt counts up to position 1000000 in 4.87 s\n") == (1_000_000, 4.87)
    with pytest.raises(RuntimeError, match="cannot read the rebuild's output"):
        parse_rebuilt("tagfeed: rebuild failed")
