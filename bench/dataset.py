"""The synthetic data set: N messages over 10,000 tags with a Zipf skew, as JSON Lines (gz)
in the shape ``tagfeed import`` reads.

Deterministic: the same (N, seed, end day) always gives the same bytes. Tags are
``tag00001``..``tag10000``; tag k has weight 1/k, so ``tag00001`` holds ~10% of the
messages (1/H(10000) = 10.2%) and the rarest a few per million. Timestamps are spread
evenly over the year before ``end`` (one per stratum of 1/N of the year, jittered), in
time order, as a real export would be. Users are ``u0001``..``u5000``, uniform.
"""

import bisect
import gzip
import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

TAGS = 10_000
USERS = 5_000
HOT_TAG = "tag00001"
YEAR = timedelta(days=365)
_VOCABULARY = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu"
)
_WORDS = tuple(_VOCABULARY.split())


def tag_name(rank: int) -> str:
    """The tag of popularity ``rank`` (1 is the hottest)."""
    return f"tag{rank:05d}"


def user_name(n: int) -> str:
    return f"u{n:04d}"


def zipf_cum_weights(n: int = TAGS, exponent: float = 1.0) -> list[float]:
    """Cumulative weights of ranks 1..n for ``random.choices`` / bisect."""
    return list(itertools.accumulate(1.0 / k**exponent for k in range(1, n + 1)))


@dataclass(frozen=True)
class DatasetInfo:
    """What the scenarios need to know about a generated file."""

    path: Path
    messages: int
    seed: int
    start: datetime  # inclusive
    end: datetime  # exclusive; a UTC midnight

    def to_json(self) -> dict[str, object]:
        fields = asdict(self)
        fields["path"] = str(self.path)
        fields["start"] = self.start.isoformat()
        fields["end"] = self.end.isoformat()
        return fields


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def generate_lines(messages: int, seed: int, end: datetime) -> Iterator[str]:
    """The data set, one JSON line (with newline) per message, oldest first."""
    rng = random.Random(seed)
    cum = zipf_cum_weights()
    total = cum[-1]
    start = end - YEAR
    step_us = YEAR / timedelta(microseconds=1) / messages
    for i in range(messages):
        moment = start + timedelta(microseconds=int((i + rng.random()) * step_us))
        rank = bisect.bisect_left(cum, rng.random() * total) + 1
        words = " ".join(rng.choices(_WORDS, k=rng.randint(3, 12)))
        record = {
            "text": f"{words} #{i}",
            "tag": tag_name(min(rank, TAGS)),
            "user_id": user_name(rng.randint(1, USERS)),
            "created_at": _rfc3339(moment),
        }
        yield json.dumps(record, separators=(",", ":")) + "\n"


def day_end(today: date) -> datetime:
    """The data set ends at the UTC midnight that starts ``today``: messages fill the past
    year, and anything the benchmark posts is newer."""
    return datetime(today.year, today.month, today.day, tzinfo=UTC)


def ensure_dataset(cache_dir: Path, messages: int, seed: int, today: date) -> DatasetInfo:
    """The cached file for (messages, seed, today), generating it first if missing.
    Written to a temporary name and renamed, so an interrupted run leaves no bad cache."""
    end = day_end(today)
    info = DatasetInfo(
        path=cache_dir / f"messages-{messages}-seed{seed}-{today.isoformat()}.jsonl.gz",
        messages=messages,
        seed=seed,
        start=end - YEAR,
        end=end,
    )
    if info.path.exists():
        return info
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = info.path.with_suffix(".tmp")
    with gzip.open(partial, "wt", encoding="utf-8", compresslevel=1) as out:
        out.writelines(generate_lines(messages, seed, end))
    partial.rename(info.path)
    return info
