"""Subjects of the relay: every normalised tag maps to one valid NATS subject token."""

from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.tags import normalise_tag
from tagfeed.relay.subjects import subject_for, subject_token


def test_ascii_tags_are_their_own_token() -> None:
    assert subject_for("tagfeed.messages", "philotimo") == "tagfeed.messages.philotimo"
    assert subject_token("a-b_c9") == "a-b_c9"


def test_letters_beyond_ascii_are_percent_encoded() -> None:
    assert subject_token("café") == "caf%C3%A9"
    assert subject_token("नमस्ते").isascii()


@given(st.text(min_size=1, max_size=70))
def test_every_normalised_tag_gives_a_token_nats_accepts_and_it_reverses(raw: str) -> None:
    try:
        tag = normalise_tag(raw)
    except InvalidInput:
        return
    token = subject_token(tag)
    assert token.isascii()
    assert token
    assert not set(token) & {".", "*", ">", " ", "\t", "\r", "\n"}
    assert unquote(token) == tag
