"""Schema migrations: idempotent, reversible, and WAL on SQLite."""

import sqlite3
from pathlib import Path

import pytest

from tagfeed.store.diagnosis import DatabaseProblem
from tagfeed.store.migrate import downgrade, head_revision, upgrade


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}


def test_a_missing_directory_is_refused_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "tagfeed.db"
    with pytest.raises(DatabaseProblem, match=r"the folder .*/nested/dir does not exist"):
        upgrade(f"sqlite:///{path}")
    assert not (tmp_path / "nested").exists()


def test_first_start_creates_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tagfeed.db"
    upgrade(f"sqlite:///{path}")
    assert {"messages", "alembic_version", "messages_id", "messages_created_id"} <= tables(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        assert version == head_revision()


def test_upgrade_twice_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO messages VALUES ('i', 't', 'g', 'u', 1)")
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 1


def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    upgrade(url)
    downgrade(url, "base")
    assert "messages" not in tables(tmp_path / "t.db")
    upgrade(url)
    assert "messages" in tables(tmp_path / "t.db")


def test_clustering_sqlite_messages_by_tag_keeps_them_both_ways(tmp_path: Path) -> None:
    """0005 rebuilds the SQLite table in (tag, created_at, id) order; every message and
    the uniqueness of ids survive it, and its downgrade."""
    path = tmp_path / "t.db"
    url = f"sqlite:///{path}"
    upgrade(url, "0004")
    rows = {(f"id{i}", f"text {i}", f"tag{i % 3}", "u", 1_000_000 * (i % 7)) for i in range(50)}
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?)", rows)
    for step, revision in ((upgrade, "head"), (downgrade, "0004")):
        step(url, revision)
        with sqlite3.connect(path) as conn:
            assert set(conn.execute("SELECT * FROM messages")) == rows
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute("INSERT INTO messages VALUES ('id7', 'x', 'other', 'u', 5)")
    assert "messages_tag_created_id" in tables(path)  # the downgrade's index is back
