"""``tagfeed export``: every message (or one tag's), oldest first, as JSON Lines.

Streaming in constant memory: rows are fetched in keyset batches ordered by
(created_at, id) — each batch starts strictly after the last row of the one before —
and written out as they come. All batches are read inside one read-only transaction,
so the export is one consistent snapshot even while messages are being posted.
"""

import asyncio
from typing import BinaryIO

from tagfeed.bulk.lines import format_line
from tagfeed.config import Settings
from tagfeed.domain.model import Message
from tagfeed.store.factory import store_from_settings

BATCH_SIZE = 10_000


def export_messages(
    settings: Settings, out: BinaryIO, *, tag: str | None, batch_size: int = BATCH_SIZE
) -> int:
    """Write the messages of the database of ``settings`` (only ``tag``'s, a normalised
    tag, when given) to ``out``; return how many. Raises StoreUnavailable / StoreError
    when the database fails."""

    def write(batch: list[Message]) -> None:
        out.write(b"".join(map(format_line, batch)))

    async def export() -> int:
        store = store_from_settings(settings)
        await store.open()
        try:
            return await store.export_messages(tag, write, batch_size)
        finally:
            await store.close()

    return asyncio.run(export())
