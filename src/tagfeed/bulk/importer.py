"""``tagfeed import``: read a file, validate each line, and append a MessagePosted per
valid message to the configured database's log, with its views, in one transaction."""

import asyncio
import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from tqdm import tqdm

from tagfeed.bulk.batches import DUPLICATE_ID, Rejections, read_batches
from tagfeed.bulk.files import Input, open_input
from tagfeed.config import Settings
from tagfeed.store.factory import store_from_settings
from tagfeed.store.port import ImportBatch

DEFAULT_BATCH_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class ImportSummary:
    imported: int
    skipped: int
    seconds: float

    def describe(self) -> str:
        rate = self.imported / self.seconds if self.seconds > 0 else 0.0
        return (
            f"imported {self.imported} messages ({self.skipped} skipped)"
            f" in {self.seconds:.2f} s, {rate:.0f} messages/s"
        )


class _Progress:
    """A bar on ``stream`` (only when it is a terminal): bytes of the file when its size
    is known (compressed bytes for gzip), else lines."""

    def __init__(self, source: Input, stream: TextIO) -> None:
        self._source = source
        self._stream = stream
        self._by_bytes = source.size is not None
        self._bar = tqdm(
            total=source.size,
            unit="B" if self._by_bytes else " lines",
            unit_scale=True,
            desc="importing",
            file=stream,
            disable=None,  # None: off when not a terminal, so logs get no bar debris
            dynamic_ncols=True,
        )

    def advance(self, lines_read: int) -> None:
        position = self._source.position() if self._by_bytes else lines_read
        if position is not None:
            self._bar.update(position - self._bar.n)

    def write(self, text: str) -> None:
        tqdm.write(text, file=self._stream)  # above the bar, which is redrawn below

    def close(self) -> None:
        self._bar.close()


def _load(settings: Settings, batches: Iterator[ImportBatch], rejections: Rejections) -> int:
    """Hand the batches to the store's own fast path (``Store.import_messages``)."""

    def duplicate(number: int) -> None:
        rejections.reject(number, DUPLICATE_ID)

    async def load() -> int:
        store = store_from_settings(settings)
        await store.open()
        try:
            return await store.import_messages(batches, duplicate)
        finally:
            await store.close()

    return asyncio.run(load())


def import_file(
    settings: Settings, name: str, *, abort: bool, batch_size: int, stderr: TextIO
) -> ImportSummary:
    """Import ``name`` (``-``: standard input, gzip or not) into the database of
    ``settings``, whose schema must be migrated.

    Bad lines are reported on ``stderr`` as ``line N: field: reason`` and skipped, or
    under ``abort`` the first raises ImportAborted with nothing written. Everything is
    written in one transaction: on any exception the database is left as it was.
    Raises OSError for the file, StoreUnavailable / StoreError for the database.
    """
    started = time.perf_counter()
    # Millions of short-lived tuples and no cycles among them: the cyclic collector
    # would only spend a few percent of the time finding nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with open_input(name) as source:
            progress = _Progress(source, stderr)
            try:
                rejections = Rejections(abort=abort, report=progress.write)
                batches = read_batches(
                    source.lines,
                    batch_size=batch_size,
                    max_text_length=settings.max_text_length,
                    rejections=rejections,
                    on_batch=progress.advance,
                )
                imported = _load(settings, batches, rejections)
            finally:
                progress.close()
    finally:
        if collecting:
            gc.enable()
    return ImportSummary(imported, rejections.skipped, time.perf_counter() - started)
