"""The OpenAPI 3.0.3 document (3.0 rather than 3.1 so Swagger UI 4 and
every Postman version read it) of the v1 contract, built once at start-up.

Body and response schemas come from the msgspec types that validate and encode them
(``schemas.py``); parameters and responses are declared here, next to each other, so the
whole contract reads in one place. Importable into Postman and checked by schemathesis.
"""

from typing import Any

import msgspec

from tagfeed import __version__
from tagfeed.api.params import DEFAULT_LIMIT, MAX_LIMIT
from tagfeed.api.schemas import CountsOut, MessageOut, NewMessage, Problem

Json = dict[str, Any]

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_REQUEST_ID = {"X-Request-ID": {"schema": {"type": "string"}, "description": "echoed or new"}}


def _problem(description: str, headers: Json | None = None) -> Json:
    response: Json = {"description": description, "content": _PROBLEM, "headers": _REQUEST_ID}
    if headers:
        response["headers"] = {**_REQUEST_ID, **headers}
    return response


_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
_CLOSE = {"Connection": {"schema": {"type": "string", "enum": ["close"]}}}
_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "schema": {"type": "string"},
        "description": 'Bearer, with error="invalid_token" and error_description when a token '
        "was sent but refused (RFC 6750)",
    }
}
# Either scheme, whichever TAGFEED_AUTH_MODE the server runs in.
_SECURITY: list[Json] = [{"userId": []}, {"bearerAuth": []}]
_COMMON = {
    "401": _problem("JWT mode: no bearer token, or an invalid one", _WWW_AUTHENTICATE),
    "403": _problem(
        "gateway mode: X-User-ID missing or invalid, or the peer is not a trusted proxy"
    ),
    "500": _problem("unexpected backend fault"),
    "503": _problem("database unreachable or timed out", _RETRY_AFTER),
}
# Answered by the HTTP layer before any route runs (server/protocol.py), on every operation;
# each operation that has no 400 of its own gets _MALFORMED too.
_MALFORMED = {"400": _problem("malformed HTTP (bad request line, header or URL bytes)")}
_PROTOCOL = {
    "408": _problem("the request head (or, on POST, the body) did not arrive in time"),
    "414": _problem("URL longer than the head limit"),
    "431": _problem("request line and headers longer than the head limit"),
}
_COMMON = {**_PROTOCOL, **_COMMON}
_COUNTING = {
    **_COMMON,
    "403": _problem(
        "gateway mode: X-User-ID missing or invalid, or the peer is not a trusted proxy; "
        "either mode: counting needs the role TAGFEED_COUNT_ROLE names, when it is set"
    ),
}


def _query(name: str, description: str, schema: Json) -> Json:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": f"{description}. Empty counts as absent.",
        "schema": schema,
        "allowEmptyValue": True,
    }


# The syntax parse_time_range accepts, with every field in its range; whether the day
# exists (2026-02-30) and the order of the two bounds are checked by the server (400).
_DAY_OR_INSTANT = (
    "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    "([Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]{1,9})?"
    "([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?$"
)


_FILTERS = [
    _query("tag", "only this tag (normalised like on POST)", {"type": "string"}),
    _query(
        "dateStart",
        "YYYY-MM-DD (from 00:00:00Z) or RFC 3339 instant; inclusive",
        {"type": "string", "pattern": _DAY_OR_INSTANT, "example": "2026-11-01"},
    ),
    _query(
        "dateEnd",
        "YYYY-MM-DD (through that whole day) or RFC 3339 instant (exclusive)",
        {"type": "string", "pattern": _DAY_OR_INSTANT, "example": "2026-11-30"},
    ),
]


def _status(value: str) -> Json:
    return {
        "type": "object",
        "properties": {"status": {"type": "string", "enum": [value]}},
        "required": ["status"],
    }


def _paths() -> Json:
    message = {"$ref": "#/components/schemas/MessageOut"}
    return {
        "/v1/messages": {
            "post": {
                "operationId": "postMessage",
                "summary": "Post a tagged message",
                "security": _SECURITY,
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "1-255 printable ASCII characters; a retry with the "
                        "same key within 24 h gets the first response again",
                        "schema": {"type": "string", "pattern": "^[ -~]{1,255}$"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/NewMessage"},
                            "example": {"text": "A very meaningful message", "tag": "philotimo"},
                        }
                    },
                },
                "responses": {
                    "201": {
                        "description": "stored durably",
                        "headers": {
                            **_REQUEST_ID,
                            "Location": {
                                "schema": {"type": "string"},
                                "description": "/v1/messages/{id}",
                            },
                            "Idempotent-Replayed": {
                                "schema": {"type": "string", "enum": ["true"]},
                                "description": "present when this replays an earlier answer",
                            },
                        },
                        "content": {"application/json": {"schema": message}},
                    },
                    "400": _problem("malformed JSON or an invalid field (named in detail)"),
                    "409": _problem(
                        "a request with this Idempotency-Key is still being processed",
                        {"Retry-After": {"schema": {"type": "integer"}}},
                    ),
                    "413": _problem("body larger than the limit", _CLOSE),
                    "415": _problem("Content-Type is not application/json"),
                    "422": _problem("this Idempotency-Key was used with a different body"),
                    **_COMMON,
                },
            },
            "get": {
                "operationId": "listMessages",
                "summary": "List messages newest first, or count them (count=1)",
                "security": _SECURITY,
                "parameters": [
                    *_FILTERS,
                    _query(
                        "count",
                        "1: answer with the number of matches instead",
                        {"type": "string", "enum": ["0", "1"]},
                    ),
                    _query(
                        "limit",
                        f"page size in decimal digits, default {DEFAULT_LIMIT}",
                        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                    ),
                    _query(
                        "cursor",
                        "opaque token from the previous page's Link header",
                        {"type": "string"},
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "a page of messages (Link rel=next when more match), "
                        "or a bare integer with count=1",
                        "headers": {
                            **_REQUEST_ID,
                            "Link": {
                                "schema": {"type": "string"},
                                "description": 'RFC 8288: <...&cursor=...>; rel="next"',
                            },
                        },
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"type": "array", "items": message},
                                        {"type": "integer", "minimum": 0},
                                    ]
                                }
                            }
                        },
                    },
                    "400": _problem("an invalid query parameter (named in detail)"),
                    **_COUNTING,
                },
            },
        },
        "/v1/messages/counts": {
            "get": {
                "operationId": "countMessages",
                "summary": "Count messages, in total and per minute, hour or day",
                "security": _SECURITY,
                "parameters": [
                    *_FILTERS,
                    _query(
                        "granularity",
                        "buckets per UTC period, zeros included; an open side of the period "
                        "defaults to 7 days before its end and to now",
                        {"type": "string", "enum": ["minute", "hour", "day"]},
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "the total, and buckets when granularity is given",
                        "headers": _REQUEST_ID,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/CountsOut"}
                            }
                        },
                    },
                    "400": _problem("an invalid parameter, or more than 10,000 buckets"),
                    **_COUNTING,
                },
            },
        },
        "/v1/messages/{message_id}": {
            "get": {
                "operationId": "getMessage",
                "summary": "One message by id",
                "security": _SECURITY,
                "parameters": [
                    {
                        "name": "message_id",
                        "in": "path",
                        "required": True,
                        "description": "the id from a message or a Location; opaque: "
                        "any other value is a 404, never a 400",
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "the message",
                        "headers": _REQUEST_ID,
                        "content": {"application/json": {"schema": message}},
                    },
                    **_MALFORMED,
                    "404": _problem("no message with this id"),
                    **_COMMON,
                },
            },
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "200 while the process runs",
                "responses": {
                    "200": {
                        "description": "alive",
                        "headers": _REQUEST_ID,
                        "content": {"application/json": {"schema": _status("ok")}},
                    },
                    **_MALFORMED,
                    **_PROTOCOL,
                },
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "200 when the database answers",
                "responses": {
                    "200": {
                        "description": "ready",
                        "headers": _REQUEST_ID,
                        "content": {"application/json": {"schema": _status("ready")}},
                    },
                    **_MALFORMED,
                    **_PROTOCOL,
                    "500": _problem("unexpected backend fault"),
                    "503": _problem("database unreachable", _RETRY_AFTER),
                },
            }
        },
    }


def build_openapi(server_url: str | None = None) -> Json:
    _, components = msgspec.json.schema_components(
        (NewMessage, MessageOut, CountsOut, Problem), ref_template="#/components/schemas/{name}"
    )
    document: Json = {
        "openapi": "3.0.3",
        "info": {
            "title": "tagfeed",
            "version": __version__,
            "description": "Short tagged messages: post, list by tag and time, page, count. "
            "Every error is application/problem+json (RFC 9457). The caller is named "
            "either by an API gateway in X-User-ID (the default mode) or by a JWT in "
            "Authorization: Bearer (JWT mode); a server accepts one of the two.",
        },
        "paths": _paths(),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "userId": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-User-ID",
                    "description": "gateway mode: set by the API gateway, "
                    "1-128 of [A-Za-z0-9._:@|-]; roles in X-User-Roles (comma-separated)",
                },
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "JWT mode: sub is the user id; roles in the roles claim",
                },
            },
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document
