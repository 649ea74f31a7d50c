"""Subjects: ``<prefix>.<tag>``, one subject per tag, so a consumer can filter on a tag
(``tagfeed.messages.philotimo``) or take them all (``tagfeed.messages.>``).

A normalised tag holds letters, digits, ``_`` and ``-`` (``domain/tags.py``): never the
characters NATS gives a meaning to (``.``, ``*``, ``>``, whitespace). Letters beyond ASCII
are allowed by NATS but not recommended (clients and tools differ in how they match
them), so they are percent-encoded as UTF-8: ``café`` -> ``caf%C3%A9``. ``%`` never occurs
in a tag, so the mapping is one to one and ``unquote`` reverses it.
"""

from functools import lru_cache
from urllib.parse import quote


@lru_cache(maxsize=16_384)
def subject_token(tag: str) -> str:
    """The subject token of a normalised tag: ASCII, without ``.``, ``*``, ``>``."""
    return quote(tag, safe="")


def subject_for(prefix: str, tag: str) -> str:
    return f"{prefix}.{subject_token(tag)}"
