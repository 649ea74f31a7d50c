"""The one table from exceptions to HTTP statuses, and reading msgspec's messages."""

import msgspec
import pytest

from tagfeed.api.problems import KINDS, STATUS_OF, field_of_decode_error, status_for
from tagfeed.api.schemas import new_message_decoder
from tagfeed.domain.errors import InvalidInput, MessageNotFound
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


def validation_message(body: bytes) -> str:
    with pytest.raises(msgspec.ValidationError) as caught:
        new_message_decoder.decode(body)
    return str(caught.value)


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("Expected `str`, got `int` - at `$.text`", "text"),
        ("Expected `str`, got `null` - at `$.tag`", "tag"),
        ("Object missing required field `tag`", "tag"),
        ("Object missing required field `text`", "text"),
        ("Expected `object`, got `array`", "body"),
        ("", "body"),
        ("something else entirely", "body"),
    ],
)
def test_field_of_decode_error(message: str, field: str) -> None:
    assert field_of_decode_error(message) == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"text": 1, "tag": "t"}', "text"),
        (b'{"text": "hello", "tag": ["t"]}', "tag"),
        (b'{"text": "hello"}', "tag"),
        (b'{"tag": "t"}', "text"),
        (b"[]", "body"),
        (b'"text"', "body"),
    ],
)
def test_field_of_what_msgspec_really_says(body: bytes, field: str) -> None:
    assert field_of_decode_error(validation_message(body)) == field
