"""The OpenAPI document is generated from the code that serves it; these tests fail when
the two part: a route without its description or the reverse, a limit or a syntax that
the document states differently from the code that enforces it."""

import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from tagfeed.api.app import create_app
from tagfeed.api.endpoints import endpoints
from tagfeed.api.openapi import build_openapi
from tagfeed.api.params import MAX_LIMIT
from tagfeed.config import Settings
from tagfeed.domain.counting import MAX_BUCKETS, Granularity
from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.timerange import DAY_OR_INSTANT_PATTERN, parse_time_range
from tagfeed.page import page_routes
from tagfeed.store.memory import MemoryStore

# Routes that serve the document and its viewer, not the API it describes.
# /metrics is for Prometheus, not for API clients (docs/metrics.md).
NOT_IN_THE_DOCUMENT = {"/openapi.json", "/docs", "/docs/static", "/metrics"}


def document(**settings: Any) -> dict[str, Any]:
    configured = Settings(database_url="sqlite:///unused.db", **settings)
    return build_openapi(endpoints(configured), configured)


def test_every_route_of_the_app_is_in_the_document_and_the_reverse() -> None:
    settings = Settings(database_url="sqlite:///unused.db")
    app = create_app(settings, store=MemoryStore())
    # The web page and its assets are for people, not part of the API the document describes.
    page = {route.path for route in page_routes(settings) if isinstance(route, Route | Mount)}
    starlette = app.app  # type: ignore[attr-defined]
    assert isinstance(starlette, Starlette)
    served: dict[str, set[str]] = {}
    for route in starlette.routes:
        if isinstance(route, Route) and route.path not in NOT_IN_THE_DOCUMENT | page:
            served[route.path] = {m.lower() for m in route.methods or ()} - {"head"}
        else:
            assert isinstance(route, Route | Mount)
            assert route.path in NOT_IN_THE_DOCUMENT | page, route.path
    described = {path: set(item) for path, item in document()["paths"].items()}
    assert served == described


def test_the_configured_limits_are_the_documented_ones() -> None:
    doc = document(
        max_text_length=123,
        idempotency_key_ttl_hours=7,
        max_body_bytes=5000,
        read_timeout=3.5,
        max_header_bytes=9000,
    )
    text = doc["components"]["schemas"]["NewMessage"]["properties"]["text"]
    assert "1-123 characters" in text["description"]
    post = doc["paths"]["/v1/messages"]["post"]
    assert "within 7 h" in post["parameters"][0]["description"]
    assert "5000 bytes" in post["responses"]["413"]["description"]
    assert "3.5 s" in post["responses"]["408"]["description"]
    assert "9000 bytes" in post["responses"]["431"]["description"]


def test_the_limits_fixed_in_code_are_the_documented_ones() -> None:
    paths = document()["paths"]
    counts = paths["/v1/messages/counts"]["get"]
    assert f"{MAX_BUCKETS:,} buckets" in counts["responses"]["400"]["description"]
    params = {p["name"]: p for p in counts["parameters"]}
    assert params["granularity"]["schema"]["enum"] == [g.value for g in Granularity]
    assert params["dateStart"]["schema"]["pattern"] == DAY_OR_INSTANT_PATTERN
    limit = {p["name"]: p for p in paths["/v1/messages"]["get"]["parameters"]}["limit"]
    assert limit["schema"]["maximum"] == MAX_LIMIT


@given(st.from_regex(re.compile(DAY_OR_INSTANT_PATTERN), fullmatch=True))
def test_what_the_documented_pattern_allows_the_parser_reads(raw: str) -> None:
    # The calendar alone may still refuse it (2026-02-30, year 0): never the syntax.
    refusal = ""
    try:
        parse_time_range(raw, None)
    except InvalidInput as refused:
        refusal = refused.detail
    assert refusal == "" or refusal.startswith("is not a valid"), refusal
