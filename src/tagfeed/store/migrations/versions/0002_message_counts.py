"""Counts of messages per tag and per hour and day: the read model behind count=1 and
/v1/messages/counts, so a count sums a few hundred rows instead of scanning messages.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

A row counts the messages of ``tag`` (the empty string: every tag) created in
[start, start + span seconds), span 3600 (an hour) or 86400 (a UTC day). ``slot``
spreads one busy counter over several rows, so concurrent writers to one hot tag do not
queue on a single row lock; readers sum over the slots. The write path keeps these rows
in the same transaction as the messages they count. Existing messages are counted here.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SQLITE = [
    """CREATE TABLE message_counts (
        tag TEXT NOT NULL,
        span INTEGER NOT NULL,
        start INTEGER NOT NULL,
        slot INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (tag, span, start, slot)
    ) WITHOUT ROWID""",
    # created_at is in microseconds; floor it to the span (also before 1970, where SQLite's
    # integer division would round towards zero instead).
    """INSERT INTO message_counts (tag, span, start, slot, n)
       SELECT tag, span, created_at - ((created_at % (span * 1000000)) + span * 1000000)
                                      % (span * 1000000) AS start, 0, count(*)
       FROM messages, (SELECT 3600 AS span UNION ALL SELECT 86400)
       GROUP BY tag, span, start
       UNION ALL
       SELECT '', span, created_at - ((created_at % (span * 1000000)) + span * 1000000)
                                     % (span * 1000000) AS start, 0, count(*)
       FROM messages, (SELECT 3600 AS span UNION ALL SELECT 86400)
       GROUP BY span, start""",
]
_POSTGRES = [
    """CREATE TABLE message_counts (
        tag text COLLATE "C" NOT NULL,
        span integer NOT NULL,
        start timestamptz NOT NULL,
        slot smallint NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (tag, span, start, slot)
    )""",
    """INSERT INTO message_counts (tag, span, start, slot, n)
       SELECT tag, span, date_bin(make_interval(secs => span), created_at, 'epoch'), 0, count(*)
       FROM messages, (VALUES (3600), (86400)) AS spans (span)
       GROUP BY 1, 2, 3
       UNION ALL
       SELECT '', span, date_bin(make_interval(secs => span), created_at, 'epoch'), 0, count(*)
       FROM messages, (VALUES (3600), (86400)) AS spans (span)
       GROUP BY 1, 2, 3""",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRES if postgres else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE message_counts")
