"""Interactive API docs at /docs: Swagger UI served from the swagger-ui-bundle package,
so the page works without reaching any CDN."""

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tagfeed API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
</body></html>"""


async def docs_page(request: Request) -> HTMLResponse:
    return HTMLResponse(_PAGE)


def docs_static() -> StaticFiles:
    return StaticFiles(directory=str(swagger_ui_path))
