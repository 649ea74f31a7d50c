"""Bulk import and export of messages as JSON Lines (``tagfeed import`` / ``export``).

    lines.py          one line <-> one Message, validated like a POST
    files.py          files, gzip (by magic bytes), standard input and output
    batches.py        lines -> batches of valid messages; the bad-line policy
    prefetch.py       reading ahead on a thread while the database writes
    counting.py       the counter increments of a batch
    sqlite_load.py    SQLite: executemany in one transaction
    postgres_load.py  PostgreSQL: binary COPY in one transaction
    importer.py       the import, end to end, with a progress bar
    export.py         keyset-batched export, oldest first

Bulk loading bypasses the store's unit of work on purpose: it writes straight to the
tables the migrations define, through each driver's fastest path, keeping the same
rows (messages and their counters) the write path keeps.
"""
