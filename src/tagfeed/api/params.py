"""Query parameters of GET /v1/messages, read as the contract defines them. An empty
value counts as absent (``?tag=&limit=`` is the same as no parameters); a parameter given
twice is a 400, as a proxy in front might act on the other copy (docs/api.md)."""

from dataclasses import dataclass

from starlette.datastructures import QueryParams

from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.pagination import Cursor, PageRequest
from tagfeed.domain.queries import MessageFilter
from tagfeed.domain.tags import normalise_tag
from tagfeed.domain.timerange import parse_time_range

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class ListParams:
    where: MessageFilter
    page: PageRequest
    count: bool


def _pair(part: str) -> tuple[str, str]:
    name, _, value = part.partition("=")
    return name, value


def query_of(raw: bytes) -> QueryParams:
    """The query string as Starlette parses it (``request.query_params``). One with
    nothing to unescape (ASCII, no ``%``, no ``+``) is split directly: the same pairs,
    five times faster than ``parse_qsl``, which was a tenth of a count request."""
    if raw.isascii() and b"%" not in raw and b"+" not in raw:
        return QueryParams([_pair(part) for part in raw.decode("ascii").split("&") if part])
    return QueryParams(raw)


def query_value(query: QueryParams, name: str) -> str | None:
    """The one value of parameter ``name``, None when absent or empty; raises
    InvalidInput naming it when it is given more than once."""
    values = query.getlist(name)
    if len(values) > 1:
        raise InvalidInput(name, f"must be given at most once, got it {len(values)} times")
    return (values[0] or None) if values else None


def parse_filter(query: QueryParams) -> MessageFilter:
    raw_tag = query_value(query, "tag")
    return MessageFilter(
        tag=None if raw_tag is None else normalise_tag(raw_tag),
        period=parse_time_range(query_value(query, "dateStart"), query_value(query, "dateEnd")),
    )


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidInput("limit", f"must be an integer from 1 to {MAX_LIMIT}, got {raw!r}")
    return int(raw)


TRENDING_DEFAULT_LIMIT = 10
TRENDING_MAX_LIMIT = 100


def parse_trending_limit(raw: str | None) -> int:
    if raw is None:
        return TRENDING_DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= TRENDING_MAX_LIMIT:
        raise InvalidInput(
            "limit", f"must be an integer from 1 to {TRENDING_MAX_LIMIT}, got {raw!r}"
        )
    return int(raw)


def parse_count(raw: str | None) -> bool:
    if raw is None or raw == "0":
        return False
    if raw == "1":
        return True
    raise InvalidInput("count", f"must be 0 or 1, got {raw!r}")


def parse_list_params(query: QueryParams) -> ListParams:
    cursor = query_value(query, "cursor")
    return ListParams(
        where=parse_filter(query),
        page=PageRequest(
            parse_limit(query_value(query, "limit")),
            None if cursor is None else Cursor.decode(cursor),
        ),
        count=parse_count(query_value(query, "count")),
    )
