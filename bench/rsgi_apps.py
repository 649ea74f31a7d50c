"""The bare peer and the floor apps on granian's RSGI interface (``granian --interface
rsgi``) instead of ASGI: the same answers as ``bench/peer.py`` and ``bench/floor.py``, with
no framework (RSGI has none to offer; the path is matched by string comparisons, as
tagfeed's plain-ASGI front does). Held against the ASGI peer in the same sweeps, they say
what the ASGI glue (scope dict, receive/send awaitables, Starlette's routing and response
objects) costs per request on this server.

``peer``: fixed bodies, as ``bench/peer.py``. ``floor``: the database work of
``bench/floor_store.py``.
"""

from collections.abc import Awaitable
from typing import Protocol
from urllib.parse import parse_qsl

import msgspec
from granian.rsgi import Scope

from bench.floor_store import decode_post, encode, from_environment, new_message
from bench.peer import _ONE, _PAGE, _encoder


class HTTPProtocol(Protocol):
    """What these apps use of granian's RSGI HTTP protocol object (``granian.rsgi`` names
    it without exporting it)."""

    def __call__(self) -> Awaitable[bytes]: ...
    def response_empty(self, status: int, headers: list[tuple[str, str]]) -> None: ...
    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None: ...


_JSON = [("content-type", "application/json")]
_ITEM = "/v1/messages/"
_LIST = "/v1/messages"


async def peer(scope: Scope, proto: HTTPProtocol) -> None:
    path = scope.path
    if path == _LIST:
        if scope.method == "GET":
            proto.response_bytes(200, _JSON, _PAGE)
        else:
            posted = msgspec.json.decode(await proto())
            proto.response_bytes(201, _JSON, _encoder.encode(posted))
    elif path.startswith(_ITEM):
        proto.response_bytes(200, _JSON, _ONE)
    else:
        proto.response_empty(200 if path == "/healthz" else 404, [])


class Floor:
    """The floor's routes; the store is opened in the worker (``__rsgi_init__``)."""

    def __init__(self) -> None:
        self.store = from_environment()

    async def __rsgi__(self, scope: Scope, proto: HTTPProtocol) -> None:
        path = scope.path
        store = self.store
        if path == _LIST:
            if scope.method == "GET":
                query = dict(parse_qsl(scope.query_string))
                body, more = store.page(query.get("tag", ""), int(query.get("limit", "50")))
                headers = [*_JSON, ("link", '</v1/messages?next>; rel="next"')] if more else _JSON
                proto.response_bytes(200, headers, body)
            else:
                posted = decode_post(await proto())
                row, message = new_message(posted, scope.headers.get("x-user-id", ""))
                await store.insert(row)
                headers = [*_JSON, ("location", f"/v1/messages/{row[0]}")]
                proto.response_bytes(201, headers, encode(message))
        elif path.startswith(_ITEM):
            one = store.get(path[len(_ITEM) :])
            if one is None:
                proto.response_bytes(404, _JSON, b'{"title":"Not Found"}')
            else:
                proto.response_bytes(200, _JSON, one)
        else:
            proto.response_empty(200 if path == "/healthz" else 404, [])


def floor() -> Floor:
    """granian's factory (``--factory``): the store opens in the worker process."""
    return Floor()
