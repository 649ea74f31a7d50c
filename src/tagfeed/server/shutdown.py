"""Telling the app when the server's graceful shutdown begins.

On SIGTERM (or SIGINT) a granian worker stops accepting connections and then waits for
the open ones to finish their responses before it runs the app's lifespan shutdown: a
live stream never finishes by itself, so without a word it would hold the shutdown until
granian's main process kills the worker (``serving.py``, ``workers_kill_timeout``). ASGI
has no message for "shutdown has begun", so the app chains a callback onto the signal
handlers the worker's event loop installed before starting it (``signal.signal``,
public; the loop itself hears the signal through its wakeup file descriptor either way).
"""

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def on_shutdown_signal(callback: Callable[[], None]) -> Callable[[], None]:
    """Run ``callback`` on the running loop when SIGTERM or SIGINT arrives, then the
    handler that was there before. Only when a server installed handlers for both (a
    default or ignored disposition means no server is listening for them: nothing is
    changed). Returns a function that puts the previous handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    if not all(callable(handler) for handler in previous.values()):
        return lambda: None
    loop = asyncio.get_running_loop()

    def chained(sig: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(callback)
        handler = previous[signal.Signals(sig)]
        if callable(handler):
            handler(sig, frame)

    for sig in SIGNALS:
        signal.signal(sig, chained)

    def restore() -> None:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is chained:
                signal.signal(sig, handler)

    return restore
