"""The page's routes in-process: the HTML carries the settings it needs and a strict
CSP; assets are versioned by content and cached for good."""

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from tagfeed.config import Settings
from tagfeed.page.routes import CONTENT_SECURITY_POLICY, asset_version, page_routes


def client_for(settings: Settings) -> httpx.AsyncClient:
    app = Starlette(routes=page_routes(settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://page.test")


@pytest.mark.parametrize("mode", ["gateway", "jwt"])
async def test_the_page_names_the_auth_mode_and_text_limit(mode: str) -> None:
    extra = {"jwt_secret": "s" * 32} if mode == "jwt" else {}
    settings = Settings(auth_mode=mode, max_text_length=140, **extra)  # type: ignore[arg-type]
    async with client_for(settings) as http:
        response = await http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert f'<meta name="tagfeed-auth-mode" content="{mode}">' in response.text
    assert '<meta name="tagfeed-max-text-length" content="140">' in response.text
    assert "{{" not in response.text


async def test_the_page_has_a_strict_csp_and_no_inline_script() -> None:
    async with client_for(Settings()) as http:
        response = await http.get("/")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    # Every <script> has a src: the CSP would block an inline one anyway.
    assert response.text.count("<script") == response.text.count('<script type="module" src=')


async def test_assets_are_served_under_their_version_and_cached_for_good() -> None:
    version = asset_version()
    async with client_for(Settings()) as http:
        page = await http.get("/")
        script = await http.get(f"/page/{version}/app.js")
        stale = await http.get("/page/000000000000/app.js")
    assert f'src="/page/{version}/app.js"' in page.text
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert stale.status_code == 404


def test_the_version_follows_the_content(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text("one")
    first = asset_version(tmp_path)
    (tmp_path / "a.js").write_text("two")
    assert asset_version(tmp_path) != first
    assert len(first) == 12
