#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster (for the service tests on PostGIS) and print its URL.
# Usage: scripts/test_postgres.sh [PORT]   (stop it with: pg_ctl -D <printed folder>/data stop)
# Needs Debian's postgresql-15-postgis-3; initdb refuses root, so as root it runs as 'postgres'.
set -euo pipefail
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PORT=${1:-55432}
DIR=$(mktemp -d /tmp/crossings-pg.XXXXXX)
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[ "$(id -u)" = 0 ] && chown postgres "$DIR"
as_owner "$BIN/initdb" -D "$DIR/data" -U postgres -A trust --no-sync >"$DIR/initdb.log"
as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off" start >/dev/null
echo "postgresql://postgres@127.0.0.1:$PORT/postgres $DIR"
