"""The service recovers by itself once its database is back: no restart needed."""

import asyncio
import secrets
from pathlib import Path

import asyncpg
import httpx
import pytest

from tagfeed.api.app import create_app
from tagfeed.config import Settings
from tagfeed.store.factory import store_from_settings
from tagfeed.store.migrate import upgrade
from tests.conftest import POSTGRES_URL


async def statuses(settings: Settings, before_recovery: object) -> tuple[int, int]:
    store = store_from_settings(settings)
    await store.open()
    app = create_app(settings, store)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers={"X-User-ID": "1"}
        ) as client:
            body = {"text": "hello", "tag": "x"}
            down = (await client.post("/v1/messages", json=body)).status_code
            await asyncio.to_thread(before_recovery)  # type: ignore[arg-type]
            up = (await client.post("/v1/messages", json=body)).status_code
    finally:
        await store.close()
    return down, up


async def test_sqlite_recovers_when_its_directory_appears(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'later' / 'tagfeed.db'}"
    settings = Settings(database_url=url, db_timeout=1.0)

    def appear() -> None:  # tagfeed creates no folder (a typo would start an empty database)
        (tmp_path / "later").mkdir()
        upgrade(url)

    assert await statuses(settings, appear) == (503, 201)


@pytest.mark.postgres
async def test_postgres_recovers_when_its_database_appears(postgres_url: str) -> None:
    name = f"tagfeed_later_{secrets.token_hex(4)}"
    url = postgres_url.rpartition("/")[0] + f"/{name}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def create() -> None:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        upgrade(url)

    try:
        settings = Settings(database_url=url, db_timeout=1.0)
        assert await statuses(settings, create) == (503, 201)
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
