"""What the API's handlers use, made once by the app factory and handed to every ``Call``:
nothing is looked up per request (no ``app.state``)."""

from dataclasses import dataclass

from tagfeed.auth.identity import Authenticator
from tagfeed.config import Settings
from tagfeed.service.messages import MessageService
from tagfeed.service.streams import StreamHub
from tagfeed.service.trends import TrendService


@dataclass(frozen=True, slots=True)
class AppParts:
    settings: Settings
    service: MessageService
    trends: TrendService
    streams: StreamHub
    authenticator: Authenticator
