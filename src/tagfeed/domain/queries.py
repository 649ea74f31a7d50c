"""What a reader asks for: which messages (a filter) and which slice of them (a page)."""

from dataclasses import dataclass, field

from tagfeed.domain.timerange import TimeRange


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """Messages with ``tag`` (normalised; ``None`` means any) created within ``period``."""

    tag: str | None = None
    period: TimeRange = field(default_factory=TimeRange)
