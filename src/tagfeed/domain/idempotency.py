"""Idempotency keys: a retried POST with the same key creates nothing new.

Scoped per user. The first request's response is kept with a fingerprint of what was
asked; a retry with the same fingerprint gets that response again, a different one is
refused (IdempotencyKeyReused), and a retry while the first is still being processed is
refused too (RequestInFlight), so that it can be retried again shortly.
"""

import hashlib
import re

from tagfeed.domain.errors import DomainError, InvalidInput

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")


class IdempotencyKeyReused(DomainError):
    """The key was first used with a different request."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the {HEADER} {key!r} was already used with a different body")


class RequestInFlight(DomainError):
    """The first request with this key has not finished yet."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"a request with the {HEADER} {key!r} is still being processed; retry later"
        )


def parse_key(raw: str) -> str:
    """A key is 1-255 printable ASCII characters; raises InvalidInput naming the header."""
    if not raw:
        raise InvalidInput(HEADER, "must not be empty")
    if len(raw) > MAX_KEY_LENGTH:
        raise InvalidInput(HEADER, f"must be at most {MAX_KEY_LENGTH} characters")
    if not _PRINTABLE_ASCII.fullmatch(raw):
        raise InvalidInput(HEADER, "must be printable ASCII")
    return raw


def fingerprint(*fields: str) -> str:
    """A digest of the request's fields as sent (before normalisation), so "#Tag" and
    "tag" under one key count as different requests."""
    digest = hashlib.sha256()
    for field in fields:
        encoded = field.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "big"))  # length-prefixed: no ambiguity
        digest.update(encoded)
    return digest.hexdigest()
