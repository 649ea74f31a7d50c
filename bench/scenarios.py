"""The scenarios of a sweep and the request files wrk replays for them.

Everything random is drawn here from one seed: which ids, which (skewed) tags, which users,
which texts. ``prepare`` asks the running server, through the public API only, for what a
scenario needs to exist (ids, the 20th page's cursor), so the bench does not depend on the
schema.
"""

import json
import random
import re
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from bench.dataset import HOT_TAG, TAGS, USERS, DatasetInfo, tag_name, user_name, zipf_cum_weights

NGINX = "nginx"
PEER = "peer"
# The floor apps (bench/floor.py: the peer + the database work) and the RSGI forms of the
# peer and the floor (bench/rsgi_apps.py).
FLOOR = "floor"
PEER_RSGI = "peer_rsgi"
FLOOR_RSGI = "floor_rsgi"
FLOOR_STORED = "floor_stored"  # the floor, its page of stored JSON (the hottest tag only)
SQLITE_ONLY = frozenset({FLOOR, FLOOR_RSGI, FLOOR_STORED})  # they read the bench's file
FLOOR_PG = "floor_pg"  # the POST floor on PostgreSQL (bench/floor_pg.py)
FLOOR_PG_LOG = "floor_pg_log"  # the same, writing tagfeed's append statement (log_app)
POSTGRES_ONLY = frozenset({FLOOR_PG, FLOOR_PG_LOG})
PGBENCH = "pgbench_insert"
POST_RANDOM = "post_random"
GET_BY_ID = "get_by_id"
_LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    target: str  # "tagfeed", PEER, NGINX or PGBENCH
    requests: str  # the request file's stem (several scenarios may share one)
    default: bool = True  # False: run only when named in --scenarios


# The order of a sweep: the ceiling and the bare peer first, reads, then writes (so reads see
# the same data in every sweep but for the previous sweeps' posts), then pgbench.
SCENARIOS = (
    Scenario(NGINX, "nginx fixed 201 (ceiling)", NGINX, POST_RANDOM),
    Scenario("peer_get", "bare peer: GET one fixed message", PEER, GET_BY_ID),
    Scenario("peer_page", "bare peer: GET a fixed 50-message list", PEER, "page_hot_tag"),
    Scenario("peer_post", "bare peer: POST, JSON decode + encode", PEER, POST_RANDOM),
    Scenario("floor_get", "floor: peer + SQLite lookup by id", FLOOR, GET_BY_ID),
    Scenario("floor_page", "floor: peer + SQLite tag page of 50", FLOOR, "page_hot_tag"),
    Scenario("floor_post", "floor: peer + group-committed insert", FLOOR, POST_RANDOM),
    Scenario(
        "floor_page_stored", "floor: page of stored JSON", FLOOR_STORED, "page_hot_tag", False
    ),
    Scenario("floor_post_pg", "floor on PostgreSQL: group-committed insert", FLOOR_PG, POST_RANDOM),
    Scenario(
        "floor_post_pg_log",
        "floor on PostgreSQL: tagfeed's append statement, group-committed",
        FLOOR_PG_LOG,
        POST_RANDOM,
    ),
    Scenario("rsgi_peer_get", "bare peer on RSGI: GET", PEER_RSGI, GET_BY_ID, False),
    Scenario(
        "rsgi_peer_page", "bare peer on RSGI: 50-message list", PEER_RSGI, "page_hot_tag", False
    ),
    Scenario("rsgi_peer_post", "bare peer on RSGI: POST", PEER_RSGI, POST_RANDOM, False),
    Scenario("rsgi_floor_get", "floor on RSGI: lookup by id", FLOOR_RSGI, GET_BY_ID, False),
    Scenario("rsgi_floor_page", "floor on RSGI: tag page", FLOOR_RSGI, "page_hot_tag", False),
    Scenario("rsgi_floor_post", "floor on RSGI: insert", FLOOR_RSGI, POST_RANDOM, False),
    Scenario(GET_BY_ID, "GET /v1/messages/{id}", "tagfeed", GET_BY_ID),
    Scenario("page_random_tag", "GET tag page, skewed random tag", "tagfeed", "page_random_tag"),
    Scenario("page_hot_tag", "GET tag page, hottest tag", "tagfeed", "page_hot_tag"),
    Scenario("page_20_hot_tag", "GET 20th page by cursor, hottest", "tagfeed", "page_20"),
    Scenario("count_hot_90d", "GET count=1, hottest tag, 90 days", "tagfeed", "count_hot_90d"),
    Scenario("count_all_year", "GET count=1, no tag, one year", "tagfeed", "count_all_year"),
    Scenario("counts_day_hot", "GET /counts by day, hottest, year", "tagfeed", "counts_day_hot"),
    Scenario("trending_24h", "GET /tags/trending, 24 h, top 10", "tagfeed", "trending_24h"),
    Scenario(POST_RANDOM, "POST /v1/messages, skewed tags", "tagfeed", POST_RANDOM),
    Scenario("post_hot_tag", "POST /v1/messages, hottest tag", "tagfeed", "post_hot_tag"),
    Scenario(PGBENCH, "pgbench one-row INSERT", PGBENCH, ""),
)
BY_NAME = {s.name: s for s in SCENARIOS}
# The bare peer's round trip that each tagfeed scenario is held against ("x peer").
PEER_OF = {
    GET_BY_ID: "peer_get",
    "page_random_tag": "peer_page",
    "page_hot_tag": "peer_page",
    "page_20_hot_tag": "peer_page",
    "count_hot_90d": "peer_get",
    "count_all_year": "peer_get",
    "counts_day_hot": "peer_get",
    "trending_24h": "peer_get",
    POST_RANDOM: "peer_post",
    "post_hot_tag": "peer_post",
    "floor_get": "peer_get",
    "floor_page": "peer_page",
    "floor_post": "peer_post",
    "floor_post_pg": "peer_post",
    "floor_post_pg_log": "peer_post",
    "floor_page_stored": "peer_page",
    "rsgi_peer_get": "peer_get",
    "rsgi_peer_page": "peer_page",
    "rsgi_peer_post": "peer_post",
    "rsgi_floor_get": "peer_get",
    "rsgi_floor_page": "peer_page",
    "rsgi_floor_post": "peer_post",
}

# The floor each tagfeed route is held against ("x floor": what tagfeed's own code leaves
# of the database work's rate), and the ASGI floor the RSGI one is held against.
FLOOR_OF = {
    GET_BY_ID: "floor_get",
    "page_random_tag": "floor_page",
    "page_hot_tag": "floor_page",
    "page_20_hot_tag": "floor_page",
    POST_RANDOM: "floor_post",
    "post_hot_tag": "floor_post",
    "floor_page_stored": "floor_page",
    "rsgi_floor_get": "floor_get",
    "rsgi_floor_page": "floor_page",
    "rsgi_floor_post": "floor_post",
}
# On PostgreSQL the posts' floor is its own (the SQLite floors read the bench's file): the
# one that writes what tagfeed's log needs (floor_post_pg, one plain insert, is shown too).
_FLOOR_OF_POSTGRES = {POST_RANDOM: "floor_post_pg_log", "post_hot_tag": "floor_post_pg_log"}


def floor_of(name: str, backend: str) -> str | None:
    """The floor scenario ``name`` is held against on ``backend``, if any."""
    if backend == "postgres":
        return _FLOOR_OF_POSTGRES.get(name)
    return FLOOR_OF.get(name)


class PrepareError(RuntimeError):
    """The server did not give what a scenario needs."""


def _get(base_url: str, path: str) -> tuple[object, str | None]:
    """The decoded JSON body of GET ``path`` and its next-page URL, if any."""
    request = urllib.request.Request(base_url + path, headers={"X-User-ID": "bench"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
        link = _LINK_NEXT.search(response.headers.get("Link", ""))
        return json.load(response), link[1] if link else None


def collect_ids(base_url: str, dataset: DatasetInfo, want: int, rng: random.Random) -> list[str]:
    """About ``want`` ids spread over the data set's year: up to 1000 from each of randomly
    chosen days (the newest pages alone would all be from the last few days)."""
    days = [dataset.start.date() + timedelta(days=d) for d in range(365)]
    rng.shuffle(days)
    ids: list[str] = []
    for day in days:
        if len(ids) >= want:
            break
        query = urlencode({"dateStart": day.isoformat(), "dateEnd": day.isoformat(), "limit": 1000})
        body, _ = _get(base_url, f"/v1/messages?{query}")
        if not isinstance(body, list):
            raise PrepareError(f"listing {day} gave {body!r:.200}")
        ids.extend(str(message["id"]) for message in body)
    if not ids:
        raise PrepareError("the server lists no messages: was the data set imported?")
    rng.shuffle(ids)
    return ids[:want]


def nth_page_path(base_url: str, first: str, n: int) -> str:
    """The path of page ``n`` (1-based) reached by following ``rel="next"`` from ``first``."""
    path = first
    for page in range(1, n):
        _, following = _get(base_url, path)
        if following is None:
            raise PrepareError(f"{first} has only {page} pages, wanted page {n}")
        path = following
    return path


def _line(method: str, path: str, user: str, body: str = "") -> str:
    return "\t".join((method, path, user, body)).rstrip("\t") + "\n"


def _post_lines(rng: random.Random, count: int, hot_only: bool) -> list[str]:
    cum = zipf_cum_weights()
    ranks = [1] * count if hot_only else rng.choices(range(1, TAGS + 1), cum_weights=cum, k=count)
    lines = []
    for i, rank in enumerate(ranks):
        body = json.dumps(
            {"text": f"bench message {i} {rng.getrandbits(32):08x}", "tag": tag_name(rank)}
        )
        lines.append(_line("POST", "/v1/messages", user_name(rng.randint(1, USERS)), body))
    return lines


def _get_lines(rng: random.Random, paths: list[str]) -> list[str]:
    return [_line("GET", p, user_name(rng.randint(1, USERS))) for p in paths]


def write_request_files(
    out_dir: Path, base_url: str, dataset: DatasetInfo, want_ids: int, seed: int
) -> dict[str, Path]:
    """One replay file per request kind (see lua/replay.lua), keyed by ``Scenario.requests``."""
    rng = random.Random(seed)
    last_day = (dataset.end - timedelta(days=1)).date()
    first_day = dataset.start.date()
    hot_page = "/v1/messages?" + urlencode({"tag": HOT_TAG, "limit": 50})
    tags = rng.choices(range(1, TAGS + 1), cum_weights=zipf_cum_weights(), k=20_000)

    def count_path(tag: str | None, start_day: object, extra: dict[str, str]) -> str:
        query = {"tag": tag} if tag else {}
        query |= {"dateStart": str(start_day), "dateEnd": last_day.isoformat(), **extra}
        return urlencode(query)

    ids = collect_ids(base_url, dataset, want_ids, rng)
    contents = {
        POST_RANDOM: _post_lines(rng, 20_000, hot_only=False),
        "post_hot_tag": _post_lines(rng, 20_000, hot_only=True),
        GET_BY_ID: _get_lines(rng, [f"/v1/messages/{i}" for i in ids]),
        "page_random_tag": _get_lines(
            rng, [f"/v1/messages?tag={tag_name(t)}&limit=50" for t in tags]
        ),
        "page_hot_tag": _get_lines(rng, [hot_page] * 1000),
        "page_20": _get_lines(rng, [nth_page_path(base_url, hot_page, 20)] * 1000),
        "count_hot_90d": _get_lines(
            rng,
            ["/v1/messages?" + count_path(HOT_TAG, last_day - timedelta(days=89), {"count": "1"})]
            * 1000,
        ),
        "count_all_year": _get_lines(
            rng, ["/v1/messages?" + count_path(None, first_day, {"count": "1"})] * 1000
        ),
        "counts_day_hot": _get_lines(
            rng,
            ["/v1/messages/counts?" + count_path(HOT_TAG, first_day, {"granularity": "day"})]
            * 1000,
        ),
        "trending_24h": _get_lines(rng, ["/v1/tags/trending?window=24h&limit=10"] * 1000),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for stem, lines in contents.items():
        files[stem] = out_dir / f"{stem}.tsv"
        files[stem].write_text("".join(lines), encoding="utf-8")
    return files
