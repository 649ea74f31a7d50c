"""TAGFEED_DATABASE_URL parsed once (store/urls.py): each form its users need."""

from pathlib import Path

import pytest

from tagfeed.store.urls import parse_database_url


def test_a_relative_sqlite_file_is_shown_absolute_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = parse_database_url("sqlite:///data/feed.db")
    assert url.backend == "sqlite"
    assert url.sqlite_path == "data/feed.db"
    assert url.sqlite_file == tmp_path / "data" / "feed.db"
    assert url.display == f"sqlite:///{tmp_path}/data/feed.db"
    assert url.sqlalchemy_url == "sqlite:///data/feed.db"


def test_an_absolute_sqlite_file_keeps_its_path() -> None:
    url = parse_database_url("sqlite:////var/lib/tagfeed.db")
    assert url.sqlite_path == "/var/lib/tagfeed.db"
    assert url.display == "sqlite:////var/lib/tagfeed.db"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgresql_forms_and_the_password_never_shown(scheme: str) -> None:
    url = parse_database_url(f"{scheme}://app:s3cret@db.example:6543/feed?sslmode=require")
    assert url.backend == "postgresql"
    assert url.asyncpg_dsn == f"{scheme}://app:s3cret@db.example:6543/feed?sslmode=require"
    assert (
        url.sqlalchemy_url == "postgresql+asyncpg://app:s3cret@db.example:6543/feed?sslmode=require"
    )
    assert url.display == f"{scheme}://app:***@db.example:6543/feed?sslmode=require"
    assert "s3cret" not in url.display


def test_a_url_without_password_is_shown_as_it_is() -> None:
    url = parse_database_url("postgresql://postgres@127.0.0.1:5432/postgres")
    assert url.display == "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("mysql://u:pw@h/db", "must start with sqlite:///<path> or postgresql://"),
        ("sqlite:///", "must start with sqlite:///<path> or postgresql://"),
        ("sqlite:///:memory:", "SQLite needs a file"),
        ("postgresql+asyncpg://u:pw@h/db", "must start with sqlite:///<path> or postgresql://"),
    ],
)
def test_other_urls_are_refused_without_echoing_them(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match="^" + reason.replace("(", r"\(")) as refused:
        parse_database_url(raw)
    assert "pw" not in str(refused.value)


def test_a_driver_form_of_the_other_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="not a SQLite URL"):
        _ = parse_database_url("postgresql://u:pw@h/db").sqlite_path
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        _ = parse_database_url("sqlite:///x.db").asyncpg_dsn
