"""The OpenAPI 3.0.3 document (3.0 rather than 3.1 so Swagger UI 4 and every Postman
version read it) of the v1 contract, built once at start-up from the code that serves it:
paths, methods, parameters and answers from the route table (``endpoints.py``), which the
app factory also builds its routes from; body and response schemas from the msgspec types
that validate and encode them (``schemas.py``); the configured limits from the Settings.
What is written here by hand is what only prose can say: the problems every operation may
meet, and the two ways of naming the caller. Importable into Postman and checked by
schemathesis.
"""

from typing import Any

import msgspec

from tagfeed import __version__
from tagfeed.api.endpoints import Endpoint, Json, Operation
from tagfeed.api.problems import PROBLEM_JSON
from tagfeed.api.schemas import Problem
from tagfeed.config import Settings

_REF = "#/components/schemas/{name}"
_REQUEST_ID = {"X-Request-ID": {"schema": {"type": "string"}, "description": "echoed or new"}}
# Either scheme, whichever TAGFEED_AUTH_MODE the server runs in.
_SECURITY: list[Json] = [{"userId": []}, {"bearerAuth": []}]
_SECURITY_SCHEMES = {
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
}
_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "schema": {"type": "string"},
        "description": 'Bearer, with error="invalid_token" and error_description when a token '
        "was sent but refused (RFC 6750)",
    }
}
_FORBIDDEN = "gateway mode: X-User-ID missing or invalid, or the peer is not a trusted proxy"


def _problem(description: str, headers: Json | None = None) -> Json:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": _REF.format(name="Problem")}}},
        "headers": {**_REQUEST_ID, **(headers or {})},
    }


def _common_refusals(operation: Operation, settings: Settings) -> dict[int, Json]:
    """The problems an operation may meet besides its own: the HTTP server's refusals
    (granian, ``server/serving.py``) on every operation, a body's timeout where there is a
    body, then authentication and the database."""
    refusals = {
        400: _problem(
            "malformed HTTP (bad request line, header or URL bytes): granian answers it with"
            " an empty body, not a problem, and closes the connection"
        ),
        431: {
            "description": f"request line and headers longer than {settings.max_header_bytes}"
            " bytes (TAGFEED_MAX_HEADER_BYTES), or more than 100 header fields: granian"
            " answers with an empty body, not a problem, and closes the connection"
        },
    }
    if operation.body is not None:
        refusals[408] = _problem(
            f"the body did not arrive within {settings.read_timeout:g} s (TAGFEED_READ_TIMEOUT)"
        )
    if operation.secured:
        refusals[401] = _problem("JWT mode: no bearer token, or an invalid one", _WWW_AUTHENTICATE)
        counting = "; either mode: counting needs the role TAGFEED_COUNT_ROLE names, when it is set"
        refusals[403] = _problem(_FORBIDDEN + (counting if operation.counting else ""))
    if operation.uses_store:
        refusals[500] = _problem("unexpected backend fault")
        refusals[503] = _problem(
            "database unreachable or timed out",
            {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
        )
    return refusals


def _operation(operation: Operation, settings: Settings, schema_of: dict[Any, Json]) -> Json:
    ok = operation.ok
    responses: dict[int, Json] = {
        ok.status: {
            "description": ok.description,
            "headers": {**_REQUEST_ID, **ok.headers},
            "content": {ok.media_type: {"schema": schema_of[ok.body]}},
        },
        **_common_refusals(operation, settings),
    }
    for status, (description, headers) in operation.refusals.items():
        responses[status] = _problem(description, headers)
    document: Json = {"operationId": operation.operation_id, "summary": operation.summary}
    if operation.secured:
        document["security"] = _SECURITY
    if operation.params:
        document["parameters"] = [
            {
                "name": param.name,
                "in": param.where,
                "required": param.where == "path",
                # An empty query parameter counts as absent (params.query_value).
                **(
                    {"description": f"{param.description}. Empty counts as absent."}
                    if param.where == "query"
                    else {"description": param.description}
                ),
                "schema": param.schema,
                **({"allowEmptyValue": True} if param.where == "query" else {}),
            }
            for param in operation.params
        ]
    if operation.body is not None:
        body: Json = {"schema": schema_of[operation.body]}
        if operation.body_example is not None:
            body["example"] = operation.body_example
        document["requestBody"] = {"required": True, "content": {"application/json": body}}
    document["responses"] = {str(status): responses[status] for status in sorted(responses)}
    return document


def build_openapi(table: tuple[Endpoint, ...], settings: Settings) -> Json:
    operations = [operation for endpoint in table for operation in endpoint.operations]
    types = list(
        dict.fromkeys(
            [
                Problem,
                *(op.ok.body for op in operations),
                *(op.body for op in operations if op.body),
            ]
        )
    )
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)
    schema_of = dict(zip(types, schemas, strict=True))
    # The one limit of a body schema that is a setting rather than a constant.
    components["NewMessage"]["properties"]["text"]["description"] = (
        f"1-{settings.max_text_length} characters after trimming (TAGFEED_MAX_TEXT_LENGTH); no NUL"
    )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "tagfeed",
            "version": __version__,
            "description": "Short tagged messages: post, list by tag and time, page, count. "
            "Every error is application/problem+json (RFC 9457). The caller is named "
            "either by an API gateway in X-User-ID (the default mode) or by a JWT in "
            "Authorization: Bearer (JWT mode); a server accepts one of the two.",
        },
        "paths": {
            endpoint.path: {
                operation.method.lower(): _operation(operation, settings, schema_of)
                for operation in endpoint.operations
            }
            for endpoint in table
        },
        "components": {"schemas": components, "securitySchemes": _SECURITY_SCHEMES},
    }
