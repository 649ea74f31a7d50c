"""The discoverable data set (PostgreSQL): read-only views over the read models in a
schema of their own, ``catalogue``, and a role that may read them and nothing else,
``tagfeed_analyst`` (docs/data-catalogue.md).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

The views belong to the role that migrates, so they read the tables with its rights: the
analyst needs SELECT on the views only, never on a table. The role is cluster-wide and
NOLOGIN: an operator grants it to people (``GRANT tagfeed_analyst TO alice``). Creating
it needs CREATEROLE (or a superuser); a migrating role without it skips that step with a
NOTICE, and the operator creates the role and runs the grants at the end of
docs/data-catalogue.md. Everything else needs only what the migrating role already has
as the owner of the tables and the database (CREATE on it, for the schema).
Downgrade drops the schema but keeps the role: other databases may use it. Grants go to
the role, not to the views: ``tagfeed rebuild`` makes the views again (and grants them to
the role), since a view binds to the table it reads.

SQLite has no roles, nor schemas: nothing to do there.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ROLE = "tagfeed_analyst"

_VIEWS = {
    "messages": """SELECT id, text, tag, user_id, created_at FROM public.messages""",
    "events": """SELECT position, event_id, type, version, payload, recorded_at
                 FROM public.events""",
    "hourly_counts": """SELECT nullif(tag, '') AS tag, start AS hour, sum(n)::bigint AS messages
                        FROM public.message_counts WHERE span = 3600 GROUP BY tag, start""",
    "daily_counts": """SELECT nullif(tag, '') AS tag, start AS day, sum(n)::bigint AS messages
                       FROM public.message_counts WHERE span = 86400 GROUP BY tag, start""",
    "tag_stats": """SELECT tag, messages, first_at, last_at FROM public.tag_stats""",
    "trending_tags": """SELECT CASE window_hours WHEN 1 THEN '1h' WHEN 24 THEN '24h'
                                                  ELSE '7d' END AS window_name,
                               tag, observed AS count, expected, score,
                               rank() OVER (PARTITION BY window_hours ORDER BY score DESC)
                                   AS rank,
                               to_timestamp(((SELECT observed FROM public.trending_tags
                                              WHERE window_hours = 0) + 1) * 3600)
                                   AS window_end
                        FROM public.trending_tags WHERE window_hours > 0 AND score > 0""",
}

_CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
        IF (SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            CREATE ROLE {ROLE} NOLOGIN;
        ELSE
            RAISE NOTICE 'role {ROLE} not created: % lacks CREATEROLE (docs/data-catalogue.md)',
                current_user;
        END IF;
    END IF;
END $$"""

# Views bind to the tables they read, and ``tagfeed rebuild`` drops a view's table and
# renames a fresh one in its place: it calls this with false before, true after, in its
# swap transaction (store/postgres_rebuild.py). Not for PUBLIC: only the owner runs it.
_CREATE_VIEWS = "".join(
    f"        CREATE VIEW catalogue.{name} AS {query};\n" for name, query in _VIEWS.items()
)
_DEFINE = f"""
CREATE FUNCTION tagfeed_catalogue(attach boolean) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    DROP VIEW IF EXISTS {", ".join(f"catalogue.{name}" for name in _VIEWS)};
    IF attach THEN
{_CREATE_VIEWS}
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
            GRANT USAGE ON SCHEMA catalogue TO {ROLE};
            GRANT SELECT ON ALL TABLES IN SCHEMA catalogue TO {ROLE};
        END IF;
    END IF;
END $f$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE SCHEMA catalogue")
    op.execute("REVOKE ALL ON SCHEMA catalogue FROM PUBLIC")
    op.execute(_CREATE_ROLE)
    op.execute(_DEFINE)
    op.execute("REVOKE ALL ON FUNCTION tagfeed_catalogue(boolean) FROM PUBLIC")
    op.execute("SELECT tagfeed_catalogue(true)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SCHEMA catalogue CASCADE")
        op.execute("DROP FUNCTION tagfeed_catalogue(boolean)")
