"""Who is calling. In trusted-gateway mode the gateway in front sets ``X-User-ID``."""

import re

from starlette.requests import Request

from tagfeed.api.problems import ApiError

_USER_ID = re.compile(r"[A-Za-z0-9._:@|-]{1,128}")


def require_user(request: Request) -> str:
    """The caller's user id; raises ApiError 403 when X-User-ID is missing or malformed."""
    user_id = request.headers.get("x-user-id")
    if user_id is None:
        raise ApiError(403, "X-User-ID header is required")
    if not _USER_ID.fullmatch(user_id):
        raise ApiError(403, "X-User-ID must be 1-128 characters of letters, digits and . _ : @ | -")
    request.scope["tagfeed.user_id"] = user_id
    return user_id
