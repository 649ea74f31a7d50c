"""An in-memory store for unit tests of the service layer. Not for serving."""

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from tagfeed.domain.counting import Piece, floor_to
from tagfeed.domain.events import (
    MESSAGE_POSTED,
    MESSAGE_POSTED_VERSION,
    StoredEvent,
)
from tagfeed.domain.ids import epoch_micros
from tagfeed.domain.model import Message
from tagfeed.domain.pagination import PageRequest
from tagfeed.domain.queries import MessageFilter
from tagfeed.domain.trends import Trend
from tagfeed.reducers import Reducer, Tagged, tagged, trending
from tagfeed.store.codec import decode, message_payload
from tagfeed.store.errors import LeaseHeld
from tagfeed.store.head import HeadWatch
from tagfeed.store.port import (
    IdempotencyRecord,
    ImportBatch,
    ReducerSession,
    UnitOfWork,
    known_head_view,
    unit_of_work,
)


def _matches(message: Message, where: MessageFilter) -> bool:
    return (where.tag is None or message.tag == where.tag) and where.period.contains(
        message.created_at
    )


class MemoryStore:
    def __init__(self) -> None:
        self.messages: dict[str, Message] = {}
        self.keys: dict[tuple[str, str], IdempotencyRecord] = {}
        self.generation = 0  # tests bump it to stand for an import
        self.events: list[StoredEvent] = []
        # Catch-up reducers: their checkpoints, what they applied, who holds them.
        self.checkpoints: dict[str, int] = {}
        self.applied: dict[str, list[object]] = {}
        self._held: set[str] = set()
        self._watch = HeadWatch()

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def apply(self, work: UnitOfWork) -> None:
        if work.claim is not None:
            record = work.claim.record
            held = self.keys.get((record.user_id, record.key))
            if held is not None and held.created_at >= work.claim.not_before:
                work.held_by = held
                return
            self.keys[record.user_id, record.key] = record
        now = datetime.now(UTC)
        for event in work.events:
            message = event.message
            position = len(self.events) + 1
            self.events.append(
                StoredEvent(
                    position,
                    message.id,
                    MESSAGE_POSTED,
                    MESSAGE_POSTED_VERSION,
                    message_payload(message),
                    now,
                )
            )
            work.positions.append(position)
            self.messages[message.id] = message
        self._watch.advance(len(self.events))

    async def import_messages(
        self, batches: Iterable[ImportBatch], on_duplicate: Callable[[int], None]
    ) -> int:
        async with unit_of_work(self) as work:
            for batch in batches:
                taken = set(self.messages) | {m.id for m in work.new_messages}
                dropped = batch.duplicates(taken)
                for index in sorted(dropped):
                    on_duplicate(batch.numbers[index])
                for row in batch.without(dropped).rows:
                    work.add_message(Message(*row))
            await work.commit()
        self.generation += 1
        return len(work.positions)

    async def export_messages(
        self, tag: str | None, write: Callable[[list[Message]], None], batch_size: int
    ) -> int:
        chosen = sorted(
            (m for m in self.messages.values() if tag is None or m.tag == tag),
            key=lambda m: (m.created_at, m.id),
        )
        for start in range(0, len(chosen), batch_size):
            write(chosen[start : start + batch_size])
        return len(chosen)

    async def rebuild_view(self, reducer: Reducer[Any], *, checkpointed: bool, batch: int) -> int:
        # Messages are the only view kept here: nothing to rebuild but the checkpoint.
        if checkpointed:
            self.checkpoints[reducer.name] = len(self.events)
        return len(self.events)

    async def counters_generation(self) -> int:
        return self.generation

    async def purge_idempotency_keys(self, before: datetime, limit: int) -> int:
        expired = [k for k, r in self.keys.items() if r.created_at < before][:limit]
        for key in expired:
            del self.keys[key]
        return len(expired)

    async def get(self, message_id: str) -> Message | None:
        return self.messages.get(message_id)

    async def page(self, where: MessageFilter, page: PageRequest) -> list[Message]:
        newest_first = sorted(
            (m for m in self.messages.values() if _matches(m, where)),
            key=lambda m: (m.created_at, m.id),
            reverse=True,
        )
        if page.after is not None:
            position = (page.after.created_at, page.after.id)
            newest_first = [m for m in newest_first if (m.created_at, m.id) < position]
        return newest_first[: page.limit]

    def _in(self, tag: str | None, start: datetime, end: datetime) -> list[Message]:
        return [
            m
            for m in self.messages.values()
            if (tag is None or m.tag == tag) and start <= m.created_at < end
        ]

    async def count_pieces(self, tag: str | None, pieces: Sequence[Piece]) -> int:
        # No counters here: every piece is counted from the messages, which is what the
        # counters must agree with.
        return sum(len(self._in(tag, p.start, p.end)) for p in pieces)

    async def series(
        self, tag: str | None, step: timedelta, start: datetime, end: datetime
    ) -> dict[datetime, int]:
        counts: dict[datetime, int] = {}
        for message in self._in(tag, start, end):
            bucket = floor_to(message.created_at, step)
            counts[bucket] = counts.get(bucket, 0) + 1
        return counts

    async def reducer_checkpoint(self, name: str) -> int:
        return self.checkpoints.get(name, 0)

    async def trending(self, window_hours: int, limit: int) -> tuple[int | None, list[Trend]]:
        # Straight from the messages, with the reducer's own rules: what the view must say.
        if not self.messages:
            return None, []
        window = next(w for w in trending.WINDOWS.values() if w.hours == window_hours)
        hours = {m.id: trending.hour_of(epoch_micros(m.created_at)) for m in self.messages.values()}
        clock = max(hours.values())
        uses: dict[str, list[int]] = {}
        for message in self.messages.values():
            age = clock - hours[message.id]
            counted = uses.setdefault(message.tag, [0, 0])
            if age < window.hours:
                counted[0] += 1
            elif age < window.hours + window.baseline_hours:
                counted[1] += 1
        trends = [
            Trend(tag, o, trending.expected(b, window), trending.score(o, b, window))
            for tag, (o, b) in uses.items()
        ]
        ranked = sorted((t for t in trends if t.score > 0), key=lambda t: (-t.score, t.tag))
        return clock, ranked[:limit]

    async def ping(self) -> None:
        pass

    async def head(self) -> int:
        return len(self.events)

    async def read_events(self, after: int, limit: int) -> list[StoredEvent]:
        return self.events[after : after + limit]

    async def read_tagged(self, after: int, limit: int) -> tuple[int, list[Tagged]]:
        stored = self.events[after : after + limit]
        events = [decode(event).event for event in stored]
        return (stored[-1].position if stored else after), list(tagged(events))

    def seen_head(self) -> int:
        return self._watch.seen

    async def wait_for_head(self, after: int, within: float) -> int:
        return await self._watch.wait_beyond(after, within)

    def reading(self, at_least: int | None, within: float) -> AbstractAsyncContextManager[int]:
        return known_head_view(self, at_least, within)

    @asynccontextmanager
    async def reducer_session(self, name: str) -> AsyncIterator[ReducerSession]:
        if name in self._held:
            raise LeaseHeld(f"reducer {name} is held")
        self._held.add(name)
        try:
            yield _MemorySession(self, name)
        finally:
            self._held.discard(name)


class _MemorySession:
    def __init__(self, store: MemoryStore, name: str) -> None:
        self._store = store
        self.name = name

    @property
    def position(self) -> int:
        return self._store.checkpoints.get(self.name, 0)

    async def apply(self, changes: object, through: int) -> None:
        self._store.applied.setdefault(self.name, []).append(changes)
        self._store.checkpoints[self.name] = through

    async def keep(self) -> None:
        pass
