"""A server that could not read the log's head at the start keeps trying until it can,
then stops (``tagfeed.api.app._learn_head``). The database's failures are made on demand
here: a store whose ``head`` fails a given number of times."""

import asyncio

from tagfeed.api.app import _learn_head
from tagfeed.store.errors import StoreUnavailable
from tagfeed.store.port import Store


class _FlakyHead:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def head(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise StoreUnavailable("down")
        return 42


def test_it_reads_the_head_once_the_database_answers_and_stops() -> None:
    store = _FlakyHead(failures=2)

    async def run() -> None:
        flaky: Store = store  # type: ignore[assignment]  # only head() is called
        await asyncio.wait_for(_learn_head(flaky, every=0.001), timeout=5)

    asyncio.run(run())
    assert store.calls == 3
