"""normalise_tag: the contract's normal form, and the tags it refuses."""

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.tags import MAX_TAG_LENGTH, normalise_tag

ALLOWED_CATEGORIES = {"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd"}


def fullwidth(ascii_text: str) -> str:
    """The fullwidth (U+FF01..U+FF5E) twin of printable ASCII, which NFKC maps back."""
    return "".join(chr(ord(char) + 0xFEE0) for char in ascii_text)


def attempt(raw: str) -> str | InvalidInput:
    try:
        return normalise_tag(raw)
    except InvalidInput as exc:
        return exc


def is_allowed(char: str) -> bool:
    return char in "_-" or unicodedata.category(char) in ALLOWED_CATEGORIES


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("#Philo Timo ", "philo-timo"),  # the contract's own example
        ("philotimo", "philotimo"),
        ("  #Go  ", "go"),
        ("# spaced", "spaced"),  # whitespace after the "#" is trimmed too
        (fullwidth("PhiloTimo"), "philotimo"),  # NFKC: fullwidth letters
        (fullwidth("#tag"), "tag"),  # NFKC turns the fullwidth "#" into one that is dropped
        (fullwidth("tag12"), "tag12"),  # fullwidth digits
        ("Straße", "strasse"),  # casefold, not lower()
        ("ΣΊΣΥΦΟΣ", "σίσυφοσ"),  # casefold maps final sigma to plain sigma
        ("\u03a5\u0313", "\u1f50"),  # casefold and NFKC together reach one fixed point
        ("\u1f50", "\u1f50"),
        ("a \t\n b", "a-b"),  # a run of inner whitespace becomes one "-"
        ("a\u3000b", "a-b"),  # ideographic space is whitespace
        ("snake_case-and-dash", "snake_case-and-dash"),
        ("हिन्दी", "हिन्दी"),  # letters with combining marks (Mn, Mc)
        ("ภาษาไทย", "ภาษาไทย"),  # Thai, with combining vowel marks
        ("2026", "2026"),
        ("a" * MAX_TAG_LENGTH, "a" * MAX_TAG_LENGTH),
        ("#" + "A" * MAX_TAG_LENGTH + "  ", "a" * MAX_TAG_LENGTH),  # limit after normalising
    ],
)
def test_normalises(raw: str, expected: str) -> None:
    assert normalise_tag(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "\u3000",
        "#",
        "# ",
        " # ",
        "a" * (MAX_TAG_LENGTH + 1),
        "ß" * 33,  # 33 characters, but 66 once case-folded
        "a b!",
        "a/b",
        "a\x00b",
        "\x00",
        "##tag",  # only one leading "#" is dropped
        "tag#",
        "a.b",
        "a\u200bb",  # zero-width space is a format character, not whitespace
        "\u00bd",  # NFKC gives "1", U+2044 FRACTION SLASH, "2": the slash is not allowed
        "😀",
        "\ud800",  # unpaired surrogate
    ],
)
def test_refuses(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_tag(raw)
    assert caught.value.field == "tag"


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_normalising_twice_changes_nothing(raw: str) -> None:
    once = attempt(raw)
    if isinstance(once, str):
        assert normalise_tag(once) == once


@settings(max_examples=300)
@given(
    st.text(
        alphabet=st.characters(categories=["L", "M", "Nd", "Zs", "Pd", "Pc"]) | st.just("#"),
        max_size=80,
    )
)
def test_output_is_1_to_64_allowed_characters(raw: str) -> None:
    tag = attempt(raw)
    if isinstance(tag, InvalidInput):
        assert tag.field == "tag"
        return
    assert 1 <= len(tag) <= MAX_TAG_LENGTH
    assert all(is_allowed(char) for char in tag), tag
    assert tag == unicodedata.normalize("NFKC", tag)
    # A fixed point of "casefold, then NFKC", not necessarily of casefold alone: U+1F50
    # casefolds to U+03C5 U+0313, which NFKC composes back to U+1F50.
    assert tag == unicodedata.normalize("NFKC", tag.casefold())


@given(st.text(alphabet=st.characters(codec="ascii", categories=["L", "Nd"]), min_size=1))
def test_plain_ascii_words_are_lowercased_only(word: str) -> None:
    if len(word) > MAX_TAG_LENGTH:
        with pytest.raises(InvalidInput):
            normalise_tag(word)
    else:
        assert normalise_tag(word) == word.lower()
