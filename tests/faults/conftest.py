"""Fixtures for the fault tests (``make faults``): databases they may break, and the
summary line that adds up what every test found.

These tests are marked ``faults`` and deselected by default (pyproject's addopts); they
kill, stop and lock things, take minutes, and run only with ``-m faults``. PostgreSQL comes
two ways: ``TAGFEED_TEST_POSTGRES_URL`` (a server where we may create databases) for the
tests that only kill tagfeed, and a server of the tests' own (initdb + pg_ctl) for the
tests that stop or lock the database. Neither is ever skipped: a missing one fails.
"""

import asyncio
import os
import secrets
from collections.abc import Generator, Iterator

import asyncpg
import pytest

from tagfeed.store.migrate import upgrade
from tests.faults.fault_postgres import OwnPostgres
from tests.faults.fault_tally import TALLY


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _fresh_database(server_url: str) -> Generator[str, None, None]:
    name = f"tagfeed_faults_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    url = f"{server_url.rpartition('/')[0]}/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def shared_postgres_url() -> Iterator[str]:
    """A fresh, migrated database on TAGFEED_TEST_POSTGRES_URL, dropped afterwards."""
    server_url = os.environ.get("TAGFEED_TEST_POSTGRES_URL", "")
    if not server_url:
        pytest.fail(
            "TAGFEED_TEST_POSTGRES_URL is not set: the fault tests need a PostgreSQL server"
            " where they may create databases (make faults sets a local default)"
        )
    yield from _fresh_database(server_url)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(backend name, URL of a fresh, migrated database of it)."""
    fixture = "sqlite_url" if request.param == "sqlite" else "shared_postgres_url"
    return request.param, request.getfixturevalue(fixture)


@pytest.fixture(scope="session")
def own_postgres() -> Iterator[OwnPostgres]:
    """A PostgreSQL server of the session's own, removed at the end whatever happened."""
    server = OwnPostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def own_postgres_url(own_postgres: OwnPostgres) -> Iterator[str]:
    """A fresh database on the session's own server; the server runs before and after
    (a test that stopped it and failed before starting it again gets it restarted)."""
    if not own_postgres.running():
        own_postgres.start()
    databases = _fresh_database(own_postgres.url)
    url = next(databases)
    try:
        yield url
    finally:
        if not own_postgres.running():
            own_postgres.start()
        databases.close()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/faults/" not in report.nodeid:
        return
    if report.when == "call" or report.failed:
        previous = TALLY.tests.get(report.nodeid)
        if previous != "failed":
            TALLY.tests[report.nodeid] = report.outcome


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY.tests:
        terminalreporter.write_line(TALLY.line(), bold=True)
