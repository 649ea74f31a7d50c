"""The tags view: each tag's number of messages and its first and last post, kept by the
``tags`` catch-up reducer (``tagfeed.reducers.tags``) from its checkpoint.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Starts empty with no checkpoint: the reducer folds the whole log on its first run.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_SQLITE = """CREATE TABLE tag_stats (
    tag TEXT PRIMARY KEY,
    messages INTEGER NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL
) WITHOUT ROWID"""
_POSTGRES = """CREATE TABLE tag_stats (
    tag text COLLATE "C" PRIMARY KEY,
    messages bigint NOT NULL,
    first_at timestamptz NOT NULL,
    last_at timestamptz NOT NULL
)"""


def upgrade() -> None:
    op.execute(_POSTGRES if op.get_bind().dialect.name == "postgresql" else _SQLITE)


def downgrade() -> None:
    op.execute("DROP TABLE tag_stats")
