#!/usr/bin/env bash
# The demo: installs what is missing, starts a local MariaDB (source) and PostgreSQL (target) on
# 127.0.0.1, creates a sample `shop` database, and runs Ferry into PostgreSQL while a writer keeps
# changing the source; then stops Ferry gracefully and compares row counts.
#
#   DEMO_ROWS=20000 DEMO_SECONDS=20 bash scripts/demo.sh      (DEMO_KEEP=1 leaves the servers up)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
ROWS="${DEMO_ROWS:-40000}"
SECONDS_LIVE="${DEMO_SECONDS:-20}"
MY_PORT="${DEMO_MYSQL_PORT:-23306}"
PG_PORT="${DEMO_PG_PORT:-25432}"
RUN="$ROOT/.run/demo"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ ! -d node_modules/better-sqlite3/build ] || [ ! -d node_modules/mysql2 ]; then
  say "installing npm packages (builds better-sqlite3 from source: about 2 minutes)"
  npm ci --no-audit --no-fund
fi
say "building Ferry"
npx tsc -p tsconfig.json

say "installing and starting MariaDB :$MY_PORT and PostgreSQL :$PG_PORT (data in $RUN)"
bash scripts/servers.sh install
bash scripts/servers.sh stop "$RUN/mariadb" 2>/dev/null || true
bash scripts/servers.sh stop "$RUN/postgres" 2>/dev/null || true
rm -rf "$RUN"; mkdir -p "$RUN"
bash scripts/servers.sh start-mariadb "$RUN/mariadb" "$MY_PORT"
bash scripts/servers.sh start-postgres "$RUN/postgres" "$PG_PORT"
cleanup() {
  [ -n "${WRITER_PID:-}" ] && kill "$WRITER_PID" 2>/dev/null || true
  [ -n "${FERRY_PID:-}" ] && kill "$FERRY_PID" 2>/dev/null || true
  if [ "${DEMO_KEEP:-0}" != 1 ]; then
    bash scripts/servers.sh stop "$RUN/mariadb" || true
    bash scripts/servers.sh stop "$RUN/postgres" || true
  else
    echo "servers left running; stop them with: bash scripts/servers.sh stop $RUN/mariadb; bash scripts/servers.sh stop $RUN/postgres"
  fi
}
trap cleanup EXIT

# A read-only replication account: all Ferry needs on the source.
mariadb --no-defaults --socket="$RUN/mariadb/mysqld.sock" -uroot -e "
  CREATE USER 'ferry_cdc'@'127.0.0.1' IDENTIFIED BY 'cdc-secret';
  GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'ferry_cdc'@'127.0.0.1';"
PGPASSWORD=ferry psql -q -h 127.0.0.1 -p "$PG_PORT" -U ferry -d postgres -c "CREATE DATABASE dw"

say "creating the sample shop database ($ROWS rows)"
node dist/src/demo/shop.js create --port "$MY_PORT" --rows "$ROWS"

cat >"$RUN/pipeline.yaml" <<YAML
source:
  type: mariadb
  hostname: 127.0.0.1
  port: $MY_PORT
  username: ferry_cdc
  password: \${DEMO_SOURCE_PASSWORD}
  tables: shop\\..*
  scan.startup.mode: initial
sink:
  type: postgres
  hostname: 127.0.0.1
  port: $PG_PORT
  username: ferry
  password: \${DEMO_SINK_PASSWORD}
  database: dw
pipeline:
  name: shop-to-dw
  parallelism: 2
  state-dir: $RUN/state
YAML
export DEMO_SOURCE_PASSWORD=cdc-secret DEMO_SINK_PASSWORD=ferry
say "pipeline file: $RUN/pipeline.yaml"
cat "$RUN/pipeline.yaml"

say "ferry check"
bin/ferry check "$RUN/pipeline.yaml"

say "live writes on the source for ${SECONDS_LIVE}s while ferry runs (snapshot, then streaming)"
node dist/src/demo/shop.js write --port "$MY_PORT" --seconds "$SECONDS_LIVE" --rate 300 &
WRITER_PID=$!
bin/ferry run "$RUN/pipeline.yaml" --metrics-port "${DEMO_METRICS_PORT:-9464}" &
FERRY_PID=$!
wait "$WRITER_PID"; WRITER_PID=
sleep 3
say "ferry status"
bin/ferry status "$RUN/pipeline.yaml"
# Let the stream drain, then stop gracefully (flush, checkpoint, exit 0).
sleep 4
kill -TERM "$FERRY_PID"; wait "$FERRY_PID"; FERRY_PID=

say "row counts: source (MariaDB) vs target (PostgreSQL)"
ok=1
for t in customers products orders order_items; do
  s=$(mariadb --no-defaults --socket="$RUN/mariadb/mysqld.sock" -uroot -N -e "SELECT COUNT(*) FROM shop.$t")
  d=$(PGPASSWORD=ferry psql -h 127.0.0.1 -p "$PG_PORT" -U ferry -d dw -tA -c "SELECT COUNT(*) FROM shop.$t")
  mark="equal"; [ "$s" = "$d" ] || { mark="DIFFERENT"; ok=0; }
  printf '  %-12s source %8s   target %8s   %s\n' "$t" "$s" "$d" "$mark"
done
[ "$ok" = 1 ] && say "demo done: target equals source" || { say "demo: counts differ"; exit 1; }
