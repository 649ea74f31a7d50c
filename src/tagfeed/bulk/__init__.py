"""Bulk import and export of messages as JSON Lines (``tagfeed import`` / ``export``).

    lines.py          one line <-> one Message, validated like a POST
    files.py          files, gzip (by magic bytes), standard input and output
    batches.py        lines -> batches of valid messages; the bad-line policy
    importer.py       the import, end to end, with a progress bar
    export.py         the export, oldest first

``bulk`` talks to the storage port like the service does: ``Store.import_messages``
appends a MessagePosted per message with its views in one transaction, and
``Store.export_messages`` reads one snapshot; each adapter owns its fast path
(``store/sqlite_bulk.py``: the write path's one-statement append per batch;
``store/postgres_bulk.py``: binary COPY).
"""
