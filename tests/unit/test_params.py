"""Query parameters of GET /v1/messages. An empty value counts as absent."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from tagfeed.api.params import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    parse_count,
    parse_limit,
    parse_list_params,
    query_of,
)
from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.pagination import Cursor
from tagfeed.domain.queries import MessageFilter
from tagfeed.domain.timerange import TimeRange

MESSAGE_ID = "0193a5c2-7b1e-7cc0-9f6a-2b1d4c3e5f60"


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, DEFAULT_LIMIT), ("1", 1), ("1000", MAX_LIMIT), ("250", 250)]
)
def test_parse_limit_accepts(raw: str | None, expected: int) -> None:
    assert parse_limit(raw) == expected


def test_default_limit_is_100() -> None:
    assert parse_limit(None) == 100


@pytest.mark.parametrize(
    "raw",
    [
        *["0", "1001", "abc", "-1", "+1", "1.5", "1e2", " 5", "5 ", "", "9" * 30],
        "\u0661",  # ARABIC-INDIC DIGIT ONE: str.isdigit() is true for it
        "\uff15",  # FULLWIDTH DIGIT FIVE
        "\u00b2",  # SUPERSCRIPT TWO
    ],
)
def test_parse_limit_refuses(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_limit(raw)
    assert caught.value.field == "limit"


@pytest.mark.parametrize(("raw", "expected"), [(None, False), ("0", False), ("1", True)])
def test_parse_count_accepts(raw: str | None, expected: bool) -> None:
    assert parse_count(raw) is expected


@pytest.mark.parametrize("raw", ["2", "true", "false", "yes", "01", " 1", "-1", ""])
def test_parse_count_refuses(raw: str) -> None:
    # "" is refused here; parse_list_params turns an empty value into "absent" first.
    with pytest.raises(InvalidInput) as caught:
        parse_count(raw)
    assert caught.value.field == "count"


def test_parse_list_params_defaults() -> None:
    params = parse_list_params(QueryParams(""))
    assert params.where == MessageFilter()
    assert params.page.limit == DEFAULT_LIMIT
    assert params.page.after is None
    assert params.count is False


def test_parse_list_params_reads_every_parameter() -> None:
    cursor = Cursor(datetime(2026, 1, 15, 8, tzinfo=UTC), MESSAGE_ID)
    query = QueryParams(
        f"tag=%23Philo+Timo+&dateStart=2026-01-01&dateEnd=2026-01-31"
        f"&limit=10&count=1&cursor={cursor.encode()}"
    )
    params = parse_list_params(query)
    assert params.where == MessageFilter(
        tag="philo-timo",
        period=TimeRange(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)),
    )
    assert params.page.limit == 10
    assert params.page.after == cursor
    assert params.count is True


def test_empty_values_count_as_absent() -> None:
    params = parse_list_params(QueryParams("tag=&dateStart=&dateEnd=&limit=&cursor=&count="))
    assert params.where == MessageFilter()
    assert params.page.limit == DEFAULT_LIMIT
    assert params.page.after is None
    assert params.count is False


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("tag=a/b", "tag"),
        ("tag=%23", "tag"),
        ("dateStart=yesterday", "dateStart"),
        ("dateEnd=2026-02-30", "dateEnd"),
        ("dateStart=2026-01-02&dateEnd=2026-01-01", "dateStart"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("count=2", "count"),
        ("count=true", "count"),
        ("cursor=garbage", "cursor"),
    ],
)
def test_parse_list_params_names_the_bad_parameter(query: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_list_params(QueryParams(query))
    assert caught.value.field == field


@pytest.mark.parametrize("name", ["tag", "dateStart", "dateEnd", "count", "limit", "cursor"])
def test_a_parameter_given_twice_is_refused_naming_it(name: str) -> None:
    # Even when one copy is empty: a proxy in front may act on the other one.
    with pytest.raises(InvalidInput) as refused:
        parse_list_params(QueryParams(f"{name}=&{name}=1"))
    assert refused.value.field == name
    assert "at most once" in refused.value.detail


@given(st.lists(st.sampled_from(["&", "=", "%", "%4", "%41", "+", "a", "tag", "é", " ", ";"])))
def test_query_strings_are_read_as_starlette_reads_them(pieces: list[str]) -> None:
    raw = "".join(pieces).encode("utf-8")
    assert query_of(raw).multi_items() == QueryParams(raw).multi_items()
