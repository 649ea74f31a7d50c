"""Routes of the page: ``GET /`` (the HTML, rendered once per app from settings) and its
assets under ``/page/<version>/``.

The version is a digest of the asset files, so an asset URL names exactly one content and
may be cached for a year; the HTML itself is revalidated on every load. The page learns the
server's authentication mode from ``<meta>`` elements filled in here (docs/page.md), never
by guessing from a failed request.
"""

import hashlib
from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tagfeed.config import Settings

HERE = Path(__file__).parent
ASSETS = HERE / "static"
TEMPLATE = HERE / "index.html"

# Everything comes from this origin; no inline script or style, no plugins, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
ASSET_HEADERS = [
    (b"cache-control", b"public, max-age=31536000, immutable"),
    (b"x-content-type-options", b"nosniff"),
]


def asset_version(directory: Path = ASSETS) -> str:
    """12 hex digits that change whenever any asset's name or content changes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def render_page(settings: Settings, version: str) -> bytes:
    """The HTML with the settings the page needs: the auth mode, the text limit and the
    versioned asset prefix."""
    values = {
        "{{auth_mode}}": settings.auth_mode,
        "{{max_text_length}}": str(settings.max_text_length),
        "{{assets}}": f"/page/{version}",
    }
    html = TEMPLATE.read_text(encoding="utf-8")
    for placeholder, value in values.items():
        html = html.replace(placeholder, escape(value))
    return html.encode("utf-8")


class ImmutableAssets:
    """Adds long-lived caching headers to the responses of the wrapped static app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                message["headers"] = [*message.get("headers", ()), *ASSET_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def page_routes(settings: Settings) -> list[BaseRoute]:
    """``/`` and ``/page/<version>/...``; reads the template and assets once, here."""
    version = asset_version()
    body = render_page(settings, version)

    async def index(request: Request) -> Response:
        return Response(body, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    assets = ImmutableAssets(StaticFiles(directory=ASSETS))
    return [Route("/", index, methods=["GET"]), Mount(f"/page/{version}", assets)]
