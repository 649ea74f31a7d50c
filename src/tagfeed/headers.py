"""A request's headers as the API and the authenticators read them, from the ASGI scope
or the RSGI front's. Nothing else of tagfeed is needed to read them, so they stand below
both ``api`` and ``auth``: the authenticators take them from here, not from the API's
request and answer types (``api/exchange.py``), which would make ``auth`` depend on the
layer that uses it."""

from collections.abc import MutableMapping
from typing import Any, Protocol

# granian.rsgi's public names, which mypy takes for private (imported without `as X`)
from granian.rsgi import Headers as RsgiHeaders  # type: ignore[attr-defined]


class HasScope(Protocol):
    """What header lookups need: a Call, or a Starlette Request."""

    scope: MutableMapping[str, Any]


# A scope's headers are ASGI's list of (lower-case name, value) bytes, or, for a request
# the RSGI front serves straight from the table (``rsgi_front.py``), granian's own
# mapping (lower-case ``str`` names and values; hyper leaves out a value that is not
# visible ASCII, so such a header is absent there).


def header_values(scope: MutableMapping[str, Any], name: bytes) -> list[str]:
    """Every value of header ``name`` (lower case, as ASGI gives names), in order."""
    headers = scope["headers"]
    if type(headers) is RsgiHeaders:
        # get_all is granian's (RSGI 1.6), missing from its type stub
        return list(headers.get_all(name.decode("latin-1")))  # type: ignore[attr-defined]
    return [value.decode("latin-1") for key, value in headers if key == name]


def first_header(scope: MutableMapping[str, Any], name: bytes) -> str | None:
    """The first value of header ``name``, None when absent (as Starlette's
    ``headers.get``)."""
    headers = scope["headers"]
    if type(headers) is RsgiHeaders:
        value = headers.get(name.decode("latin-1"))
        return None if value is None else str(value)
    for key, value in headers:
        if key == name:
            return str(value.decode("latin-1"))
    return None
