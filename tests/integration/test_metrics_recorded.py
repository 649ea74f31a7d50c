"""The storage, stream and reducer metrics, recorded where docs/metrics.md says, on each
backend: each test gives its store, hub or reducer a registry of its own (``Metrics()``)
and reads exact values from it."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from tagfeed.api.app import create_app
from tagfeed.api.streams import sse_frame
from tagfeed.config import Settings
from tagfeed.metrics import METRICS, Metrics
from tagfeed.service.reducing import CATCH_UP, run
from tagfeed.service.streams import StreamHub
from tagfeed.store.errors import StoreUnavailable
from tagfeed.store.factory import store_from_settings
from tagfeed.store.port import Store
from tagfeed.store.postgres import PostgresStore
from tagfeed.store.sqlite import SQLiteStore

USER = {"X-User-ID": "1"}


def store_for(settings: Settings, metrics: Metrics) -> Store:
    if settings.database.backend == "sqlite":
        return SQLiteStore(settings.database_url, timeout=settings.db_timeout, metrics=metrics)
    return PostgresStore(
        settings.database_url,
        timeout=settings.db_timeout,
        pool_size=settings.db_pool_size,
        metrics=metrics,
    )


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


@pytest.fixture
async def metered(settings: Settings) -> AsyncIterator[tuple[Store, Metrics]]:
    metrics = Metrics()
    store = store_for(settings, metrics)
    await store.open()
    yield store, metrics
    await store.close()


@pytest.fixture
async def http(
    settings: Settings, metered: tuple[Store, Metrics]
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(settings, metered[0]))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://tagfeed.test", headers=USER
    ) as client:
        yield client


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


async def test_posts_and_reads_are_timed_by_operation_and_batched(
    settings: Settings, metered: tuple[Store, Metrics], http: httpx.AsyncClient
) -> None:
    store, metrics = metered
    calls = "tagfeed_db_call_duration_seconds_count"
    posted = await asyncio.gather(
        *(http.post("/v1/messages", json={"text": f"m{i}", "tag": "t"}) for i in range(7))
    )
    assert [response.status_code for response in posted] == [201] * 7
    assert (await http.get(posted[0].headers["location"])).status_code == 200
    assert (await http.get("/v1/messages", params={"tag": "t"})).status_code == 200
    assert value(metrics, calls, op="apply") == 7  # once per unit of work, not per batch
    assert value(metrics, calls, op="get") == 1
    assert value(metrics, calls, op="page") == 1
    assert value(metrics, "tagfeed_db_call_errors_total", op="apply") == 0
    # Every unit went through the group commit, in one batch or several.
    assert value(metrics, "tagfeed_writer_batch_size_sum") == 7
    assert 1 <= value(metrics, "tagfeed_writer_batch_size_count") <= 7
    if isinstance(store, PostgresStore):
        assert value(metrics, "tagfeed_postgres_pool_size") == settings.db_pool_size
        assert value(metrics, "tagfeed_postgres_pool_in_use") == 0  # every one returned
        async with store._connection():  # read when scraped: one lent out now
            assert value(metrics, "tagfeed_postgres_pool_in_use") == 1
        assert value(metrics, calls, op="ping") == 0
        await asyncio.gather(*(store.ping() for _ in range(3)))
        assert value(metrics, calls, op="ping") == 3


async def test_a_failed_call_counts_as_an_error_of_its_operation(settings: Settings) -> None:
    metrics = Metrics()
    store = store_for(settings, metrics)  # never opened: every call is StoreUnavailable
    for _ in range(2):
        with pytest.raises(StoreUnavailable):
            await store.get(str(uuid.uuid4()))
    with pytest.raises(StoreUnavailable):
        await store.head()
    assert value(metrics, "tagfeed_db_call_errors_total", op="get") == 2
    assert value(metrics, "tagfeed_db_call_duration_seconds_count", op="get") == 2
    assert value(metrics, "tagfeed_db_call_errors_total", op="head") == 1


async def test_with_metrics_off_the_store_records_nothing(settings: Settings) -> None:
    off = settings.model_copy(update={"metrics": False})
    store = store_from_settings(off)
    await store.open()
    before = METRICS.registry.get_sample_value(
        "tagfeed_db_call_duration_seconds_count", {"op": "apply"}
    )
    try:
        transport = httpx.ASGITransport(app=create_app(off, store))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://tagfeed.test", headers=USER
        ) as client:
            created = await client.post("/v1/messages", json={"text": "off", "tag": "t"})
            assert created.status_code == 201
    finally:
        await store.close()
    after = METRICS.registry.get_sample_value(
        "tagfeed_db_call_duration_seconds_count", {"op": "apply"}
    )
    assert after == before


async def test_the_catch_up_reducers_report_reaching_the_head(
    metered: tuple[Store, Metrics], http: httpx.AsyncClient
) -> None:
    store, metrics = metered
    runners = [
        asyncio.create_task(run(store, reducer, idle=0.2, metrics=metrics))
        for reducer in CATCH_UP.values()
    ]
    try:

        async def idle_reported() -> bool:  # nothing to fold yet: lag 0, not absent
            return all(
                metrics.registry.get_sample_value("tagfeed_reducer_lag_events", {"reducer": n}) == 0
                for n in CATCH_UP
            )

        await eventually(idle_reported)
        for i in range(5):
            created = await http.post("/v1/messages", json={"text": f"r{i}", "tag": f"t{i % 2}"})
            assert created.status_code == 201
        head = int(created.headers["tagfeed-position"])

        async def at_head() -> bool:
            return all(
                value(metrics, "tagfeed_reducer_position", reducer=name) == head
                for name in CATCH_UP
            )

        await eventually(at_head)
        for name in CATCH_UP:
            assert value(metrics, "tagfeed_reducer_head", reducer=name) == head
            assert value(metrics, "tagfeed_reducer_lag_events", reducer=name) == 0
    finally:
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)
    assert all(runner.cancelled() for runner in runners)  # they ran until stopped


async def test_open_streams_are_counted_while_they_are_open(
    metered: tuple[Store, Metrics],
) -> None:
    store, metrics = metered
    hub = StreamHub(store, sse_frame, max_streams=10, capacity=10, metrics=metrics)
    try:
        first = await hub.subscribe(None, None)
        second = await hub.subscribe("t", None)
        assert value(metrics, "tagfeed_streams_open") == 2
        first.close()
        first.close()  # twice: still counted once
        assert value(metrics, "tagfeed_streams_open") == 1
        second.close()
        assert value(metrics, "tagfeed_streams_open") == 0
    finally:
        await hub.close()
