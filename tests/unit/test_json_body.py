"""Reading a POST body strictly: each hostile body is an InvalidInput naming what broke."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagfeed.api.json_body import decode_new_message
from tagfeed.domain.errors import InvalidInput


def test_a_plain_body_is_read() -> None:
    fields = decode_new_message(b'{"text": "hello", "tag": "t", "extra": [1, 2e400]}')
    assert (fields.text, fields.tag) == ("hello", "t")


def test_a_huge_number_in_an_ignored_field_is_fine() -> None:
    # int() refuses over 4,300 digits; the duplicate check must not parse numbers.
    body = b'{"text": "a", "tag": "t", "n": ' + b"9" * 10_000 + b"}"
    assert decode_new_message(body).text == "a"


@pytest.mark.parametrize(
    ("body", "field", "mentions"),
    [
        (b'{"text": "\xff", "tag": "t"}', "body", "UTF-8"),
        (b'{"text": NaN, "tag": "t"}', "body", "not valid JSON"),
        (b'{"text": "a", "tag": "t"} trailing', "body", "not valid JSON"),
        (b"[]", "body", "JSON object"),
        (b'{"text": 1, "tag": "t"}', "text", "must be a JSON string"),
        (b'{"text": "a"}', "tag", "is required"),
        (b'{"text": "a", "text": "b", "tag": "t"}', "body", "'text'"),
        (b'{"text": "a", "tag": "t", "x": {"y": 1, "\\u0079": 2}}', "body", "'y'"),
        (b'{"text": "a", "tag": "t", "n": ' + b"[" * 5000 + b"]" * 5000 + b"}", "body", "nested"),
        (b'{"a": ' * 5000 + b"1" + b"}" * 5000, "body", "nested"),
    ],
    ids=lambda value: value[:24] if isinstance(value, bytes) else value,
)
def test_a_hostile_body_is_refused_naming_what_broke(
    body: bytes, field: str, mentions: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        decode_new_message(body)
    assert refused.value.field == field
    assert mentions in refused.value.detail


MEMBERS = st.lists(
    st.tuples(
        st.sampled_from(["text", "tag", "x", "t\\u0065xt"]),
        st.one_of(st.text(max_size=3), st.integers(), st.just({"y": 1})),
    ),
    max_size=5,
)


@given(MEMBERS)
def test_a_repeated_name_is_refused_whatever_else_the_body_holds(
    members: list[tuple[str, object]],
) -> None:
    # Bodies of eight quotes skip the stdlib parse that finds repeated names: the
    # refusal must not depend on it.
    body = (
        "{" + ", ".join(f'"{name}": {json.dumps(value)}' for name, value in members) + "}"
    ).encode()
    names = [json.loads(f'"{name}"') for name, _ in members]
    try:
        decoded = decode_new_message(body)
    except InvalidInput:
        return  # a 400, whichever rule it names first
    assert len(set(names)) == len(names), body
    assert {"text", "tag"} <= set(names)
    assert decoded.text == dict(zip(names, (v for _, v in members), strict=True))["text"]
