"""A generation number for the counters, bumped by every write that can change a count
of the past (bulk import), so readers may cache counts of sealed periods safely.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Posts never need to bump it: a post is stamped with the server's clock, so it only counts
in periods that are still open. An import writes messages of any age: it bumps the
generation in the same transaction as its counters.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE counter_generation ("
        " id INTEGER PRIMARY KEY CHECK (id = 1), generation BIGINT NOT NULL)"
    )
    op.execute("INSERT INTO counter_generation VALUES (1, 0)")


def downgrade() -> None:
    op.execute("DROP TABLE counter_generation")
