#!/usr/bin/env bash
# Starts and stops throwaway MariaDB and PostgreSQL servers on 127.0.0.1 for tests, demo and
# benchmarks. Data directories live under the given run directory; servers are stopped by PID.
#
#   scripts/servers.sh install                         apt-get the server packages when missing
#   scripts/servers.sh start-mariadb DIR PORT [ARGS]   init + start MariaDB (binlog on, ROW)
#   scripts/servers.sh start-postgres DIR PORT         init + start PostgreSQL 15 (wal_level=logical)
#   scripts/servers.sh stop DIR                        stop the server whose pid file is in DIR
#
# Accounts created: MariaDB root (no password, socket + 127.0.0.1) and `ferry`/`ferry` with ALL;
# PostgreSQL superuser `ferry`/`ferry` (md5 over TCP).
set -euo pipefail

log() { echo "[servers] $*" >&2; }

install_packages() {
  local need=()
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server mariadb-client)
  pg_bin_dir >/dev/null 2>&1 || need+=(postgresql)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d keeps the packages from starting system-wide servers we do not use
    apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

pg_bin_dir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  return 1
}

mariadbd_bin() {
  if [ -x /usr/sbin/mariadbd ]; then echo /usr/sbin/mariadbd; else command -v mariadbd; fi
}

wait_for() { # cmd... ; up to 60 s
  local i
  for i in $(seq 1 240); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  return 1
}

start_mariadb() {
  local dir="$1" port="$2"; shift 2
  dir="$(realpath -m "$dir")"
  mkdir -p "$dir"
  if [ ! -d "$dir/data/mysql" ]; then
    rm -rf "$dir/data"; mkdir -p "$dir/data"
    mariadb-install-db --no-defaults --user=root --datadir="$dir/data" --auth-root-authentication-method=normal \
      --skip-test-db >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; return 1; }
  fi
  local bin; bin="$(mariadbd_bin)"
  # Its own tmpdir: a cleaner of /tmp must not delete the server's open temporary tables.
  mkdir -p "$dir/tmp"
  # --no-defaults: nothing from the machine's my.cnf leaks in.
  "$bin" --no-defaults --user=root --datadir="$dir/data" --tmpdir="$dir/tmp" --port="$port" --bind-address=127.0.0.1 \
    --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" \
    --log-bin="$dir/data/binlog" --binlog-format=ROW --server-id="${FERRY_SERVER_ID:-1}" \
    --innodb-buffer-pool-size=256M --innodb-log-file-size=256M --innodb-flush-log-at-trx-commit=2 \
    --sync-binlog=0 --max-allowed-packet=1G --skip-name-resolve --character-set-server=utf8mb4 \
    --collation-server=utf8mb4_unicode_ci --gtid-strict-mode=0 --max-connections=500 \
    "$@" >/dev/null 2>&1 &
  if ! wait_for mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot -e 'SELECT 1'; then
    log "MariaDB did not start; see $dir/error.log"; tail -20 "$dir/error.log" >&2 || true; return 1
  fi
  mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot <<'SQL'
CREATE USER IF NOT EXISTS 'ferry'@'127.0.0.1' IDENTIFIED BY 'ferry';
CREATE USER IF NOT EXISTS 'ferry'@'localhost' IDENTIFIED BY 'ferry';
GRANT ALL PRIVILEGES ON *.* TO 'ferry'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'ferry'@'localhost' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  log "MariaDB up on 127.0.0.1:$port (pid $(cat "$dir/mysqld.pid"), data $dir/data)"
}

start_postgres() {
  local dir="$1" port="$2"
  dir="$(realpath -m "$dir")"
  local bin; bin="$(pg_bin_dir)"
  mkdir -p "$dir"
  # PostgreSQL refuses to run as root: the data directory belongs to the postgres user.
  local runas=()
  if [ "$(id -u)" = 0 ]; then
    runas=(runuser -u postgres --)
    chown postgres "$dir"
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    rm -rf "$dir/data"
    local pwfile="$dir/pw"; echo ferry >"$pwfile"; [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
    "${runas[@]}" "$bin/initdb" -D "$dir/data" -U ferry --pwfile="$pwfile" -A md5 --auth-local=trust \
      -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
    rm -f "$pwfile"
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
max_connections = 300
CONF
    echo "host replication all 127.0.0.1/32 md5" >>"$dir/data/pg_hba.conf"
  fi
  "${runas[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null \
    || { tail -20 "$dir/postgres.log" >&2; return 1; }
  head -1 "$dir/data/postmaster.pid" >"$dir/postgres.pid"
  log "PostgreSQL up on 127.0.0.1:$port (pid $(cat "$dir/postgres.pid"), data $dir/data)"
}

stop_server() {
  local dir="$1" pidfile pid
  for pidfile in "$dir/mysqld.pid" "$dir/postgres.pid"; do
    [ -f "$pidfile" ] || continue
    pid="$(head -1 "$pidfile")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      local i
      for i in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

cmd="${1:-}"; shift || true
case "$cmd" in
  install) install_packages ;;
  start-mariadb) install_packages; start_mariadb "$@" ;;
  start-postgres) install_packages; start_postgres "$@" ;;
  stop) stop_server "$@" ;;
  *) echo "usage: $0 install | start-mariadb DIR PORT [ARGS] | start-postgres DIR PORT | stop DIR" >&2; exit 2 ;;
esac
