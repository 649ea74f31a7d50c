"""The app factory: everything is built from one Settings object; nothing connects at
import. The store opens in the lifespan and closes (draining queued writes) on shutdown."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from tagfeed.api import routes
from tagfeed.api.context import RequestContext
from tagfeed.api.docs import docs_page, docs_static
from tagfeed.api.logs import configure_logging
from tagfeed.api.openapi import build_openapi
from tagfeed.api.problems import make_handlers
from tagfeed.api.schemas import encoder
from tagfeed.config import Settings, load_settings
from tagfeed.service.messages import MessageService
from tagfeed.store.factory import store_from_settings
from tagfeed.store.port import Store

log = structlog.get_logger("tagfeed")


def create_app(settings: Settings, store: Store | None = None) -> ASGIApp:
    """Build the ASGI app. ``store`` defaults to the one ``settings.database_url`` names;
    tests pass their own. Migrations are not run here (see ``tagfeed.cli``)."""
    configure_logging(settings.log_level)
    chosen_store = store if store is not None else store_from_settings(settings)
    openapi_body = encoder.encode(build_openapi())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await chosen_store.open()
        log.info("started", backend=settings.database_url.partition(":")[0])
        try:
            yield
        finally:
            await chosen_store.close()  # waits for queued writes to commit
            log.info("stopped")

    async def openapi(request: Request) -> Response:
        return Response(openapi_body, media_type="application/json")

    app = Starlette(
        routes=[
            Route("/v1/messages", routes.messages, methods=["GET", "POST"]),
            Route("/v1/messages/counts", routes.count_messages, methods=["GET"]),
            Route("/v1/messages/{message_id}", routes.get_message, methods=["GET"]),
            Route("/healthz", routes.healthz, methods=["GET"]),
            Route("/readyz", routes.readyz, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/docs", docs_page, methods=["GET"]),
            Mount("/docs/static", docs_static()),
        ],
        exception_handlers=make_handlers(settings.retry_after_seconds),  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service = MessageService(chosen_store, max_text_length=settings.max_text_length)
    return RequestContext(app)


def app_from_environment() -> Any:
    """Factory for ``uvicorn --factory``: settings from the TAGFEED_* environment."""
    return create_app(load_settings())
