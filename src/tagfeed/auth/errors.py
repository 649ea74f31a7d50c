"""The two ways authentication refuses a request. The API's problem table maps them to
401 and 403; ``headers`` carries what the response must add (``WWW-Authenticate``)."""

from collections.abc import Mapping


class AuthError(Exception):
    """A refusal; ``detail`` is safe to show the client."""

    def __init__(self, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})


class NotAuthenticated(AuthError):
    """No identity could be established (401)."""


class Forbidden(AuthError):
    """The caller is known, or claims to be, but may not do this (403)."""
