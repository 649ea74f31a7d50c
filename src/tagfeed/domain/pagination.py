"""Keyset pagination over (created_at, id), newest first, with opaque cursors."""

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from tagfeed.domain.errors import InvalidInput
from tagfeed.domain.ids import epoch_micros, from_epoch_micros, is_message_id

_VERSION = "1"


@dataclass(frozen=True, slots=True)
class Cursor:
    """The position of the last message of a page; the next page starts strictly after it
    in (created_at, id) descending order, so rows posted meanwhile never shift a page."""

    created_at: datetime
    id: str

    def encode(self) -> str:
        raw = f"{_VERSION}.{epoch_micros(self.created_at)}.{self.id}".encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, token: str) -> "Cursor":
        """Raises InvalidInput (field ``cursor``) for any token we did not hand out."""
        try:
            padded = token + "=" * (-len(token) % 4)
            raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
            version, micros, message_id = raw.split(".")
            if version != _VERSION or not is_message_id(message_id):
                raise ValueError(raw)
            if not micros.isdigit() or len(micros) > 18:
                raise ValueError(raw)
            return cls(from_epoch_micros(int(micros)), message_id)
        except (ValueError, UnicodeError, binascii.Error, OverflowError):
            raise InvalidInput("cursor", "is not a cursor this service handed out") from None


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    after: Cursor | None = None
