"""The domain's exceptions.

DomainError
├── InvalidInput       a field or parameter breaks a rule (names which one)
└── MessageNotFound    no message has the given id
"""


class DomainError(Exception):
    """Base of every error the domain raises."""


class InvalidInput(DomainError):
    """A field or query parameter breaks a rule; ``field`` names it."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


class MessageNotFound(DomainError):
    def __init__(self, message_id: str) -> None:
        super().__init__(f"no message with id {message_id!r}")
        self.message_id = message_id
