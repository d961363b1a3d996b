#!/usr/bin/env bash
# Install (if needed) and start a throwaway PostgreSQL for the test suite, then print the URL
# for ARENA_TEST_DATABASE_URL on stdout (everything else goes to stderr):
#
#     export ARENA_TEST_DATABASE_URL="$(scripts/ci/postgres.sh)"
#     .venv/bin/python -m pytest
#
# It uses Debian's packaged server and its own cluster, "arena-ci" (created with
# pg_createcluster, started with pg_ctlcluster), so a machine's main cluster is never touched.
# That cluster trades durability for speed (fsync off: fine for tests, never for real data).
# Runs as root (apt-get, pg_ctlcluster); safe to run again: it only does what is missing.
#
# Settings (environment): ARENA_CI_PG_CLUSTER (arena-ci), ARENA_CI_PG_PORT (5433),
# ARENA_CI_PG_USER (arena_test), ARENA_CI_PG_PASSWORD (arena_test), ARENA_CI_PG_DB (arena_test).
set -euo pipefail

cluster="${ARENA_CI_PG_CLUSTER:-arena-ci}"
port="${ARENA_CI_PG_PORT:-5433}"
user="${ARENA_CI_PG_USER:-arena_test}"
password="${ARENA_CI_PG_PASSWORD:-arena_test}"
database="${ARENA_CI_PG_DB:-arena_test}"

log() { echo "postgres.sh: $*" >&2; }

if [[ "$(id -u)" != 0 ]]; then
    log "run me as root (apt-get and pg_ctlcluster need it)"
    exit 1
fi

if ! command -v pg_createcluster >/dev/null || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    log "installing PostgreSQL (Debian's package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
fi

version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"

if ! pg_lsclusters -h | awk '{print $1 "/" $2}' | grep -qx "$version/$cluster"; then
    log "creating cluster $version/$cluster on port $port"
    pg_createcluster --port "$port" "$version" "$cluster" >&2
    # A throwaway test server: no durability, room for several test processes' pools.
    pg_conftool "$version" "$cluster" set fsync off >&2
    pg_conftool "$version" "$cluster" set synchronous_commit off >&2
    pg_conftool "$version" "$cluster" set full_page_writes off >&2
    pg_conftool "$version" "$cluster" set max_connections 300 >&2
fi
port="$(pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c {print $3}')"
# No autovacuum: each test's database lives for a second, and an autovacuum worker connected
# to it would stop DROP DATABASE ... WITH (FORCE) (only superusers may terminate it).
pg_conftool "$version" "$cluster" set autovacuum off >&2

if pg_ctlcluster "$version" "$cluster" status >/dev/null 2>&1; then
    pg_ctlcluster "$version" "$cluster" reload >&2
else
    log "starting cluster $version/$cluster"
    # pg_ctl copes with a stale pid file (a killed container); if it fails, show why.
    pg_ctlcluster "$version" "$cluster" start >&2 || {
        log "start failed; the server log says:"
        tail -n 20 "/var/log/postgresql/postgresql-$version-$cluster.log" >&2 || true
        exit 1
    }
fi

for _ in $(seq 1 120); do
    if pg_isready -q -h 127.0.0.1 -p "$port"; then
        break
    fi
    sleep 0.5
done
if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
    log "PostgreSQL on port $port did not become ready within 60 s"
    exit 1
fi

psql_admin() {
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@"
}

# The test role creates one database per test (from a template), hence CREATEDB.
if [[ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$user'")" != 1 ]]; then
    log "creating role $user"
    psql_admin -c "CREATE ROLE \"$user\" LOGIN CREATEDB PASSWORD '$password'"
fi
# DROP DATABASE ... WITH (FORCE) ends the dropped database's sessions (a killed test's).
psql_admin -c "GRANT pg_signal_backend TO \"$user\"" 2>/dev/null
if [[ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'")" != 1 ]]; then
    log "creating database $database"
    psql_admin -c "CREATE DATABASE \"$database\" OWNER \"$user\""
fi

echo "postgresql+psycopg://$user:$password@127.0.0.1:$port/$database"
