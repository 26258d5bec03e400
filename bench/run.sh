#!/usr/bin/env bash
# The side-by-side benchmark suite: Ferry against the native tools, same data, same run.
#
#   bash bench/run.sh [--scale 1] [--reps 3] [--tx-rows 1000000] [--profile] [--skip decode,bigtx]
#
# Builds Ferry, starts its own servers on 127.0.0.1 with throwaway data under .run/bench:
#   MariaDB source :53306 (binlog, ROW), replica :53307 (serial SQL thread; also the MariaDB
#   target of Ferry and of the dump/LOAD DATA anchors; no binlog), replica :53308
#   (slave_parallel_threads=2), PostgreSQL :55432;
# runs the suite (dist/bench/run.js), prints the ratio table and writes bench/results/<date>.md;
# stops the servers on exit (BENCH_KEEP=1 leaves them up). Run by hand; never part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
RUN="${BENCH_RUN_DIR:-$ROOT/.run/bench}"
SRC_PORT="${BENCH_SOURCE_PORT:-53306}"
REP_PORT="${BENCH_REPLICA_PORT:-53307}"
PAR_PORT="${BENCH_REPLICA_PAR_PORT:-53308}"
PG_PORT="${BENCH_PG_PORT:-55432}"
export BENCH_RUN_DIR="$RUN" BENCH_SOURCE_PORT="$SRC_PORT" BENCH_REPLICA_PORT="$REP_PORT" BENCH_REPLICA_PAR_PORT="$PAR_PORT" BENCH_PG_PORT="$PG_PORT"

echo "[bench] building" >&2
# Other work in progress may break the type check of unrelated files; tsc still emits the JS.
export BENCH_TSC_ERRORS=0
npx tsc -p tsconfig.json || { BENCH_TSC_ERRORS=1; echo "[bench] WARNING: tsc reported type errors (above); running with the emitted JS" >&2; }
[ -f dist/bench/run.js ] || { echo "[bench] dist/bench/run.js missing: the build failed" >&2; exit 1; }

stop_all() {
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "[bench] servers left running (BENCH_KEEP=1); stop with: for d in source replica replica-par postgres; do bash scripts/servers.sh stop $RUN/\$d; done" >&2
    return
  fi
  for d in source replica replica-par postgres; do bash scripts/servers.sh stop "$RUN/$d" 2>/dev/null || true; done
}
stop_all
rm -rf "$RUN"; mkdir -p "$RUN"
trap stop_all EXIT
# Run a frozen copy of the build, so a rebuild of dist/ by someone else mid-run changes nothing.
# (Module resolution walks up to the project's node_modules.)
mkdir -p "$RUN/build"; cp -r dist bin package.json "$RUN/build/"
export BENCH_REPO_ROOT="$ROOT"

# The replicas ignore benchtx (the big single transaction is Ferry's memory test only) and
# write no binlog of their own, like a target written by Ferry or the dump tools.
# Their buffer pool holds both copies of the dataset a target server keeps (the replica's own
# and Ferry's, ~0.4 GB each after the workloads): with the 256 MB of scripts/servers.sh each
# apply evicted the other's pages, so a streaming run's time depended on which copy had been
# written last (same-run A/B: ~1.5 s of 7–9 s per 300,000 changes) instead of on the apply.
# Their redo log is 1 GB: with the 256 MB of scripts/servers.sh, an apply of 300,000 changes
# (~400 MB of redo) drove the checkpoint age to its maximum (217 MB) several times per run, and
# InnoDB then stopped every writer while it flushed pages synchronously (100–160 MB per 100 ms
# in SHOW GLOBAL STATUS samples): stalls of a few hundred ms that fell on whichever apply was
# running, and on the apply that writes fastest the most.
REPLICA_ARGS=(--skip-log-bin --replicate-wild-ignore-table=benchtx.% --secure-file-priv="" --innodb-buffer-pool-size=2G --innodb-log-file-size=1G)
FERRY_SERVER_ID=1 bash scripts/servers.sh start-mariadb "$RUN/source" "$SRC_PORT" --secure-file-priv="" --max-binlog-size=1073741824
FERRY_SERVER_ID=2 bash scripts/servers.sh start-mariadb "$RUN/replica" "$REP_PORT" "${REPLICA_ARGS[@]}"
FERRY_SERVER_ID=3 bash scripts/servers.sh start-mariadb "$RUN/replica-par" "$PAR_PORT" "${REPLICA_ARGS[@]}" --slave-parallel-threads=2
bash scripts/servers.sh start-postgres "$RUN/postgres" "$PG_PORT"

node "$RUN/build/dist/bench/run.js" "$@"
