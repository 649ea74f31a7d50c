"""structlog set up for one JSON object per line on stdout.

The processors are few and cheap because the access log runs once per request: the
level, a UTC timestamp built from ``time.time()``, and msgspec for the JSON.
"""

import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import msgspec
import structlog

_encoder = msgspec.json.Encoder()


def _level(logger: object, method: str, event: MutableMapping[str, Any]) -> Any:
    event["level"] = method
    return event


def _timestamp(logger: object, method: str, event: MutableMapping[str, Any]) -> Any:
    now = time.time()
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    event["timestamp"] = f"{seconds}.{int(now % 1 * 1_000_000):06d}Z"
    return event


def _render(event: MutableMapping[str, Any], **_: object) -> bytes:
    return _encoder.encode(event)


def configure_logging(level: str) -> None:
    """Idempotent; called by the app factory, never at import."""
    structlog.configure(
        processors=[
            _level,
            _timestamp,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_render),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.BytesLoggerFactory(sys.stdout.buffer),
        cache_logger_on_first_use=True,
    )
