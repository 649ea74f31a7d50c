"""The relay: publishes the event log, in log order, to a NATS JetStream stream.

    subjects.py    which subject an event goes to (a tag as a subject token)
    jetstream.py   the stream's settings, created or checked on start; one batch published
    relaying.py    the loop: read after the checkpoint, publish, move the checkpoint on acks

Importing this package imports no NATS client. The relay's checkpoint is named by the
storage port, where the checkpoints are kept (``store/port.py``).
"""

from tagfeed.store.port import RELAY_CHECKPOINT as NAME

__all__ = ["NAME"]
