"""The relay: publishes the event log, in log order, to a NATS JetStream stream.

    subjects.py    which subject an event goes to (a tag as a subject token)
    jetstream.py   the stream's settings, created or checked on start; one batch published
    relaying.py    the loop: read after the checkpoint, publish, move the checkpoint on acks

Importing this package imports no NATS client: the store adapters name the relay's
checkpoint (``NAME``) without it.
"""

# The relay's row in reducer_checkpoints: the last position JetStream acknowledged.
NAME = "relay"
