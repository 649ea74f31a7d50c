"""Reading the JSON body of POST /v1/messages strictly, so that every hostile body is a
400 naming ``body`` or the field, never a 500 (docs/reliability.md, "Hostile input").

- Not UTF-8, not JSON (``NaN``, ``Infinity``, trailing bytes, a BOM), not an object, or a
  field of the wrong type: 400.
- Nesting deeper than the interpreter's recursion limit (about 1,000 levels; the body
  limit allows ~64,000): 400. msgspec raises RecursionError for it, even inside fields
  it would otherwise skip.
- A member name repeated in any object: 400. RFC 8259 leaves duplicates undefined and
  parsers disagree (msgspec keeps the last, others the first), so a gateway or filter in
  front could read a different ``text`` from the one we store; RFC 7493 (I-JSON) forbids
  them. The check costs a second, stdlib parse (~10 us for a typical body), made only
  after msgspec has accepted the body.
"""

import json
from typing import Any

import msgspec

from tagfeed.api.problems import field_of_decode_error
from tagfeed.api.schemas import NewMessage, new_message_decoder
from tagfeed.domain.errors import InvalidInput


class _DuplicateName(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _DuplicateName(name)
            seen.add(name)
    return members


# Numbers stay strings: only names matter here, and int() would refuse over 4,300 digits.
_duplicate_checker = json.JSONDecoder(
    object_pairs_hook=_unique_members, parse_int=str, parse_float=str
)


def decode_new_message(body: bytes) -> NewMessage:
    """The body as a NewMessage; raises InvalidInput naming ``body`` or the field."""
    try:
        fields = new_message_decoder.decode(body)
        # msgspec has validated the bytes as UTF-8 JSON, so this parse cannot fail but
        # on a duplicate name (or recursion, caught below).
        _duplicate_checker.decode(body.decode("utf-8"))
    except msgspec.ValidationError as exc:
        reason = str(exc)
        if "Expected `object`" in reason and "$." not in reason:
            raise InvalidInput("body", "must be a JSON object") from None
        raise InvalidInput(field_of_decode_error(reason), reason) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput("body", f"is not valid JSON ({exc})") from None
    except UnicodeDecodeError:
        raise InvalidInput("body", "is not valid UTF-8") from None
    except RecursionError:
        raise InvalidInput("body", "is nested too deeply") from None
    except _DuplicateName as exc:
        raise InvalidInput("body", f"repeats the member name {exc.name!r}") from None
    return fields
