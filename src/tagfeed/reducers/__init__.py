"""Reducers: pure folds from events to the changes of one read model each.

    messages.py   the messages view: each MessagePosted adds its message
    counts.py     the per-tag hourly and daily counters behind every count

A reducer knows nothing of SQL (standard library and the domain only): it says *what*
changes; each store adapter applies the changes its own way. The same fold serves
inline (in the append's own transaction: the write path), catching up from a
checkpoint, and rebuilding from position 0 (``docs/events.md``).
"""
