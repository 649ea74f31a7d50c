"""An in-memory store for unit tests of the service layer. Not for serving."""

from tagfeed.domain.model import Message
from tagfeed.domain.pagination import PageRequest
from tagfeed.domain.queries import MessageFilter
from tagfeed.store.port import UnitOfWork


def _matches(message: Message, where: MessageFilter) -> bool:
    return (where.tag is None or message.tag == where.tag) and where.period.contains(
        message.created_at
    )


class MemoryStore:
    def __init__(self) -> None:
        self.messages: dict[str, Message] = {}

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def apply(self, work: UnitOfWork) -> None:
        for message in work.new_messages:
            self.messages[message.id] = message

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

    async def count(self, where: MessageFilter) -> int:
        return sum(1 for m in self.messages.values() if _matches(m, where))

    async def ping(self) -> None:
        pass
