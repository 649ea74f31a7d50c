"""deploy/: the alert rules pass promtool (syntax and their own unit tests), and the
dashboard and the rules name only metrics that tagfeed.metrics declares."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tagfeed.metrics import Metrics

DEPLOY = Path(__file__).parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "tagfeed.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:  # CI fails on any skip: .ci/run installs Debian's prometheus
        pytest.skip("promtool not found: apt-get install -y prometheus")
    return found


def declared_series() -> set[str]:
    return {
        family.name + suffix
        for family in Metrics().registry.collect()
        for suffix in SUFFIXES[family.type]
    }


def test_the_alert_rules_are_valid() -> None:
    done = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 7 rules found" in done.stdout


def test_each_alert_fires_when_it_should_and_only_then() -> None:
    done = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", [RULES, DASHBOARD], ids=lambda p: p.name)
def test_only_declared_metrics_are_named(path: Path) -> None:
    named = set(re.findall(r"\btagfeed_[a-z_]+", path.read_text()))
    assert named, "no tagfeed metric named at all"
    assert named <= declared_series(), named - declared_series()


def test_the_dashboard_shows_every_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    exprs = " ".join(t["expr"] for panel in panels for t in panel.get("targets", ()))
    families = {family.name for family in Metrics().registry.collect()}
    shown = {name for name in families if name in exprs}
    assert shown == families - {"tagfeed_reducer_head"}  # the lag says it better
