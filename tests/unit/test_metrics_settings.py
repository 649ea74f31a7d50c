"""TAGFEED_METRICS and TAGFEED_METRICS_PORT: read, and refused naming the variable."""

import pytest

from tagfeed.config import SettingsError, load_settings


def test_metrics_are_on_by_default_on_the_api_port() -> None:
    settings = load_settings()
    assert settings.metrics is True
    assert settings.metrics_port is None


@pytest.mark.parametrize(
    ("raw", "expected"), [("false", False), ("0", False), ("off", False), ("true", True)]
)
def test_metrics_switch(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv("TAGFEED_METRICS", raw)
    assert load_settings().metrics is expected


def test_a_metrics_port_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGFEED_METRICS_PORT", "9464")
    assert load_settings().metrics_port == 9464
    monkeypatch.setenv("TAGFEED_METRICS_PORT", "")
    assert load_settings().metrics_port is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TAGFEED_METRICS": "maybe"}, "TAGFEED_METRICS:"),
        ({"TAGFEED_METRICS_PORT": "0"}, "TAGFEED_METRICS_PORT:"),
        ({"TAGFEED_METRICS_PORT": "70000"}, "TAGFEED_METRICS_PORT:"),
        ({"TAGFEED_METRICS_PORT": "http"}, "TAGFEED_METRICS_PORT:"),
        ({"TAGFEED_METRICS_PORT": "9464", "TAGFEED_METRICS": "false"}, "TAGFEED_METRICS is off"),
        ({"TAGFEED_METRICS_PORT": "8080", "TAGFEED_PORT": "8080"}, "must differ from TAGFEED_PORT"),
    ],
)
def test_unusable_values_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=named):
        load_settings()
