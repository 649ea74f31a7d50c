"""Idempotency keys with the first response to each, for safe POST retries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

A row is written in the same transaction as the message it created, so a key is never
recorded without its message or the other way round. Rows older than the configured
time to live are ignored by lookups and purged in small batches.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SQLITE = [
    """CREATE TABLE idempotency_keys (
        user_id TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER NOT NULL,
        location TEXT NOT NULL,
        body BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, key)
    ) WITHOUT ROWID""",
]
_POSTGRES = [
    """CREATE TABLE idempotency_keys (
        user_id text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        fingerprint text NOT NULL,
        status smallint NOT NULL,
        location text NOT NULL,
        body bytea NOT NULL,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (user_id, key)
    )""",
]
_INDEXES = ["CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at)"]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in (_POSTGRES if postgres else _SQLITE) + _INDEXES:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE idempotency_keys")
