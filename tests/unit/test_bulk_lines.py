"""One line of an import file: validated exactly like a POST, and the line format of
export reads back to the same message."""

import json
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagfeed.bulk.lines import format_line, parse_fields, parse_line
from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.ids import epoch_micros, is_message_id
from tagfeed.domain.model import Message, validate_text
from tagfeed.domain.tags import normalise_tag
from tagfeed.domain.users import validate_user_id

ID = "0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f60"
GOOD = {
    "text": "hello",
    "tag": "news",
    "user_id": "u1",
    "created_at": "2026-11-28T15:46:08.123456Z",
}


def line(**fields: object) -> bytes:
    """GOOD with ``fields`` replaced; a value of ... drops the field."""
    merged = {**GOOD, **fields}
    return json.dumps({k: v for k, v in merged.items() if v is not ...}).encode()


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def test_a_good_line_is_validated_and_normalised_like_a_post() -> None:
    message = parse_line(
        line(
            id=ID, text="  hi there \n", tag="#Philo Timo ", created_at="2026-11-28T17:46:08+02:00"
        )
    )
    assert message == Message(ID, "hi there", "philo-timo", "u1", utc(2026, 11, 28, 15, 46, 8))
    assert message.created_at.tzinfo is UTC


def test_unknown_fields_are_ignored_as_on_post() -> None:
    assert parse_line(line(id=ID, likes=3, extra={"a": 1})).id == ID


@pytest.mark.parametrize("given", [..., None, 7, "", "not-an-id", ID.upper(), ID.replace("-", "")])
def test_an_id_that_is_not_a_canonical_uuid_is_made_from_created_at(given: object) -> None:
    message = parse_line(line(id=given))
    assert message.id != given
    assert is_message_id(message.id)
    made = uuid.UUID(message.id)
    assert made.version == 7
    assert made.int >> 80 == epoch_micros(message.created_at) // 1000  # its millisecond


def test_max_text_length_comes_from_the_caller() -> None:
    assert parse_line(line(text="x" * 10), max_text_length=10).text == "x" * 10
    with pytest.raises(InvalidInput, match="at most 9 characters"):
        parse_line(line(text="x" * 10), max_text_length=9)


@pytest.mark.parametrize(
    ("raw", "field", "detail"),
    [
        (b"not json", "line", "is not valid JSON"),
        (b'{"text": "a",', "line", "is not valid JSON"),
        (b'["hello", "news"]', "line", "must be a JSON object"),
        (b'"hello"', "line", "must be a JSON object"),
        (b'{"text": "\xff", "tag": "a", "user_id": "1", "created_at": "x"}', "line", "UTF-8"),
        (line(text=...), "text", "is required"),
        (line(text=5), "text", "Expected `str`, got `int`"),
        (line(text=""), "text", "must not be empty"),
        (line(text=" \t\n"), "text", "must not be empty"),
        (line(text="x" * 281), "text", "at most 280 characters"),
        (line(text="a\x00b"), "text", "NUL"),
        (line(tag=...), "tag", "is required"),
        (line(tag=["news"]), "tag", "Expected `str`, got `array`"),
        (line(tag="#"), "tag", "must not be empty"),
        (line(tag="no/slash"), "tag", "letters, digits"),
        (line(tag="x" * 65), "tag", "at most 64"),
        (line(user_id=...), "user_id", "is required"),
        (line(user_id=1), "user_id", "Expected `str`, got `int`"),
        (line(user_id=""), "user_id", "must not be empty"),
        (line(user_id="a b"), "user_id", "only letters, digits"),
        (line(user_id="é"), "user_id", "only letters, digits"),
        (line(user_id="x" * 129), "user_id", "at most 128"),
        (line(created_at=...), "created_at", "is required"),
        (line(created_at=1764344768), "created_at", "Expected `str`, got `int`"),
        (line(created_at="2026-11-28"), "created_at", "RFC 3339 instant with a zone"),
        (line(created_at="2026-11-28T15:46:08"), "created_at", "with a zone"),
        (line(created_at="2026-13-28T15:46:08Z"), "created_at", "must be an RFC 3339 instant"),
        (line(created_at="2026-02-30T15:46:08.000000Z"), "created_at", "not a valid instant"),
        (line(created_at="0001-01-01T00:00:00+01:00"), "created_at", "not a valid instant"),
    ],
)
def test_each_kind_of_bad_line_names_its_field_and_reason(
    raw: bytes, field: str, detail: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_line(raw)
    assert caught.value.field == field
    assert detail in caught.value.detail


def test_before_1970_a_line_needs_its_own_id() -> None:
    before = "1969-12-31T23:59:59.999999Z"
    with pytest.raises(InvalidInput, match="before 1970") as caught:
        parse_line(line(created_at=before))
    assert caught.value.field == "created_at"
    assert parse_line(line(id=ID, created_at=before)).id == ID
    assert is_message_id(parse_line(line(created_at="1970-01-01T00:00:00Z")).id)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-28T15:46:08Z", utc(2026, 11, 28, 15, 46, 8)),
        ("2026-11-28t15:46:08.5z", utc(2026, 11, 28, 15, 46, 8, 500000)),
        ("2026-11-28 15:46:08.123456789Z", utc(2026, 11, 28, 15, 46, 8, 123456)),  # truncated
        ("2026-11-29T01:16:08.000001+09:30", utc(2026, 11, 28, 15, 46, 8, 1)),
        ("1969-12-31T23:59:59.999999Z", utc(1969, 12, 31, 23, 59, 59, 999999)),
    ],
)
def test_created_at_reads_rfc_3339_instants_as_the_api_does(raw: str, expected: datetime) -> None:
    assert parse_line(line(id=ID, created_at=raw)).created_at == expected


def test_fields_are_the_message_fields_in_order() -> None:
    assert Message(*parse_fields(line(id=ID))) == parse_line(line(id=ID))


def test_a_line_is_written_with_the_api_fields_in_order() -> None:
    message = Message(ID, 'say "hé"', "news", "u1", utc(2026, 11, 28, 15, 46, 8))
    assert format_line(message) == (
        b'{"id":"0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f60","text":"say \\"h\xc3\xa9\\"",'
        b'"tag":"news","user_id":"u1","created_at":"2026-11-28T15:46:08.000000Z"}\n'
    )


# Valid messages: what validation lets through is exactly what can be stored.
def _valid(strategy: st.SearchStrategy[str], check: object) -> st.SearchStrategy[str]:
    def passes(raw: str) -> bool:
        try:
            check(raw)  # type: ignore[operator]
        except InvalidInput:
            return False
        return True

    return strategy.filter(passes)


texts = _valid(st.text(min_size=1, max_size=280), validate_text).map(validate_text)
tags = _valid(st.text(min_size=1, max_size=20), normalise_tag).map(normalise_tag)
user_ids = st.from_regex(r"[A-Za-z0-9._:@|-]{1,128}", fullmatch=True)
instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
messages = st.builds(
    Message,
    id=st.uuids().map(str),
    text=texts,
    tag=tags,
    user_id=user_ids,
    created_at=instants,
)


@settings(max_examples=300)
@given(messages)
def test_an_exported_line_reads_back_to_the_same_message(message: Message) -> None:
    assert parse_line(format_line(message)) == message


@given(user_ids)
def test_user_ids_of_the_x_user_id_rule_pass_unchanged(user_id: str) -> None:
    assert validate_user_id(user_id) == user_id
