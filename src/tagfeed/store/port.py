"""The storage port: what the service needs from a database, and nothing more.

Writes go through a unit of work, an explicit transaction: what is added to it is
written atomically by ``commit()``, and discarded if the block is left without
committing (including by an exception). Reads are plain queries over tables built for
reading.

Every write appends events to the log (``docs/events.md``): the unit of work's events
are what the store appends, together with what the inline reducers make of them
(the messages view and the counts), so a read that starts after ``commit()`` returned
sees the post. Positions number the log without gaps, in commit order.
"""

from collections.abc import AsyncIterator, Callable, Iterable, Sequence, Set
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from tagfeed.domain.counting import Piece
from tagfeed.domain.events import MessagePosted, StoredEvent
from tagfeed.domain.model import Message
from tagfeed.domain.pagination import Cursor, PageRequest
from tagfeed.domain.queries import MessageFilter
from tagfeed.domain.trends import Trend
from tagfeed.reducers import Reducer, Tagged


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """An idempotency key, what it was first used for, and the response it got."""

    user_id: str
    key: str
    fingerprint: str
    status: int
    location: str
    body: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Claim:
    """Write the unit only if no record newer than ``not_before`` holds the key."""

    record: IdempotencyRecord
    not_before: datetime


__all__ = [
    "RELAY_CHECKPOINT",
    "Claim",
    "IdempotencyRecord",
    "Store",
    "StoredEvent",
    "UnitOfWork",
    "known_head_view",
    "unit_of_work",
]


# The relay's row in reducer_checkpoints: the last position JetStream acknowledged. Named
# here, beside the checkpoints, so that the adapters need nothing of the relay (relay/).
RELAY_CHECKPOINT = "relay"

# A message's five fields in Message order: what an import line holds.
MessageFields = tuple[str, str, str, str, datetime]


@dataclass(slots=True)
class ImportBatch:
    """Messages to import (as ``MessageFields``) in file order, with the numbers of
    their lines, to name a line when its message is refused."""

    numbers: list[int] = field(default_factory=list)
    rows: list[MessageFields] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def without(self, dropped: Set[int]) -> "ImportBatch":
        """This batch minus the messages at the indexes in ``dropped``."""
        keep = [i for i in range(len(self.rows)) if i not in dropped]
        return ImportBatch([self.numbers[i] for i in keep], [self.rows[i] for i in keep])

    def duplicates(self, stored: Set[str]) -> set[int]:
        """Indexes of the messages whose id is in ``stored`` or earlier in the batch."""
        seen: set[str] = set()
        dropped: set[int] = set()
        for index, row in enumerate(self.rows):
            if row[0] in stored or row[0] in seen:
                dropped.add(index)
            seen.add(row[0])
        return dropped


class UnitOfWork:
    """Collects the events of one command; a store's ``apply`` appends them to the log
    atomically, with their effects on the inline views."""

    def __init__(self, store: "Store") -> None:
        self._store = store
        self.events: list[MessagePosted] = []
        self.claim: Claim | None = None
        # Set by commit when the claimed key was already held: then nothing was written.
        self.held_by: IdempotencyRecord | None = None
        # Set by commit: the log positions of ``events``, in order.
        self.positions: list[int] = []
        self.committed = False
        self.closed = False

    @property
    def new_messages(self) -> list[Message]:
        return [event.message for event in self.events]

    def add_message(self, message: Message) -> None:
        self.events.append(MessagePosted(message))

    def claim_key(self, record: IdempotencyRecord, not_before: datetime) -> None:
        """Make this unit conditional on the key: commit writes everything plus the
        record, unless a live record already holds the key, in which case it writes
        nothing and sets ``held_by``. A concurrent transaction holding the key makes
        commit raise RequestInFlight."""
        self.claim = Claim(record, not_before)

    async def commit(self) -> None:
        """Write everything added, in one transaction; returns once it is durable."""
        if self.closed:
            raise RuntimeError("this unit of work has ended; start a new one")
        await self._store.apply(self)
        self.committed = True

    def rollback(self) -> None:
        """Forget everything added; the database never saw it."""
        self.events.clear()
        self.claim = None


class ReducerSession(Protocol):
    """One process's hold on a catch-up reducer (``Store.reducer_session``)."""

    @property
    def name(self) -> str: ...

    @property
    def position(self) -> int:
        """The checkpoint: every event up to it is applied, none after it."""

    async def apply(self, changes: object, through: int) -> None:
        """Write ``changes`` (the reducer's fold of the events after ``position`` up to
        ``through``) and move the checkpoint to ``through``, in one transaction: killed
        at any instant, the reducer applies each event exactly once. Raises LeaseLost
        (writing nothing) if another process took the reducer over."""

    async def keep(self) -> None:
        """Renew the hold while there is nothing to apply; raises LeaseLost if it ended."""


@dataclass(frozen=True, slots=True)
class JsonPage:
    """A page as the API writes it: ``body`` the JSON array of its messages (MessageOut,
    docs/api.md), ``next`` the cursor after its last message when more match."""

    body: bytes
    next: Cursor | None


@runtime_checkable
class PagesAsJson(Protocol):
    """A store that writes a page's JSON itself (SQLite, in SQL): the event loop then
    passes its bytes on with no message object made or encoded."""

    async def page_json(self, where: MessageFilter, page: PageRequest) -> JsonPage:
        """As ``Store.page``, the messages already in the API's JSON."""


class Store(Protocol):
    """A message database. Every method is bounded by the store's timeout and raises
    StoreUnavailable / StoreTimeout / StoreError (``tagfeed.store.errors``) on failure."""

    async def open(self) -> None:
        """Prepare pools and threads. Must not fail when the database is down."""

    async def close(self) -> None: ...

    async def apply(self, work: UnitOfWork) -> None:
        """Append a unit of work's events, with their effects on the inline views (and
        its idempotency record), atomically and durably; set ``work.positions``."""

    async def get(self, message_id: str) -> Message | None: ...

    async def page(self, where: MessageFilter, page: PageRequest) -> list[Message]:
        """Up to ``page.limit`` messages newest first ((created_at, id) descending),
        strictly after ``page.after`` when given."""

    async def count_pieces(self, tag: str | None, pieces: Sequence[Piece]) -> int:
        """The number of messages with ``tag`` (None: any) in the pieces, each read from
        the counters of its span or, for a span of None, from the messages."""

    async def series(
        self, tag: str | None, step: timedelta, start: datetime, end: datetime
    ) -> dict[datetime, int]:
        """Counts per whole ``step`` (a minute, an hour or a day, aligned to UTC) in
        [start, end), which must be aligned to ``step``; periods with no message are
        absent. Hours and days come from the counters, minutes from the messages."""

    async def counters_generation(self) -> int:
        """A number that changes whenever counts of closed periods may have changed
        (a bulk import); posts, which only count in open periods, leave it alone."""

    async def trending(self, window_hours: int, limit: int) -> tuple[int | None, list[Trend]]:
        """The trending view's clock (an hour since the epoch; None before it folded a
        post) and the first ``limit`` tags of the window by score, highest first, those
        scoring 0 left out. A few rows of one index, whatever the number of tags."""

    async def import_messages(
        self, batches: Iterable[ImportBatch], on_duplicate: Callable[[int], None]
    ) -> int:
        """Append a MessagePosted per message, with the inline views, in ONE
        transaction (nothing is visible before it commits, nothing stays if anything
        fails); return how many. A message whose id is already stored (or earlier in
        the import) is skipped after ``on_duplicate(its line number)``, which may raise
        to abort: the exception propagates and nothing is written. Each adapter takes
        its fastest path (docs/bulk.md); ``batches`` is read on a thread of its own."""

    async def export_messages(
        self, tag: str | None, write: Callable[[list[Message]], None], batch_size: int
    ) -> int:
        """Pass every message (only ``tag``'s when given), oldest first, to ``write`` in
        batches, all read from one snapshot; return how many. ``write`` may be called
        from another thread."""

    async def purge_idempotency_keys(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` records created before ``before``, in a short
        transaction of their own; returns how many went."""

    async def ping(self) -> None:
        """Return when the database answers a trivial query; raise otherwise."""

    # -- the log (docs/events.md) ---------------------------------------------------------

    async def head(self) -> int:
        """The last committed position of the log (0 when it is empty)."""

    async def read_events(self, after: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` committed events with positions above ``after``, in position
        order. Positions have no gaps: calling again with the last position read never
        skips an event, even one whose transaction was still running."""

    async def read_tagged(self, after: int, limit: int) -> tuple[int, list[Tagged]]:
        """What a catch-up of a counting view folds (``Reducer.fold_tagged``) of the events
        ``read_events`` would give: the last position read (``after`` when none) and each
        message's (tag, created_at in µs since the epoch), in no particular order, their
        payloads decoded in one call. Raises UnknownEvent for an event of a type or version
        this code cannot fold."""

    def seen_head(self) -> int:
        """The highest position this process knows to be committed (its own appends,
        and positions it read), without a query: every read started afterwards
        reflects at least that position. 0 before it knows any."""

    async def reducer_checkpoint(self, name: str) -> int:
        """Catch-up reducer ``name``'s checkpoint as committed (0 before its first batch):
        its view reflects every event up to it. One row by key; no hold needed."""

    def reducer_session(self, name: str) -> AbstractAsyncContextManager[ReducerSession]:
        """Hold catch-up reducer ``name`` for the block: raises LeaseHeld if another
        process holds it (PostgreSQL: an advisory lock on a connection of its own;
        SQLite: a lease row, checked and extended with every batch). ValueError for a
        name no adapter applier knows."""

    async def rebuild_view(self, reducer: Reducer[Any], *, checkpointed: bool, batch: int) -> int:
        """Build view ``reducer.name`` afresh from the whole log with the reducer's fold
        into new tables while the old ones keep serving, then swap them in atomically
        with the events appended meanwhile (and, ``checkpointed``, a catch-up view's
        checkpoint set); return the position the view reflects from then on. The log is
        read ``batch`` events at a time. With a ``fold_tagged``, the log is folded part by
        part, ``rebuild_parts.PART_CHUNKS`` reads at a time (memory: a part's distinct
        keys), each part added to what the ones before wrote. ValueError for a name no
        applier knows."""

    async def wait_for_head(self, after: int, within: float) -> int:
        """Return the known head once it passes ``after``, or after ``within`` seconds
        whatever it is. Woken in-process by this process's appends; SQLite also reads
        the head every half second (appends by other processes), PostgreSQL listens
        for the appends' NOTIFY on channel ``tagfeed_events``."""

    def reading(self, at_least: int | None, within: float) -> AbstractAsyncContextManager[int]:
        """A view to read from for the block: ``get``, ``page``, ``count_pieces``,
        ``series`` and ``counters_generation`` called inside it see a database state
        that reflects at least the position the block is given (read your writes:
        ``Tagfeed-Min-Position``). With ``at_least``, first waits up to ``within``
        seconds until the view reaches it; the position given is below ``at_least`` when
        the wait ran out. A store whose reads see every commit at once gives the head it
        knows (``known_head_view``); one that reads from replicas holds one replica
        connection for the block and gives the position that replica has applied."""


class known_head_view(AbstractAsyncContextManager[int]):
    """``Store.reading`` for a store whose reads see every commit as soon as it is made
    (one database, or reads on the primary): the head this process knows, waited for
    when it is short of ``at_least``. No query unless it waits. A class, not a
    generator: every read enters one, and this costs a third to a fifth of what
    ``@asynccontextmanager`` does (measured 1.7-4.1 against 9.4-13.9 µs a block)."""

    __slots__ = ("_at_least", "_store", "_within")

    def __init__(self, store: Store, at_least: int | None, within: float) -> None:
        self._store = store
        self._at_least = at_least
        self._within = within

    async def __aenter__(self) -> int:
        seen = self._store.seen_head()
        at_least = self._at_least
        if at_least is None or seen >= at_least:
            return seen
        return await self._store.wait_for_head(at_least - 1, self._within)

    async def __aexit__(self, *exc_info: object) -> None:
        return None


@asynccontextmanager
async def unit_of_work(store: Store) -> AsyncIterator[UnitOfWork]:
    """``async with unit_of_work(store) as uow: uow.add_message(m); await uow.commit()``.

    Leaving the block without ``commit()`` writes nothing: the writes are only collected
    until then, so there is nothing to roll back on the database side.
    """
    work = UnitOfWork(store)
    try:
        yield work
    finally:
        if not work.committed:
            work.rollback()
        work.closed = True
