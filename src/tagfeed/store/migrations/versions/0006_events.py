"""The event log, and the checkpoints of the reducers that follow it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

``events`` is append-only: ``position`` is strictly increasing in commit order with no
gaps (docs/architecture.md, "The event log"), ``event_id`` is unique (a MessagePosted's
is its message's id), ``payload`` the event's JSON. On PostgreSQL triggers refuse
UPDATE, DELETE and TRUNCATE, and ``event_head`` holds the last position given out: an
append locks its row until commit, so positions become visible in order.
``reducer_checkpoints`` holds, per catch-up reducer, the last position it applied
(written in the same transaction as its effects) and, on SQLite, its lease.

Existing messages become MessagePosted events, oldest first. This SQL is frozen here on
purpose (a migration must not import code that goes on changing): it writes the
payload as ``tagfeed.store.codec`` wrote version 1 on this date.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SQLITE = [
    """CREATE TABLE events (
        position INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        version INTEGER NOT NULL,
        payload TEXT NOT NULL,
        recorded_at INTEGER NOT NULL
    )""",
    """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
       BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END""",
    """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
       BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END""",
    # created_at: integer microseconds, floored to the second also before 1970.
    """INSERT INTO events (event_id, type, version, payload, recorded_at)
       SELECT id, 'MessagePosted', 1, json_object(
           'id', id, 'text', text, 'tag', tag, 'user_id', user_id,
           'created_at', strftime('%Y-%m-%dT%H:%M:%S',
                                  (created_at - ((created_at % 1000000) + 1000000) % 1000000)
                                  / 1000000, 'unixepoch')
                         || printf('.%06dZ', ((created_at % 1000000) + 1000000) % 1000000)),
           CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
       FROM messages ORDER BY created_at, id""",
    """CREATE TABLE reducer_checkpoints (
        name TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        lease_owner TEXT,
        lease_until INTEGER
    ) WITHOUT ROWID""",
]
_POSTGRES = [
    """CREATE TABLE events (
        position bigint PRIMARY KEY,
        event_id uuid NOT NULL UNIQUE,
        type text NOT NULL,
        version smallint NOT NULL,
        payload json NOT NULL,
        recorded_at timestamptz NOT NULL
    )""",
    """CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           RAISE EXCEPTION 'events are append-only: % refused', TG_OP
               USING ERRCODE = 'insufficient_privilege';
       END $$""",
    """CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
       FOR EACH ROW EXECUTE FUNCTION events_refuse_change()""",
    """CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
       FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change()""",
    """INSERT INTO events (position, event_id, type, version, payload, recorded_at)
       SELECT row_number() OVER (ORDER BY created_at, id), id, 'MessagePosted', 1,
              json_build_object('id', id, 'text', text, 'tag', tag, 'user_id', user_id,
                  'created_at', to_char(created_at AT TIME ZONE 'UTC',
                                        'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
              now()
       FROM messages""",
    """CREATE TABLE event_head (
        id integer PRIMARY KEY CHECK (id = 1),
        position bigint NOT NULL
    )""",
    "INSERT INTO event_head SELECT 1, coalesce(max(position), 0) FROM events",
    """CREATE TABLE reducer_checkpoints (
        name text PRIMARY KEY,
        position bigint NOT NULL,
        lease_owner text,
        lease_until timestamptz
    )""",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRES if postgres else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE reducer_checkpoints")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE event_head")
        op.execute("DROP TABLE events")
        op.execute("DROP FUNCTION events_refuse_change()")
    else:
        op.execute("DROP TABLE events")
