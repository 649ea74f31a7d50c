"""Cursor: opaque, URL-safe tokens that decode to exactly what was encoded, and refuse
everything else with InvalidInput (field ``cursor``)."""

import base64
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.ids import epoch_micros, new_message_id
from tagfeed.domain.pagination import Cursor

URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")
MESSAGE_ID = "0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f60"
instants = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)
).map(lambda naive: naive.replace(tzinfo=UTC))


def token_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@settings(max_examples=200)
@given(instants)
def test_round_trips(created_at: datetime) -> None:
    cursor = Cursor(created_at, new_message_id(created_at))
    decoded = Cursor.decode(cursor.encode())
    assert decoded == cursor
    assert decoded.created_at.utcoffset() == timedelta(0)


@settings(max_examples=200)
@given(instants)
def test_tokens_are_url_safe(created_at: datetime) -> None:
    token = Cursor(created_at, new_message_id(created_at)).encode()
    assert URL_SAFE.fullmatch(token), token


def test_a_cursor_in_another_zone_decodes_to_the_same_instant_in_utc() -> None:
    local = datetime(2026, 1, 1, 12, 0, 0, 7, tzinfo=timezone(timedelta(hours=-7)))
    decoded = Cursor.decode(Cursor(local, MESSAGE_ID).encode())
    assert decoded.created_at == local
    assert decoded.created_at.tzinfo == UTC


def test_distinct_cursors_give_distinct_tokens() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    tokens = {
        Cursor(at, MESSAGE_ID).encode(),
        Cursor(at + timedelta(microseconds=1), MESSAGE_ID).encode(),
        Cursor(at, new_message_id(at)).encode(),
    }
    assert len(tokens) == 3


VALID_MICROS = epoch_micros(datetime(2026, 1, 1, tzinfo=UTC))
LAST_MICROS = epoch_micros(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "not a cursor",
        "A",
        "====",
        "%%%%",
        "éàü",
        "\x00",
        token_of(f"2.{VALID_MICROS}.{MESSAGE_ID}".encode()),  # wrong version
        token_of(f"0.{VALID_MICROS}.{MESSAGE_ID}".encode()),
        token_of(f"{VALID_MICROS}.{MESSAGE_ID}".encode()),  # no version
        token_of(f"1.{VALID_MICROS}".encode()),
        token_of(f"1.{VALID_MICROS}.{MESSAGE_ID}.extra".encode()),
        token_of(f"1.-{VALID_MICROS}.{MESSAGE_ID}".encode()),
        token_of(f"1.+{VALID_MICROS}.{MESSAGE_ID}".encode()),
        token_of(f"1. {VALID_MICROS}.{MESSAGE_ID}".encode()),
        token_of(f"1..{MESSAGE_ID}".encode()),
        token_of(f"1.12e3.{MESSAGE_ID}".encode()),
        token_of(f"1.{VALID_MICROS}.{MESSAGE_ID.upper()}".encode()),
        token_of(f"1.{VALID_MICROS}.not-a-uuid".encode()),
        token_of(f"1.{VALID_MICROS}.".encode()),
        token_of(f"1.٣.{MESSAGE_ID}".encode()),  # non-ASCII digit in UTF-8
        token_of("1.é.x".encode()),  # base64 of non-ASCII
        token_of(b"\xff\xfe\x00\x01"),
        token_of(f"1.{LAST_MICROS + 1}.{MESSAGE_ID}".encode()),  # beyond year 9999
        token_of(f"1.{'9' * 18}.{MESSAGE_ID}".encode()),
        token_of(f"1.{'9' * 19}.{MESSAGE_ID}".encode()),  # longer than we hand out
        token_of(f"1.{'9' * 5000}.{MESSAGE_ID}".encode()),  # past int's digit limit
    ],
)
def test_refuses_tokens_we_did_not_hand_out(token: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Cursor.decode(token)
    assert caught.value.field == "cursor"


def test_accepts_a_hand_built_token_of_the_current_version() -> None:
    decoded = Cursor.decode(token_of(f"1.{VALID_MICROS}.{MESSAGE_ID}".encode()))
    assert decoded == Cursor(datetime(2026, 1, 1, tzinfo=UTC), MESSAGE_ID)
    last = Cursor.decode(token_of(f"1.{LAST_MICROS}.{MESSAGE_ID}".encode()))
    assert last.created_at == datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def decodes_or_refuses(token: str) -> None:
    """Anything a client sends either decodes or raises InvalidInput(cursor), nothing else."""
    try:
        cursor: Cursor | InvalidInput = Cursor.decode(token)
    except InvalidInput as exc:
        cursor = exc
    if isinstance(cursor, InvalidInput):
        assert cursor.field == "cursor"
    else:
        assert cursor.created_at.utcoffset() == timedelta(0)


@settings(max_examples=300)
@given(st.text())
def test_arbitrary_text_raises_only_invalid_input(token: str) -> None:
    decodes_or_refuses(token)


@settings(max_examples=300)
@given(st.binary())
def test_arbitrary_base64_payloads_raise_only_invalid_input(payload: bytes) -> None:
    decodes_or_refuses(token_of(payload))


@settings(max_examples=300)
@given(st.from_regex(r"[0-9]{0,2}\.-?[0-9]{0,25}\.[0-9a-fA-F-]{0,40}", fullmatch=True))
def test_near_miss_payloads_raise_only_invalid_input(payload: str) -> None:
    decodes_or_refuses(token_of(payload.encode()))
