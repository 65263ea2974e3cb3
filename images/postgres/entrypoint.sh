#!/bin/sh
# First start on an empty PGDATA: initdb with POSTGRES_USER and POSTGRES_PASSWORD (read from a
# 0600 file, never from argv), remote logins by scram-sha-256.
# Every start, on a socket-only server before the real one listens: give POSTGRES_USER its
# configured password, create POSTGRES_DB and the dashboard's role DASHBOARD_DB_USER (password
# DASHBOARD_DB_PASSWORD, owner of its schema only) when they are missing, and give the role its
# configured password and rights. So a volume made before the role existed, or under other
# secrets (`stagectl init --force`, a fresh clone), follows the env file; all of it is idempotent.
set -eu
if [ "${1:-}" = postgres ]; then
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    umask 077
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" --auth-local=trust \
      --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "stagectl-postgres: initialised $PGDATA (user $user, database $db)"
  fi
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  psql -v ON_ERROR_STOP=1 -q -U "$user" -d postgres -v db="$db" -v admin="$user" >/dev/null <<'SQL'
\getenv admin_password POSTGRES_PASSWORD
SELECT format('ALTER ROLE %I PASSWORD %L', :'admin', :'admin_password') \gexec
SELECT format('CREATE DATABASE %I', :'db') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
  if [ -n "${DASHBOARD_DB_USER:-}" ]; then
    # The dashboard's role: LOGIN only, owner of the schema named after it and nothing else.
    # psql's :'var' / :"var" quote the values (the password never reaches argv: \getenv).
    : "${DASHBOARD_DB_PASSWORD:?DASHBOARD_DB_PASSWORD must be set with DASHBOARD_DB_USER}"
    psql -v ON_ERROR_STOP=1 -q -U "$user" -d "$db" -v app="$DASHBOARD_DB_USER" -v db="$db" >/dev/null <<'SQL'
\getenv app_password DASHBOARD_DB_PASSWORD
SELECT format('CREATE ROLE %I', :'app') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L',
              :'app', :'app_password') \gexec
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA IF NOT EXISTS :"app" AUTHORIZATION :"app";
ALTER SCHEMA :"app" OWNER TO :"app";
ALTER DATABASE :"db" SET search_path = :"app", public;
SQL
    echo "stagectl-postgres: role $DASHBOARD_DB_USER and its schema in database $db are in place"
  fi
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  shift
  exec postgres -c listen_addresses='*' "$@"
fi
exec "$@"
