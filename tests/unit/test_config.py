"""Configuration: one clear line per bad variable, and settings that tests can build
without the developer's TAGFEED_* environment leaking in."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tagfeed.config import SettingsError, load_settings, settings_from_values


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "NaN"])
def test_a_timeout_that_is_not_a_finite_number_is_refused_as_such(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAGFEED_DB_TIMEOUT", raw)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert str(refused.value) == "TAGFEED_DB_TIMEOUT: Input should be a finite number"


def test_each_bad_variable_is_one_line_without_pydantic_prefixes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TAGFEED_DATABASE_URL", "mysql://u:hunter2@h/db")
    monkeypatch.setenv("TAGFEED_COUNT_ROLE", "a b")
    monkeypatch.setenv("TAGFEED_READ_TIMEOUT", "nan")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    lines = str(refused.value).splitlines()
    assert lines == [
        "TAGFEED_DATABASE_URL: must start with sqlite:///<path> or postgresql://",
        "TAGFEED_READ_TIMEOUT: Input should be a finite number",
        "TAGFEED_COUNT_ROLE: must be 1-128 characters without spaces or commas",
    ]
    assert "hunter2" not in str(refused.value)


def test_an_unknown_server_interface_is_one_line_naming_the_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TAGFEED_SERVER_INTERFACE", "wsgi")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert str(refused.value) == "TAGFEED_SERVER_INTERFACE: Input should be 'asgi' or 'rsgi'"
    monkeypatch.setenv("TAGFEED_SERVER_INTERFACE", "rsgi")
    assert load_settings().server_interface == "rsgi"


def test_settings_from_values_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGFEED_MAX_TEXT_LENGTH", "5")
    monkeypatch.setenv("TAGFEED_SQLITE_SYNCHRONOUS", "NORMAL")
    assert load_settings().max_text_length == 5  # the environment's way sees them
    explicit = settings_from_values(database_url="sqlite:///x.db", max_text_length=7)
    assert (explicit.max_text_length, explicit.sqlite_synchronous) == (7, "FULL")
    assert settings_from_values().max_text_length == 280


def test_settings_from_values_are_checked_like_the_environment() -> None:
    with pytest.raises(SettingsError, match=r"^TAGFEED_DB_TIMEOUT: Input should be a finite"):
        settings_from_values(db_timeout=float("nan"))


PROBE = """
import os
from tagfeed.config import load_settings

def test_probe():
    assert not [n for n in os.environ if n == "TAGFEED_MAX_TEXT_LENGTH"]
    assert load_settings().max_text_length == 280
"""


def test_a_developers_tagfeed_variable_does_not_reach_a_test(tmp_path: Path) -> None:
    """A test run under TAGFEED_MAX_TEXT_LENGTH=5 (as a developer's shell may have it)
    builds its settings from the defaults: the suite's conftest unsets it per test."""
    probe = Path(__file__).parent / f"test_probe_{os.getpid()}.py"
    probe.write_text(PROBE)
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe)],
            env={**os.environ, "TAGFEED_MAX_TEXT_LENGTH": "5"},
            cwd=Path(__file__).parents[2],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        probe.unlink()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (
            {"database_read_url": "postgresql://replica/db"},
            "TAGFEED_DATABASE_URL is not PostgreSQL",
        ),
        (
            {
                "database_url": "postgresql://primary/db",
                "database_read_url": "sqlite:///replica.db",
            },
            "TAGFEED_DATABASE_READ_URL: must be a postgresql:// URL",
        ),
    ],
    ids=["sqlite-with-replicas", "replicas-not-postgres"],
)
def test_a_read_url_needs_postgresql_on_both_sides(values: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError, match=says):
        settings_from_values(**values)


def test_an_empty_read_url_is_unset() -> None:
    settings = settings_from_values(database_url="postgresql://p/db", database_read_url="")
    assert settings.database_read_url is None
