"""The app factory: everything is built from one Settings object; nothing connects at
import. The store opens in the lifespan and closes (draining queued writes) on shutdown."""

import asyncio
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from tagfeed.api.docs import docs_page, docs_static
from tagfeed.api.endpoints import endpoints
from tagfeed.api.exchange import served
from tagfeed.api.front import Front
from tagfeed.api.metrics_route import metrics_route, metrics_source
from tagfeed.api.openapi import build_openapi
from tagfeed.api.parts import AppParts
from tagfeed.api.problems import make_handlers
from tagfeed.api.rsgi_front import RsgiFront
from tagfeed.api.schemas import encoder
from tagfeed.api.streams import sse_frame
from tagfeed.auth.identity import Authenticator, GatewayAuthenticator
from tagfeed.auth.jwt_auth import JwtAuthenticator
from tagfeed.config import Settings, settings_for_this_process
from tagfeed.metrics import METRICS
from tagfeed.page import page_routes
from tagfeed.server.logs import configure_logging, flush_logs
from tagfeed.server.metrics_share import DIR_VARIABLE
from tagfeed.server.runtime import stop_with_parent, tune_for_serving
from tagfeed.server.shutdown import on_shutdown_signal
from tagfeed.service.messages import MessageService
from tagfeed.service.reducing import CATCH_UP, keep_running
from tagfeed.service.streams import StreamHub
from tagfeed.service.trends import TrendService
from tagfeed.store.diagnosis import explain
from tagfeed.store.errors import StoreError
from tagfeed.store.factory import store_from_settings
from tagfeed.store.port import Store

log = structlog.get_logger("tagfeed")

# How often a server that could not read the log's head at the start tries again.
HEAD_RETRY_SECONDS = 1.0


async def purge_expired_keys(service: MessageService, interval: float) -> None:
    """Every ``interval`` seconds (jittered, so several processes spread out), delete
    expired idempotency keys in small batches. Failures are logged and retried later."""
    while True:
        await asyncio.sleep(interval * random.uniform(0.5, 1.5))  # noqa: S311
        try:
            purged = await service.purge_expired_keys()
        except Exception as exc:  # a purge must never stop the service
            log.warning("purge_failed", error=repr(exc))
        else:
            if purged:
                log.info("purged_idempotency_keys", count=purged)


async def _check_database(store: Store, settings: Settings) -> bool:
    """Say at once, with the reason, when the database cannot be used (``serve
    --no-migrate`` skips the migration that would have found out), and return False.
    Serving goes on: the requests answer 503 and the service recovers by itself once the
    database is back. ``started`` is logged by the command once the port listens
    (``tagfeed.cli``).

    Also reads the log's head: a read's ``Tagfeed-Position`` is the head this process
    knows, and until something read it that was only what the catch-up reducers had
    reached (seen: 24,000 of 1,000,000 right after a start) — true as a lower bound,
    but no use to a client comparing positions."""
    try:
        await store.ping()
        await store.head()
    except StoreError as exc:
        log.error("database_unusable", detail=str(explain(settings.database, exc)))
        return False
    return True


async def _learn_head(store: Store, every: float = HEAD_RETRY_SECONDS) -> None:
    """Read the head once the database answers (it did not at the start)."""
    while True:
        await asyncio.sleep(every)
        try:
            await store.head()
        except StoreError:
            continue
        return


def authenticator_for(settings: Settings) -> Authenticator:
    """The one way this app learns who calls (``TAGFEED_AUTH_MODE``)."""
    if settings.auth_mode == "jwt":
        return JwtAuthenticator(
            settings.jwt_keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway_seconds=settings.jwt_leeway_seconds,
        )
    return GatewayAuthenticator(settings.trusted_proxies)


def create_app(
    settings: Settings,
    store: Store | None = None,
    metrics_dir: Path | None = None,
    *,
    serving: bool = False,
) -> ASGIApp:
    """Build the ASGI app. ``store`` defaults to the one ``settings.database_url`` names;
    tests pass their own. ``metrics_dir`` is the directory ``tagfeed serve`` shares among
    its processes for ``/metrics`` (``server/metrics_share.py``). ``serving``: run by a
    server whose shutdown signal should end the live streams at once. Migrations are not
    run here (see ``tagfeed.cli``)."""
    configure_logging(settings.log_level)
    chosen_store = store if store is not None else store_from_settings(settings)
    metrics = METRICS if settings.metrics else None  # off: nothing recorded
    table = endpoints(settings)
    openapi_body = encoder.encode(build_openapi(table, settings))
    scrape, snapshots = metrics_source(METRICS, metrics_dir if settings.metrics else None)
    service = MessageService(
        chosen_store,
        max_text_length=settings.max_text_length,
        key_ttl=timedelta(hours=settings.idempotency_key_ttl_hours),
    )
    streams = StreamHub(
        chosen_store,
        sse_frame,
        max_streams=settings.stream_max_clients,
        capacity=settings.stream_queue_events,
        metrics=metrics,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await chosen_store.open()
        restore_signals = on_shutdown_signal(streams.end_streams) if serving else None
        usable = await _check_database(chosen_store, settings)
        background = [
            asyncio.create_task(
                purge_expired_keys(service, settings.idempotency_purge_interval_seconds)
            )
        ]
        if not usable:
            background.append(asyncio.create_task(_learn_head(chosen_store)))
        if snapshots is not None:
            background.append(asyncio.create_task(snapshots.publish()))
        if settings.run_reducers:
            background += [
                asyncio.create_task(
                    keep_running(
                        chosen_store,
                        reducer,
                        every=settings.reducer_lease_seconds / 3,
                        metrics=metrics,
                    )
                )
                for reducer in CATCH_UP.values()
            ]
        try:
            yield
        finally:
            await streams.close()
            if restore_signals is not None:
                restore_signals()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await chosen_store.close()  # waits for queued writes to commit
            if snapshots is not None:
                snapshots.write()  # this process's last word, whatever the interval
            log.info("stopped")
            flush_logs()

    async def openapi(request: Request) -> Response:
        return Response(openapi_body, media_type="application/json")

    parts = AppParts(
        settings=settings,
        service=service,
        trends=TrendService(chosen_store),
        streams=streams,
        authenticator=authenticator_for(settings),
    )
    app = Starlette(
        routes=[
            # One route per path, so a 405 lists every allowed method in Allow. The front
            # calls these handlers itself for the methods given; Starlette, for the rest.
            *(Route(e.path, served(e.handler, parts), methods=e.methods) for e in table),
            # The document and its viewer, outside the document they serve.
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/docs", docs_page, methods=["GET"]),
            Mount("/docs/static", docs_static()),
            *page_routes(settings),
            *([metrics_route(scrape)] if settings.metrics and not settings.metrics_port else []),
        ],
        exception_handlers=make_handlers(settings.retry_after_seconds),  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    # No 307 from /v1/messages/ to /v1/messages: its Location would be built from the
    # client's Host header. An unknown path, trailing slash or not, is a 404 problem.
    app.router.redirect_slashes = False
    return Front(
        app,
        table,
        parts,
        metrics,
        # Below info the access log drops every line: then not even its fields are made.
        log_requests=settings.log_level in ("debug", "info"),
        retry_after=settings.retry_after_seconds,
    )


def app_from_environment() -> Any:
    """Factory for granian (``tagfeed serve``, ``server/serving.py``), called once in each
    worker process: the settings of this process (read once, ``config.py``), and the
    interpreter tuned for serving (``runtime.py``), which ends with granian's main process
    (``runtime.stop_with_parent``). The ASGI front itself, or, with
    ``TAGFEED_SERVER_INTERFACE=rsgi``, the RSGI front around it (``rsgi_front.py``): the
    default interface pays no extra hop for the other one."""
    stop_with_parent()
    settings = settings_for_this_process()
    shared = os.environ.get(DIR_VARIABLE)
    front = create_app(settings, metrics_dir=Path(shared) if shared else None, serving=True)
    assert isinstance(front, Front)
    app: Front | RsgiFront = RsgiFront(front) if settings.server_interface == "rsgi" else front
    tune_for_serving()
    return app
