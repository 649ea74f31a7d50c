"""Tag normalisation: every comparison of tags uses the normalised form."""

import re
import unicodedata
from functools import lru_cache

from tagfeed.domain.errors import InvalidInput

MAX_TAG_LENGTH = 64

_INNER_WHITESPACE = re.compile(r"\s+")
# Letters (with their combining marks, so tags in Devanagari or Thai survive), decimal
# digits, "_" and "-". Checked per character by Unicode category rather than with \w,
# which would reject combining marks and accept other numerics.
_ALLOWED_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd"})


# Every request with a tag and every imported line normalise one; the same few thousand
# tags come back again and again, and NFKC with case folding is the dearest check of a
# line. A tag that fails is not cached (lru_cache keeps no exceptions).
@lru_cache(maxsize=16_384)
def normalise_tag(raw: str) -> str:
    """Return the canonical form of ``raw``: NFKC, one leading ``#`` dropped, trimmed,
    case-folded, inner whitespace runs turned into ``-``.

    Raises InvalidInput (field ``tag``) unless the result is 1-64 letters, digits, ``_``, ``-``.
    Idempotent: a normalised tag normalises to itself.
    """
    tag = unicodedata.normalize("NFKC", raw).strip()
    if tag.startswith("#"):
        tag = tag[1:].strip()
    # Case folding can leave a string that is no longer NFKC (and vice versa), so fold
    # and normalise together until neither changes anything; two rounds suffice in practice.
    for _ in range(3):
        folded = unicodedata.normalize("NFKC", tag.casefold())
        if folded == tag:
            break
        tag = folded
    tag = _INNER_WHITESPACE.sub("-", tag)
    if not tag:
        raise InvalidInput("tag", "must not be empty")
    if len(tag) > MAX_TAG_LENGTH:
        raise InvalidInput("tag", f"must be at most {MAX_TAG_LENGTH} characters once normalised")
    for char in tag:
        if char not in "_-" and unicodedata.category(char) not in _ALLOWED_CATEGORIES:
            rule = "may hold only letters, digits, '_' and '-'"
            if char in raw:
                raise InvalidInput("tag", f"{rule}; found {char!r}")
            # NFKC made it ('½' is '1', FRACTION SLASH, '2'): say what was sent.
            raise InvalidInput(
                "tag", f"{rule}; {raw!r} normalises (NFKC) to {tag!r}, which holds {char!r}"
            )
    return tag
