"""The floor apps' ASGI form: the bare peer (``bench/peer.py``: Starlette on the same
granian) plus the database work each hot route cannot do without
(``bench/floor_store.py``), and nothing of tagfeed's code. Held beside tagfeed and the
peer in the same sweeps, it splits tagfeed's distance to the peer into "the database work
any design must do" (peer -> floor) and "tagfeed's own code" (floor -> tagfeed).
"""

from starlette.requests import Request
from starlette.responses import Response

from bench.floor_store import decode_post, encode, from_environment, new_message
from bench.peer import app_of

_JSON = "application/json"
store = from_environment()


async def one(request: Request) -> Response:
    body = store.get(request.path_params["message_id"])
    if body is None:
        return Response(b'{"title":"Not Found"}', 404, media_type=_JSON)
    return Response(body, media_type=_JSON)


async def page_or_post(request: Request) -> Response:
    if request.method == "GET":
        query = request.query_params
        tag = query.get("tag", "")
        limit = int(query.get("limit", "50"))
        body, more = store.page(tag, limit)
        headers = {"link": '</v1/messages?next>; rel="next"'} if more else None
        return Response(body, headers=headers, media_type=_JSON)
    posted = decode_post(await request.body())
    row, message = new_message(posted, request.headers.get("x-user-id", ""))
    await store.insert(row)
    location = {"location": f"/v1/messages/{row[0]}"}
    return Response(encode(message), 201, headers=location, media_type=_JSON)


app = app_of(one, page_or_post)
