"""User ids: opaque strings an API gateway vouches for (numbers, UUIDs, JWT subjects)."""

import re

from tagfeed.domain.errors import InvalidInput

MAX_USER_ID_LENGTH = 128

USER_ID = re.compile(r"[A-Za-z0-9._:@|-]{1,128}")
USER_ID_RULE = "1-128 characters of letters, digits and . _ : @ | -"


def validate_user_id(raw: str) -> str:
    """Return ``raw`` unchanged when it is 1-128 characters of ``[A-Za-z0-9._:@|-]``, the
    rule ``X-User-ID`` obeys; raise InvalidInput (field ``user_id``) otherwise."""
    if USER_ID.fullmatch(raw) is None:
        if not raw:
            raise InvalidInput("user_id", "must not be empty")
        if len(raw) > MAX_USER_ID_LENGTH:
            raise InvalidInput(
                "user_id", f"must be at most {MAX_USER_ID_LENGTH} characters, got {len(raw)}"
            )
        raise InvalidInput("user_id", "may hold only letters, digits and . _ : @ | -")
    return raw
