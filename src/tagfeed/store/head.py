"""The head of the log as one process knows it, and waiting for it to move."""

import asyncio


class HeadWatch:
    """The highest log position this process knows to be committed: its own appends,
    and whatever it read (``Store.head``) or was told (PostgreSQL NOTIFY). Every read
    that starts after ``seen`` was raised reflects at least that position, since a
    position is committed with the inline views' effects of its event.

    To be used from one event loop (the store's)."""

    def __init__(self) -> None:
        self.seen = 0
        self._moved = asyncio.Event()

    def advance(self, position: int) -> None:
        """Note that ``position`` is committed; wakes waiters when it is news."""
        if position > self.seen:
            self.seen = position
            moved, self._moved = self._moved, asyncio.Event()
            moved.set()

    async def wait_beyond(self, position: int, within: float) -> int:
        """``seen`` once it passes ``position``, or as it is after ``within`` seconds."""
        try:
            async with asyncio.timeout(within):
                while self.seen <= position:
                    await self._moved.wait()
        except TimeoutError:
            pass
        return self.seen
