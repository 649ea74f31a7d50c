"""The trending view (``tagfeed.reducers.trending``, ``store/trending_views.py``): per
window and tag the uses observed, the baseline, the expected uses and the score, and the
posts per tag and hour it is kept from (rows of window -1), in one table, so that a
rebuild makes and swaps one table; kept by the ``trending`` catch-up reducer.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

Starts empty with no checkpoint: the reducer folds the whole log on its first run.
Integers for hours (since the epoch) on both backends: the statements are shared.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _statements(postgres: bool) -> list[str]:
    text = 'text COLLATE "C"' if postgres else "TEXT"
    suffix = "" if postgres else " WITHOUT ROWID"
    return [
        f"""CREATE TABLE trending_tags (
            window_hours integer NOT NULL,
            hour bigint NOT NULL,
            tag {text} NOT NULL,
            observed bigint NOT NULL,
            baseline bigint NOT NULL,
            expected double precision NOT NULL,
            score double precision NOT NULL,
            PRIMARY KEY (window_hours, hour, tag)
        ){suffix}""",
        # A GET reads the first rows of this index: no sort, however many tags.
        "CREATE INDEX trending_tags_by_score ON trending_tags (window_hours, score DESC, tag)",
    ]


def upgrade() -> None:
    for statement in _statements(op.get_bind().dialect.name == "postgresql"):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE trending_tags")
