"""The one table from exceptions to HTTP statuses, and the wording of body errors."""

import pytest
from starlette.exceptions import HTTPException

from tagfeed.api.json_body import decode_new_message
from tagfeed.api.problems import KINDS, STATUS_OF, ApiError, make_handlers, status_for
from tagfeed.domain.errors import InvalidInput, MessageNotFound
from tagfeed.domain.tags import normalise_tag
from tagfeed.domain.timerange import parse_time_range
from tagfeed.store.errors import StoreError, StoreTimeout, StoreUnavailable


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (InvalidInput("text", "must not be empty"), 400),
        (MessageNotFound("0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f60"), 404),
        (StoreUnavailable("connection refused"), 503),
        (StoreTimeout("no answer within 5 s"), 503),
        (StoreError("disk I/O error"), 500),
        (OverflowError("date value out of range"), 400),  # a bound next to year 1 or 9999
        (ValueError("anything else"), 500),
        (KeyError("anything else"), 500),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_status_for(exc: Exception, status: int) -> None:
    assert status_for(exc) == status


def test_every_mapped_status_has_a_problem_kind() -> None:
    assert set(STATUS_OF.values()) <= set(KINDS)


def test_every_class_of_the_table_has_its_handler_and_nothing_else_does() -> None:
    handlers = make_handlers(retry_after=2)
    assert set(handlers) == {*STATUS_OF, ApiError, HTTPException, Exception}


def refusal(body: bytes) -> str:
    with pytest.raises(InvalidInput) as refused:
        decode_new_message(body)
    return f"{refused.value.field}: {refused.value.detail}"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{}", "text, tag: are required (a JSON string)"),
        (b'{"text": "hello"}', "tag: is required (a JSON string)"),
        (b'{"tag": "t"}', "text: is required (a JSON string)"),
        (b'{"text": "hello", "tag": null}', "tag: must be a JSON string, got null"),
        (b'{"text": 1, "tag": "t"}', "text: must be a JSON string, got a number"),
        (b'{"text": "hello", "tag": ["t"]}', "tag: must be a JSON string, got an array"),
        (b'{"text": true, "tag": "t"}', "text: must be a JSON string, got a boolean"),
        (b'{"text": {"a": 1}, "tag": "t"}', "text: must be a JSON string, got an object"),
        (b'{"text": "hello", "tag": 1.5}', "tag: must be a JSON string, got a number"),
        (b"[]", "body: must be a JSON object"),
        (b'"text"', "body: must be a JSON object"),
    ],
)
def test_body_errors_name_every_field_in_the_services_words(body: bytes, detail: str) -> None:
    said = refusal(body)
    assert said == detail
    assert "`" not in said  # nothing of msgspec's own wording
    assert "$." not in said


def test_a_tag_refused_for_what_normalisation_made_says_what_was_sent() -> None:
    with pytest.raises(InvalidInput) as refused:
        normalise_tag("½")
    assert refused.value.detail == (
        "may hold only letters, digits, '_' and '-'; '½' normalises (NFKC) to '1\u20442', "
        "which holds '\u2044'"
    )
    with pytest.raises(InvalidInput) as sent:
        normalise_tag("a!b")
    assert sent.value.detail == "may hold only letters, digits, '_' and '-'; found '!'"


def test_an_offset_whose_plus_arrived_as_a_space_gets_the_percent_2b_hint() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_time_range("2026-11-28T10:00:00 01:00", None)  # sent as ...T10:00:00+01:00
    assert refused.value.field == "dateStart"
    assert "send the offset's '+' as %2B" in refused.value.detail
    with pytest.raises(InvalidInput) as other:
        parse_time_range(None, "2026-11-28T10:00:00")  # no zone at all: no such hint
    assert "%2B" not in other.value.detail
