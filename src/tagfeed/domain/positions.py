"""Log positions as clients send them back: ``Last-Event-ID`` or ``?after=`` to resume a
stream, ``Tagfeed-Min-Position`` to read at least one's own write (docs/api.md).

A position is a non-negative integer in ASCII decimal digits (leading zeros allowed, no
sign, no spaces), at most the largest 64-bit signed integer, which is what both
databases number the log with: a larger one could never be reached.
"""

from tagfeed.domain.errors import InvalidInput

MAX_POSITION = 2**63 - 1


def parse_position(name: str, raw: str) -> int:
    """The position ``raw`` holds; raises InvalidInput naming ``name`` otherwise."""
    if raw.isascii() and raw.isdigit() and len(raw) <= 25:
        position = int(raw)
        if position <= MAX_POSITION:
            return position
    shown = raw if len(raw) <= 40 else raw[:40] + "..."
    raise InvalidInput(
        name, f"must be a log position: an integer from 0 to {MAX_POSITION}, got {shown!r}"
    )
