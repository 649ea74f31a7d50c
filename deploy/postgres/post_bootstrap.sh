#!/bin/sh
# Run once by Patroni on the node that initialises the cluster ($1: a superuser connection
# string): the application's role and database. Patroni 3 has no bootstrap.users.
set -eu
: "${TAGFEED_DB_PASSWORD:?}"
psql "$1" -v ON_ERROR_STOP=1 -v pw="$TAGFEED_DB_PASSWORD" <<'SQL'
CREATE ROLE tagfeed LOGIN PASSWORD :'pw';
CREATE DATABASE tagfeed OWNER tagfeed;
SQL
