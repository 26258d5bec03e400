#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what is missing (npm packages, MariaDB and
# PostgreSQL from Debian), builds, starts throwaway servers on 127.0.0.1, runs unit, integration
# and fault tests against them, and stops the servers by PID. `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

if [ ! -d node_modules/better-sqlite3/build ] || [ ! -d node_modules/mysql2 ]; then
  echo "[test] installing npm packages"
  npm ci --no-audit --no-fund
fi
echo "[test] building"
npx tsc -p tsconfig.json

bash scripts/servers.sh install

free_port() { # first free TCP port from $1 upwards
  local p="$1"
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}
RUN="$ROOT/.run/test-$$"
mkdir -p "$RUN"
export FERRY_TEST_RUN_DIR="$RUN"
export FERRY_TEST_MYSQL_PORT="${FERRY_TEST_MYSQL_PORT:-$(free_port 43306)}"
export FERRY_TEST_PG_PORT="${FERRY_TEST_PG_PORT:-$(free_port 45432)}"
cleanup() {
  bash scripts/servers.sh stop "$RUN/mariadb" || true
  bash scripts/servers.sh stop "$RUN/postgres" || true
  rm -rf "$RUN"
}
trap cleanup EXIT
bash scripts/servers.sh start-mariadb "$RUN/mariadb" "$FERRY_TEST_MYSQL_PORT"
bash scripts/servers.sh start-postgres "$RUN/postgres" "$FERRY_TEST_PG_PORT"

suites=(dist/test/unit/ dist/test/integration/)
if [ -d dist/test/faults ]; then suites+=(dist/test/faults/); fi
echo "[test] running ${suites[*]}"
# Integration and fault tests share the two servers: run files one at a time.
node --test --test-concurrency=1 --test-timeout=600000 "${suites[@]}"
