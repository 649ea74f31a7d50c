"""The bare peer: a Starlette app on the same server as tagfeed (granian, as ``tagfeed
serve`` runs it) that does nothing but the HTTP round trip, so ``make bench`` can say what
tagfeed's own work costs on top of it.

It answers the request files of the tagfeed scenarios: GET ``/v1/messages/{id}`` with one
fixed message, GET ``/v1/messages?...`` with a fixed list of 50 (a tag page's size in the
bench), and POST ``/v1/messages`` by decoding the JSON body and encoding it back in a 201.
No database, no validation, no identity, no log line: a floor for every scenario, not a
competitor.
"""

from collections.abc import Awaitable, Callable

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PAGE_SIZE = 50
_MESSAGE = {
    "id": "019ac5a2-7b1e-7cc0-9f6a-2b1d4c3e5f60",
    "text": "alpha bravo charlie delta #1",
    "tag": "tag00001",
    "user_id": "u0001",
    "created_at": "2026-11-28T12:00:00.000000Z",
}
_encoder = msgspec.json.Encoder()
_ONE = _encoder.encode(_MESSAGE)
_PAGE = _encoder.encode([_MESSAGE] * PAGE_SIZE)
_JSON = "application/json"


async def one(request: Request) -> Response:
    return Response(_ONE, media_type=_JSON)


async def page_or_post(request: Request) -> Response:
    if request.method == "GET":
        return Response(_PAGE, media_type=_JSON)
    posted = msgspec.json.decode(await request.body())
    return Response(_encoder.encode(posted), 201, media_type=_JSON)


async def healthz(request: Request) -> Response:
    return Response(b"", 200)


Handler = Callable[[Request], Awaitable[Response]]


def app_of(one: Handler, page_or_post: Handler) -> Starlette:
    """The routes of the bench's requests (also the floor's, ``bench/floor.py``)."""
    return Starlette(
        routes=[
            Route("/v1/messages", page_or_post, methods=["GET", "POST"]),
            Route("/v1/messages/{message_id}", one, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


app = app_of(one, page_or_post)
