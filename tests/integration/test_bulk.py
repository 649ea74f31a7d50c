"""``tagfeed import`` and ``tagfeed export`` on every backend, through the command line."""

import asyncio
import gzip
import io
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tagfeed.bulk.export import export_messages
from tagfeed.cli import main
from tagfeed.config import Settings
from tagfeed.domain.ids import epoch_micros
from tagfeed.store.factory import store_from_settings
from tagfeed.store.migrate import upgrade
from tagfeed.store.sqlite import sqlite_path
from tests.integration.helpers import seed

SUMMARY = re.compile(
    r"imported (\d+) messages \((\d+) skipped\) in [\d.]+ s, \d+ messages/s,"
    r" into (?:sqlite:///|postgresql://)\S+\n"
)
ID = "0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f60"
# Edges the counters must get right: before 1970, offsets that cross midnight, the last
# microsecond of a day, several spellings of one tag.
INSTANTS = [
    "1969-12-31T23:30:00Z",
    "1970-01-01T00:30:00+01:00",
    "2026-11-28T23:59:59.999999Z",
    "2026-11-29T00:00:00+00:00",
    "2026-11-29T01:00:00.5+02:00",
    "2026-11-29T10:15:00.123456789Z",
]
TAGS = ["News", "#news", "sport", " Ünï Code ", "x_1"]
TEXTS = ["hello", '  quoted "text" \\ here  ', "emoji 🎉 and ünïcode", "line\nbreak", "t" * 280]


def record(**fields: object) -> dict[str, object]:
    return {"text": "hi", "tag": "news", "user_id": "u1", "created_at": INSTANTS[2], **fields}


def jsonl(*records: object) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def sample(count: int, seed: int = 7) -> list[dict[str, object]]:
    """Varied lines; those before 1970 carry an id (no UUIDv7 can be made for them), the
    others get one made by the import."""
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        line = record(
            text=rng.choice(TEXTS),
            tag=rng.choice(TAGS),
            user_id=rng.choice(["1", "auth0|abc", "u.2@x:y-z"]),
            created_at=rng.choice(INSTANTS),
        )
        if str(line["created_at"]) < "1970-01-01T01":
            line["id"] = str(uuid.UUID(int=rng.getrandbits(128)))
        lines.append(line)
    return lines


# -- running the command --------------------------------------------------------------


@pytest.fixture
def tagfeed(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """``tagfeed(*args)`` runs the command in-process against the test database and
    returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("TAGFEED_DATABASE_URL", database_url)
    monkeypatch.setenv("TAGFEED_MIGRATE_ON_START", "false")  # the fixture migrated it

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def write(path: Path, content: bytes) -> str:
    path.write_bytes(content)
    return str(path)


# -- looking at the database ------------------------------------------------------------


def fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(sqlite_path(url))) as conn:
            return conn.execute(sql).fetchall()

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(run())


def micros(value: int | datetime) -> int:
    return value if isinstance(value, int) else epoch_micros(value)


def messages(url: str) -> list[tuple[str, str, str, str, int]]:
    rows = fetch(url, "SELECT id, text, tag, user_id, created_at FROM messages")
    return sorted((str(i), text, tag, user, micros(at)) for i, text, tag, user, at in rows)


def view_indexes(url: str) -> list[str]:
    """The messages view's index definitions (SQLite) or names (PostgreSQL)."""
    if url.startswith("sqlite:///"):
        sql = "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'"
    else:
        sql = "SELECT indexdef FROM pg_indexes WHERE tablename = 'messages'"
    return sorted(str(row[0]) for row in fetch(url, sql))


def counters(url: str) -> dict[tuple[str, int, int], int]:
    """Every counter, summed over its slots."""
    rows = fetch(url, "SELECT tag, span, start, sum(n) FROM message_counts GROUP BY 1, 2, 3")
    return {(tag, span, micros(start)): int(n) for tag, span, start, n in rows}


_GROUPED_SQLITE = """
WITH binned AS (
    SELECT tag, span, created_at - ((created_at % (span * 1000000)) + span * 1000000)
                                   % (span * 1000000) AS start
    FROM messages, (SELECT 3600 AS span UNION ALL SELECT 86400)
)
SELECT tag, span, start, count(*) FROM binned GROUP BY tag, span, start
UNION ALL SELECT '', span, start, count(*) FROM binned GROUP BY span, start
"""
_GROUPED_POSTGRES = """
WITH binned AS (
    SELECT tag, 3600 AS span, date_trunc('hour', created_at AT TIME ZONE 'UTC') AS start
    FROM messages
    UNION ALL
    SELECT tag, 86400, date_trunc('day', created_at AT TIME ZONE 'UTC') FROM messages
)
SELECT tag, span, start AT TIME ZONE 'UTC', count(*) FROM binned GROUP BY 1, 2, 3
UNION ALL SELECT '', span, start AT TIME ZONE 'UTC', count(*) FROM binned GROUP BY 2, 3
"""


def counted_from_messages(url: str) -> dict[tuple[str, int, int], int]:
    """What the counters should hold: count(*) of messages per tag (and over all tags),
    per UTC hour and day, computed by the database from the messages table."""
    sql = _GROUPED_SQLITE if url.startswith("sqlite:///") else _GROUPED_POSTGRES
    return {(tag, span, micros(start)): int(n) for tag, span, start, n in fetch(url, sql)}


def empty(url: str) -> None:
    """Start over from an empty database, the event log included (which no tagfeed
    process can empty: on SQLite a new file, on PostgreSQL with triggers skipped)."""
    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(sqlite_path(url) + suffix).unlink(missing_ok=True)
        upgrade(url)
    else:

        async def truncate() -> None:
            conn = await asyncpg.connect(url, timeout=5)
            try:
                async with conn.transaction():
                    await conn.execute("SET LOCAL session_replication_role = replica")
                    await conn.execute("TRUNCATE events, messages, message_counts")
                    await conn.execute("UPDATE event_head SET position = 0")
            finally:
                await conn.close()

        asyncio.run(truncate())


# -- import -----------------------------------------------------------------------------


def test_import_stores_every_line_with_its_counters(
    tagfeed: Any, database_url: str, tmp_path: Path
) -> None:
    lines = sample(50)
    code, out, err = tagfeed("import", write(tmp_path / "in.jsonl", jsonl(*lines)))
    assert code == 0, err
    match = SUMMARY.fullmatch(out)
    assert match is not None, out
    assert match.groups() == ("50", "0")
    stored = messages(database_url)
    assert len(stored) == 50
    assert {tag for _, _, tag, _, _ in stored} <= {"news", "sport", "ünï-code", "x_1"}
    assert counters(database_url) == counted_from_messages(database_url)
    pre_1970 = epoch_micros(datetime(1969, 12, 31, 23, tzinfo=UTC))
    assert any(start == pre_1970 for _, span, start in counters(database_url) if span == 3600)


def test_a_line_is_stored_as_validated(tagfeed: Any, database_url: str, tmp_path: Path) -> None:
    line = record(
        id=ID, text="  spaced  ", tag="#Philo Timo ", created_at="2026-11-29T01:00:00+02:00"
    )
    code, _, err = tagfeed("import", write(tmp_path / "in.jsonl", jsonl(line)))
    assert code == 0, err
    at = epoch_micros(datetime(2026, 11, 28, 23, tzinfo=UTC))
    assert messages(database_url) == [(ID, "spaced", "philo-timo", "u1", at)]


def test_bad_lines_are_reported_by_number_and_skipped(
    tagfeed: Any, database_url: str, tmp_path: Path
) -> None:
    content = (
        jsonl(record(text="one"), record(text="   "))
        + b"\n"  # a blank line is neither a message nor an error
        + jsonl(record(text="three"), record(created_at="2026-11-28"))
        + b"{not json\n"
        + jsonl(record(text="six"))
    )
    code, out, err = tagfeed("import", write(tmp_path / "in.jsonl", content), "--batch-size", "2")
    assert code == 0
    assert "line 2: text: must not be empty" in err
    assert "line 5: created_at: must be an RFC 3339 instant with a zone" in err
    assert "line 6: line: is not valid JSON" in err
    assert "line 3:" not in err
    assert SUMMARY.fullmatch(out) is not None
    assert "imported 3 messages (3 skipped)" in out
    assert sorted(text for _, text, _, _, _ in messages(database_url)) == ["one", "six", "three"]
    assert counters(database_url) == counted_from_messages(database_url)


def test_abort_leaves_the_database_exactly_as_before(
    tagfeed: Any, database_url: str, tmp_path: Path
) -> None:
    assert tagfeed("import", write(tmp_path / "first.jsonl", jsonl(*sample(10, seed=1))))[0] == 0
    before = (messages(database_url), counters(database_url))
    # Three batches of two are written before line 7 turns out bad.
    bad = jsonl(*sample(6, seed=2), record(tag="not/a/tag"), *sample(3, seed=3))
    code, out, err = tagfeed(
        "import", write(tmp_path / "bad.jsonl", bad), "--on-error", "abort", "--batch-size", "2"
    )
    assert code == 1
    assert out == ""
    assert "line 7: tag: may hold only letters, digits" in err
    assert "nothing was imported" in err
    assert (messages(database_url), counters(database_url)) == before


def test_abort_on_an_id_already_stored_rolls_back_too(
    tagfeed: Any, database_url: str, tmp_path: Path
) -> None:
    assert tagfeed("import", write(tmp_path / "first.jsonl", jsonl(record(id=ID))))[0] == 0
    before = (messages(database_url), counters(database_url))
    again = jsonl(*sample(5), record(id=ID, text="again"))
    code, _, err = tagfeed(
        "import", write(tmp_path / "again.jsonl", again), "--on-error", "abort", "--batch-size", "2"
    )
    assert code == 1
    assert "line 6: id: a message with this id already exists" in err
    assert (messages(database_url), counters(database_url)) == before


def test_duplicate_ids_are_skipped_with_their_line_numbers(
    tagfeed: Any, database_url: str, tmp_path: Path
) -> None:
    other = ID[:-1] + "1"
    assert tagfeed("import", write(tmp_path / "first.jsonl", jsonl(record(id=ID))))[0] == 0
    content = jsonl(
        record(text="a"),
        record(id=ID, text="stored before"),
        record(id=other, text="first of two"),
        record(id=other, text="same batch"),
        record(text="b"),
        record(id=other, text="later batch"),
    )
    code, out, err = tagfeed("import", write(tmp_path / "dup.jsonl", content), "--batch-size", "4")
    assert code == 0, err
    assert "imported 3 messages (3 skipped)" in out
    for number in (2, 4, 6):
        assert f"line {number}: id: a message with this id already exists" in err
    texts = sorted(text for _, text, _, _, _ in messages(database_url))
    assert texts == ["a", "b", "first of two", "hi"]
    assert counters(database_url) == counted_from_messages(database_url)


def test_a_first_import_skips_its_own_duplicates_and_indexes_the_view(
    tagfeed: Any, database_url: str, tmp_path: Path
) -> None:
    """Into an empty messages view SQLite appends only the log during the load and
    fills the view at the end: the log's unique event ids refuse the duplicates, and
    the view ends up whole, with the indexes it had."""
    before = view_indexes(database_url)
    other = ID[:-1] + "1"
    content = jsonl(
        record(id=ID, text="a"),
        record(id=other, text="first of two"),
        record(id=other, text="same batch"),
        record(text="b"),
        record(id=ID, text="later batch"),
        *sample(7),
    )
    code, out, err = tagfeed("import", write(tmp_path / "dup.jsonl", content), "--batch-size", "4")
    assert code == 0, err
    assert "imported 10 messages (2 skipped)" in out
    for number in (3, 5):
        assert f"line {number}: id: a message with this id already exists" in err
    stored = messages(database_url)
    assert len(stored) == 10
    assert {text for _, text, _, _, _ in stored} >= {"a", "first of two", "b"}
    assert counters(database_url) == counted_from_messages(database_url)
    assert view_indexes(database_url) == before
    assert fetch(database_url, "SELECT count(*) FROM events")[0][0] == 10


def test_a_first_import_that_aborts_leaves_the_view_and_its_indexes(
    tagfeed: Any, database_url: str, tmp_path: Path
) -> None:
    before = view_indexes(database_url)
    bad = jsonl(*sample(6, seed=2), record(tag="not/a/tag"))
    code, _, _ = tagfeed(
        "import", write(tmp_path / "bad.jsonl", bad), "--on-error", "abort", "--batch-size", "2"
    )
    assert code == 1
    assert (messages(database_url), counters(database_url)) == ([], {})
    assert view_indexes(database_url) == before
    assert tagfeed("import", write(tmp_path / "good.jsonl", jsonl(*sample(6, seed=2))))[0] == 0
    assert len(messages(database_url)) == 6


@pytest.mark.parametrize("name", ["in.jsonl.gz", "in.jsonl", "in"])
def test_gzip_is_recognised_by_its_magic_bytes_whatever_the_name(
    tagfeed: Any, database_url: str, tmp_path: Path, name: str
) -> None:
    path = write(tmp_path / name, gzip.compress(jsonl(*sample(20))))
    code, out, err = tagfeed("import", path)
    assert code == 0, err
    assert "imported 20 messages (0 skipped)" in out
    assert len(messages(database_url)) == 20


def test_dash_reads_standard_input(
    tagfeed: Any, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(jsonl(*sample(7))))
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, err = tagfeed("import", "-")
    assert code == 0, err
    assert "imported 7 messages (0 skipped)" in out
    assert len(messages(database_url)) == 7


def test_a_missing_file_fails_without_touching_the_database(
    tagfeed: Any, database_url: str, tmp_path: Path
) -> None:
    code, out, err = tagfeed("import", str(tmp_path / "nowhere.jsonl"))
    assert out == ""
    assert code == 1
    assert "nowhere.jsonl" in err
    assert messages(database_url) == []


def test_batch_size_must_be_positive(tagfeed: Any, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        tagfeed("import", write(tmp_path / "in.jsonl", b""), "--batch-size", "0")
    assert exited.value.code == 2


def post(database_url: str, *rows: tuple[str, str]) -> None:
    """Post messages through the store, as the API does (one unit of work)."""

    async def run() -> None:
        store = store_from_settings(Settings(database_url=database_url))
        await store.open()
        try:
            await seed(store, *rows)
        finally:
            await store.close()

    asyncio.run(run())


def test_import_adds_to_the_counters_of_messages_posted_through_the_store(
    tagfeed: Any, database_url: str, tmp_path: Path
) -> None:
    post(
        database_url,
        ("news", "2026-11-28T23:10:00"),
        ("sport", "2026-11-29T10:00:00"),
        ("other", "2026-11-29T10:59:59"),
    )
    # The import counts in slot 0; the PostgreSQL store picks a slot at random per unit
    # of work. Post until slot 0 holds a count, so that the import must add to a row.
    slot_0 = "SELECT count(*) FROM message_counts WHERE tag = 'news' AND span = 3600 AND slot = 0"
    for _ in range(200):
        if fetch(database_url, slot_0)[0][0]:
            break
        post(database_url, ("news", "2026-11-28T23:20:00"))
    posted = counters(database_url)
    assert posted == counted_from_messages(database_url)
    code, _, err = tagfeed("import", write(tmp_path / "in.jsonl", jsonl(*sample(40))))
    assert code == 0, err
    after = counters(database_url)
    assert after == counted_from_messages(database_url)
    news_hour = ("news", 3600, epoch_micros(datetime(2026, 11, 28, 23, tzinfo=UTC)))
    assert after[news_hour] > posted[news_hour]  # added to, not replaced


# -- export -----------------------------------------------------------------------------


def test_export_import_export_is_byte_identical(
    tagfeed: Any, database_url: str, tmp_path: Path
) -> None:
    assert tagfeed("import", write(tmp_path / "in.jsonl", jsonl(*sample(60))))[0] == 0
    first = tmp_path / "first.jsonl"
    code, _, err = tagfeed("export", str(first))
    assert code == 0
    assert "exported 60 messages" in err
    exported = first.read_bytes().splitlines()
    assert len(exported) == 60
    keys = [(json.loads(x)["created_at"], json.loads(x)["id"]) for x in exported]
    assert keys == sorted(keys)  # oldest first, ties by id
    stored_before = messages(database_url)
    counters_before = counters(database_url)

    empty(database_url)
    assert tagfeed("import", str(first))[0] == 0
    second = tmp_path / "second.jsonl.gz"
    assert tagfeed("export", str(second))[0] == 0
    assert gzip.decompress(second.read_bytes()) == first.read_bytes()
    assert messages(database_url) == stored_before
    assert counters(database_url) == counters_before


def test_export_pages_by_keyset_through_ties_on_created_at(
    tagfeed: Any, database_url: str, tmp_path: Path
) -> None:
    tied = [record(text=f"m{i}", created_at=INSTANTS[2 + i % 2]) for i in range(11)]
    assert "imported 11 messages" in tagfeed("import", write(tmp_path / "t.jsonl", jsonl(*tied)))[1]
    settings = Settings(database_url=database_url)
    whole, paged = io.BytesIO(), io.BytesIO()
    assert export_messages(settings, whole, tag=None, batch_size=1000) == 11
    assert export_messages(settings, paged, tag=None, batch_size=3) == 11
    assert paged.getvalue() == whole.getvalue()
    assert len(set(whole.getvalue().splitlines())) == 11


def test_export_of_one_tag_normalises_it(tagfeed: Any, tmp_path: Path) -> None:
    lines = [record(tag="News"), record(tag="sport"), record(tag="#news")]
    assert tagfeed("import", write(tmp_path / "in.jsonl", jsonl(*lines)))[0] == 0
    out = tmp_path / "news.jsonl"
    code, _, err = tagfeed("export", str(out), "--tag", "#NEWS")
    assert code == 0
    assert "exported 2 messages" in err
    assert {json.loads(x)["tag"] for x in out.read_bytes().splitlines()} == {"news"}
    assert tagfeed("export", str(out), "--tag", "a/b")[0] == 2


def test_the_command_pipes_gzip_in_and_lines_out(database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "TAGFEED_DATABASE_URL": database_url}

    def tagfeed(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "tagfeed", *args],
            input=stdin,
            env=env,
            cwd=tmp_path,
            capture_output=True,
            timeout=120,
            check=False,
        )

    imported = tagfeed("import", "-", stdin=gzip.compress(jsonl(*sample(25))))
    assert imported.returncode == 0, imported.stderr
    assert SUMMARY.fullmatch(imported.stdout.decode()) is not None
    assert b"imported 25 messages (0 skipped)" in imported.stdout
    exported = tagfeed("export")
    assert exported.returncode == 0, exported.stderr
    assert len(exported.stdout.splitlines()) == 25
    settings = Settings(database_url=database_url)
    in_process = io.BytesIO()
    export_messages(settings, in_process, tag=None)
    assert exported.stdout == in_process.getvalue()


def test_an_import_is_seen_by_a_running_server_that_cached_old_counts(
    tagfeed: Any, database_url: str, tmp_path: Path
) -> None:
    """/counts caches buckets of closed periods; an import bumps the counters' generation
    in its transaction, so the next request counts the imported messages."""
    from tagfeed.domain.counting import Granularity
    from tagfeed.domain.queries import MessageFilter
    from tagfeed.domain.timerange import TimeRange
    from tagfeed.service.messages import MessageService

    old_day = TimeRange(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
    where = MessageFilter("imported", old_day)

    def render(buckets: Any) -> bytes:
        return ",".join(str(b.count) for b in buckets).encode()

    async def series(service: MessageService) -> tuple[int, bytes]:
        answer = await service.count_series(where, Granularity.DAY, render)
        return answer.total, answer.sealed

    async def scenario() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        store = store_from_settings(Settings(database_url=database_url))
        await store.open()
        try:
            service = MessageService(store)
            before = await series(service)  # cached now: both days are long closed
            lines = [record(tag="imported", created_at="2026-03-02T12:00:00.000000Z")]
            code, _, err = await asyncio.to_thread(
                tagfeed, "import", write(tmp_path / "old.jsonl", jsonl(*lines))
            )
            assert code == 0, err
            return before, await series(service)
        finally:
            await store.close()

    before, after = asyncio.run(scenario())
    assert before == (0, b"0,0")
    assert after == (1, b"0,1")
