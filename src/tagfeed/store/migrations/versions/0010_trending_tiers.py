"""The trending view ranks through its scores' tiers (``store/trending_views.py``,
``tier_sql``): a column ``tier``, the score's order of magnitude, and the index on
(window_hours, tier DESC) in place of the one on (window_hours, score DESC, tag), so that
a post that leaves a tag's tier as it was changes no indexed column (on PostgreSQL an
update in place, a HOT update; docs/performance.md, "Reducer lag, fourth pass").

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

The rows there are get their tier from their score, by the same rule as the reducer's
(written out here, as of this revision). The catalogue's view of the table reads the
score, not the tier: it needs nothing.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# tier 0: a score of 0; tier n: a score below 10^(n - 1); 14: 10^12 and above.
_TIER = (
    "CASE WHEN score <= 0 THEN 0 "
    + " ".join(f"WHEN score < {10**k} THEN {k + 1}" for k in range(13))
    + " ELSE 14 END"
)


def upgrade() -> None:
    op.execute("ALTER TABLE trending_tags ADD COLUMN tier integer NOT NULL DEFAULT 0")
    op.execute(f"UPDATE trending_tags SET tier = {_TIER} WHERE window_hours > 0")
    op.execute("DROP INDEX trending_tags_by_score")
    op.execute("CREATE INDEX trending_tags_by_tier ON trending_tags (window_hours, tier DESC)")


def downgrade() -> None:
    op.execute("DROP INDEX trending_tags_by_tier")
    op.execute("ALTER TABLE trending_tags DROP COLUMN tier")
    op.execute(
        "CREATE INDEX trending_tags_by_score ON trending_tags (window_hours, score DESC, tag)"
    )
