"""SQLite only: keep messages in (tag, created_at, id) order, in the table itself.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

A rowid table kept a tag's messages wherever their rowids put them, so a page of 50 for
a tag walked the (tag, created_at, id) index and then fetched 50 rows from 50 places of
the table. As a WITHOUT ROWID table clustered on (tag, created_at, id), a tag's page is
a few adjacent leaf pages: measured on 1.4M messages, a random tag's page of 51 rows
costs 26 us of SQLite instead of 59, and the file is a third smaller (the rowid table
and one index fewer). Lookups by id go through a unique index on id, to the key and
then the row, as they went through the primary key's index to the rowid before.
PostgreSQL keeps its heap and indexes: nothing to do there.

The upgrade copies every message once (in key order, so the new table is built
sequentially): a large database takes a while, in one transaction.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = "id, text, tag, user_id, created_at"


def _rebuild(create: str, order: str, indexes: list[str]) -> None:
    op.execute(create.replace("CREATE TABLE messages", "CREATE TABLE messages_rebuilt"))
    op.execute(
        f"INSERT INTO messages_rebuilt ({_COLUMNS})"
        f" SELECT {_COLUMNS} FROM messages ORDER BY {order}"
    )
    op.execute("DROP TABLE messages")  # and its indexes
    op.execute("ALTER TABLE messages_rebuilt RENAME TO messages")
    for index in indexes:
        op.execute(index)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(
        """CREATE TABLE messages (
            id TEXT NOT NULL,
            text TEXT NOT NULL,
            tag TEXT NOT NULL,
            user_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (tag, created_at, id)
        ) WITHOUT ROWID""",
        "tag, created_at, id",
        [
            "CREATE UNIQUE INDEX messages_id ON messages (id)",
            "CREATE INDEX messages_created_id ON messages (created_at DESC, id DESC)",
        ],
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(
        """CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            text TEXT NOT NULL,
            tag TEXT NOT NULL,
            user_id TEXT NOT NULL,
            created_at INTEGER NOT NULL
        )""",
        "created_at, id",
        [
            "CREATE INDEX messages_tag_created_id ON messages (tag, created_at DESC, id DESC)",
            "CREATE INDEX messages_created_id ON messages (created_at DESC, id DESC)",
        ],
    )
