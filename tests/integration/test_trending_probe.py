"""``bench.trending_probe`` measures what it says on both backends; on PostgreSQL most of
the view's updates are in place (HOT): the point of the index on tiers."""

import argparse
from pathlib import Path

import asyncpg
import pytest

from bench.trending_probe import on_postgres, on_sqlite
from tagfeed.store.trending_views import TABLE

ARGS = argparse.Namespace(batches=40, events=100, tags=50, hour_every=20)


def test_sqlite_probe_reports_its_cpu(sqlite_url: str) -> None:
    figures = on_sqlite(Path(sqlite_url.removeprefix("sqlite:///")), ARGS)
    assert figures["process_cpu_ms_per_batch"] > 0


@pytest.mark.postgres
async def test_postgres_probe_reports_the_backend_and_mostly_hot_updates(
    postgres_url: str,
) -> None:
    async def truncate() -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute(f"TRUNCATE {TABLE}")
        finally:
            await conn.close()

    await truncate()
    try:
        figures = await on_postgres(postgres_url, ARGS)
    finally:
        await truncate()
    assert figures["backend_cpu_ms_per_batch"] > 0
    assert figures["wal_kb_per_batch"] > 0
    assert figures["hot_share_of_updates"] > 0.5, figures
