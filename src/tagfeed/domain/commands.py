"""Commands: what a caller asks the service to do (imperative names)."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PostMessage:
    text: str
    tag: str
    user_id: str
