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
  after msgspec has accepted the body, and only when the body could hold a repeated
  name: one that msgspec read as a NewMessage and that holds exactly eight ``"``
  holds the two required string members and nothing else (every member name takes two
  quotes, each string value two, an escaped quote one more), so none is repeated.
"""

import json
import re
from typing import Any

import msgspec

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


_FIELDS = NewMessage.__struct_fields__  # every one required, every one a string
_ONLY_THE_TWO_FIELDS = 4 * len(_FIELDS)  # the quotes of their names and string values
# msgspec's validation messages (pinned version; tests/unit/test_problems.py reads the real
# ones): only the JSON type found and where are taken from them, never their wording.
_WRONG_TYPE = re.compile(r"Expected `[a-z]+`, got `([a-z]+)`(?: - at `\$\.([A-Za-z_]+)`)?")
_JSON_TYPES = {
    "null": "null",
    "bool": "a boolean",
    "int": "a number",
    "float": "a number",
    "str": "a string",
    "array": "an array",
    "object": "an object",
}


def _what_is_wrong(body: bytes, reason: str) -> InvalidInput:
    """The error for a body msgspec refused as a NewMessage, in the service's own words
    (``field: must ...``); msgspec's messages speak of ``$.tag`` and name one missing
    field where the client needs to know all of them."""
    wrong = _WRONG_TYPE.match(reason)
    if wrong is not None:
        got, field = wrong.groups()
        if field is None:
            return InvalidInput("body", "must be a JSON object")
        return InvalidInput(field, f"must be a JSON string, got {_JSON_TYPES.get(got, got)}")
    if reason.startswith("Object missing required field"):
        # msgspec read the whole object to find a field missing, so this parse cannot
        # recurse too deeply; trailing bytes after the object are still a DecodeError.
        try:
            members = msgspec.json.decode(body, type=dict[str, msgspec.Raw])
        except msgspec.DecodeError as exc:
            return InvalidInput("body", f"is not valid JSON ({exc})")
        missing = [name for name in _FIELDS if name not in members]
        verb = "is" if len(missing) == 1 else "are"
        return InvalidInput(", ".join(missing), f"{verb} required (a JSON string)")
    return InvalidInput("body", f"does not match the expected shape ({reason})")


def decode_new_message(body: bytes) -> NewMessage:
    """The body as a NewMessage; raises InvalidInput naming ``body`` or the field."""
    try:
        fields = new_message_decoder.decode(body)
        # msgspec has validated the bytes as UTF-8 JSON, so this parse cannot fail but
        # on a duplicate name (or recursion, caught below).
        if body.count(b'"') != _ONLY_THE_TWO_FIELDS:
            _duplicate_checker.decode(body.decode("utf-8"))
    except msgspec.ValidationError as exc:
        raise _what_is_wrong(body, str(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput("body", f"is not valid JSON ({exc})") from None
    except UnicodeDecodeError:
        raise InvalidInput("body", "is not valid UTF-8") from None
    except RecursionError:
        raise InvalidInput("body", "is nested too deeply") from None
    except _DuplicateName as exc:
        raise InvalidInput("body", f"repeats the member name {exc.name!r}") from None
    return fields
