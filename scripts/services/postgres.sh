#!/usr/bin/env bash
# A real PostgreSQL server on 127.0.0.1, for the database tests of genesis-core
# and for trying runs shared across machines (`-s run.database_url=...`).
#
#   scripts/services/postgres.sh start    # idempotent: creates the cluster once, starts it if down
#   scripts/services/postgres.sh status   # exit 0 when the server answers
#   scripts/services/postgres.sh url      # print the SQLAlchemy URL of the test database
#   scripts/services/postgres.sh stop     # stops the cluster this script created
#
# Needs Debian's `postgresql` package (pg_createcluster / pg_ctlcluster) and
# root, or runs initdb / pg_ctl directly when started as a non-root user that
# owns the state folder. The cluster is called `genesis`, listens only on
# 127.0.0.1 at ${GENESIS_PG_PORT:-55432}, trusts local connections (it is a
# throw-away test server: never expose it), and keeps its data in
# ${GENESIS_SERVICES_DIR:-/tmp/genesis-services}/postgres. The role and
# database are both `genesis`.
set -euo pipefail

STATE_DIR="${GENESIS_SERVICES_DIR:-/tmp/genesis-services}/postgres"
DATA="$STATE_DIR/data"
LOG="$STATE_DIR/postgres.log"
PORT="${GENESIS_PG_PORT:-55432}"
CLUSTER=genesis
ROLE=genesis
DB=genesis

say() { echo "postgres.sh: $*" >&2; }
die() { say "$*"; exit 1; }

pg_version() {
  local v
  v=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
  [[ -n "$v" ]] || die "PostgreSQL is not installed. Install it (as root) with: apt-get install --no-install-recommends postgresql"
  echo "$v"
}

bindir() { echo "/usr/lib/postgresql/$(pg_version)/bin"; }

as_postgres() {  # run a command as the server's user
  if [[ $(id -u) == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

has_cluster() {
  pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$(pg_version) $CLUSTER"
}

answers() {
  "$(bindir)/pg_isready" -q -h 127.0.0.1 -p "$PORT"
}

settings() {  # the server settings of this throw-away test cluster
  cat <<EOF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$STATE_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
}

create_cluster() {
  mkdir -p "$STATE_DIR"
  if [[ $(id -u) == 0 ]]; then
    chown postgres:postgres "$STATE_DIR"
    if has_cluster && [[ ! -f "$DATA/PG_VERSION" ]]; then  # registered, but its data folder was removed
      pg_dropcluster "$(pg_version)" "$CLUSTER" --stop >/dev/null 2>&1 || true
    fi
    if ! has_cluster; then
      say "creating cluster $CLUSTER in $DATA (port $PORT)"
      pg_createcluster "$(pg_version)" "$CLUSTER" -d "$DATA" -p "$PORT" -l "$LOG" -- --auth=trust --encoding=UTF8 >/dev/null
      settings > "/etc/postgresql/$(pg_version)/$CLUSTER/conf.d/genesis.conf"
    fi
  elif [[ ! -f "$DATA/PG_VERSION" ]]; then
    say "creating a server in $DATA (port $PORT)"
    "$(bindir)/initdb" -D "$DATA" --auth=trust --encoding=UTF8 -U postgres >/dev/null
    settings >> "$DATA/postgresql.conf"
  fi
}

start_server() {
  if [[ $(id -u) == 0 ]]; then
    pg_ctlcluster "$(pg_version)" "$CLUSTER" start
  else
    "$(bindir)/pg_ctl" -D "$DATA" -l "$LOG" -w start >/dev/null
  fi
}

ensure_role_and_db() {
  local psql=("$(bindir)/psql" -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
  if [[ -z $(as_postgres "${psql[@]}" -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname='$ROLE'") ]]; then
    as_postgres "${psql[@]}" -d postgres -c "CREATE ROLE $ROLE LOGIN CREATEDB SUPERUSER"
  fi
  if [[ -z $(as_postgres "${psql[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname='$DB'") ]]; then
    as_postgres "${psql[@]}" -d postgres -c "CREATE DATABASE $DB OWNER $ROLE"
  fi
}

cmd_start() {
  pg_version >/dev/null
  if ! answers; then
    create_cluster
    start_server || die "the server did not start; see $LOG"
    local deadline=$((SECONDS + 30))
    until answers; do
      ((SECONDS < deadline)) || die "the server did not answer on 127.0.0.1:$PORT within 30s; see $LOG"
      sleep 0.2
    done
  fi
  ensure_role_and_db
  say "running on 127.0.0.1:$PORT"
}

cmd_stop() {
  if [[ $(id -u) == 0 ]]; then
    if has_cluster; then
      pg_ctlcluster "$(pg_version)" "$CLUSTER" stop -m fast || true
    fi
  elif [[ -f "$DATA/postmaster.pid" ]]; then
    "$(bindir)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null || true
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) answers ;;
  url) echo "postgresql+psycopg://$ROLE@127.0.0.1:$PORT/$DB" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
