"""Messages, with the indexes every read of the v1 contract needs.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

SQLite keeps ``created_at`` as integer microseconds since the Unix epoch (compact and
compared as integers); PostgreSQL as ``timestamptz``. Tags use the "C" collation on
PostgreSQL: they are compared for equality only, byte-wise is all we need and fastest.
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SQLITE = [
    """CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        text TEXT NOT NULL,
        tag TEXT NOT NULL,
        user_id TEXT NOT NULL,
        created_at INTEGER NOT NULL
    )""",
]
_POSTGRES = [
    """CREATE TABLE messages (
        id uuid PRIMARY KEY,
        text text NOT NULL,
        tag text COLLATE "C" NOT NULL,
        user_id text NOT NULL,
        created_at timestamptz NOT NULL
    )""",
]
# Newest-first keyset pages and counts, by tag and over all tags.
_INDEXES = [
    "CREATE INDEX messages_tag_created_id ON messages (tag, created_at DESC, id DESC)",
    "CREATE INDEX messages_created_id ON messages (created_at DESC, id DESC)",
]


def upgrade() -> None:
    statements = _POSTGRES if op.get_bind().dialect.name == "postgresql" else _SQLITE
    for statement in statements + _INDEXES:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE messages")
