"""validate_text and new_message: the rules a new message must satisfy."""

from datetime import UTC, datetime

import pytest

from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.ids import is_message_id
from tagfeed.domain.model import DEFAULT_MAX_TEXT_LENGTH, Message, new_message, validate_text

NOW = datetime(2026, 11, 28, 15, 46, 8, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A very meaningful message", "A very meaningful message"),
        ("  padded \n", "padded"),
        ("\t inner  spaces\tkept \r\n", "inner  spaces\tkept"),
        ("e\u0301", "e\u0301"),  # stored as sent: no Unicode normalisation
        ("\uff26\uff35\uff2c\uff2c", "\uff26\uff35\uff2c\uff2c"),  # fullwidth "FULL" kept
    ],
)
def test_trims_surrounding_whitespace_only(raw: str, expected: str) -> None:
    assert validate_text(raw) == expected


@pytest.mark.parametrize("raw", ["", " ", "\n\t ", "\u3000"])
def test_refuses_empty_text(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_text(raw)
    assert caught.value.field == "text"


def test_counts_code_points_not_bytes() -> None:
    emoji = "😀"  # 4 bytes in UTF-8, 2 UTF-16 units, 1 code point
    assert validate_text(emoji * DEFAULT_MAX_TEXT_LENGTH) == emoji * DEFAULT_MAX_TEXT_LENGTH
    with pytest.raises(InvalidInput) as caught:
        validate_text(emoji * (DEFAULT_MAX_TEXT_LENGTH + 1))
    assert caught.value.field == "text"


def test_the_limit_applies_after_trimming() -> None:
    text = "x" * DEFAULT_MAX_TEXT_LENGTH
    assert validate_text(f"   {text}   ") == text


@pytest.mark.parametrize("raw", ["a\x00b", "\x00", "a\ud800b", "\udfff", "x\ud83d"])
def test_refuses_nul_and_unpaired_surrogates(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_text(raw)
    assert caught.value.field == "text"


def test_respects_a_custom_maximum() -> None:
    assert validate_text("abcde", max_length=5) == "abcde"
    with pytest.raises(InvalidInput) as caught:
        validate_text("abcdef", max_length=5)
    assert caught.value.field == "text"
    long_text = "y" * 1000
    assert validate_text(long_text, max_length=1000) == long_text


def test_new_message_validates_and_normalises() -> None:
    message = new_message(
        text="  hello  ", tag="#Philo Timo ", user_id="auth0|abc", now=NOW, max_text_length=280
    )
    assert isinstance(message, Message)
    assert message.text == "hello"
    assert message.tag == "philo-timo"
    assert message.user_id == "auth0|abc"
    assert message.created_at == NOW
    assert is_message_id(message.id)


def test_new_messages_at_the_same_instant_get_distinct_ids() -> None:
    ids = {
        new_message(text="t", tag="t", user_id="1", now=NOW, max_text_length=280).id
        for _ in range(200)
    }
    assert len(ids) == 200


@pytest.mark.parametrize(
    ("text", "tag", "field"),
    [("", "ok", "text"), ("ok", "", "tag"), ("ok", "a/b", "tag"), ("x" * 11, "ok", "text")],
)
def test_new_message_names_the_bad_field(text: str, tag: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        new_message(text=text, tag=tag, user_id="1", now=NOW, max_text_length=10)
    assert caught.value.field == field
