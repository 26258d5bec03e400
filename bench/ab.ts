/**
 * Same-run A/B of two Ferry streaming settings on the kept bench servers: for trying a change to
 * the streaming path before a full `bench/run.sh` (which compares against the native tools).
 *
 *   BENCH_KEEP=1 bash bench/run.sh --scale 1 --only decode     # once: servers and dataset
 *   node dist/bench/ab.js --changes 300000 --rounds 4 --a 'parallelism: 2' --b 'parallelism: 3'
 *   node dist/bench/ab.js --b-env 'FERRY_MYSQL_BULK=off'     # same settings, other environment
 *   node dist/bench/ab.js --a-ferry /tmp/base/bin/ferry      # a built worktree of another commit
 *   node dist/bench/ab.js --b 'sink.batch.max-rows: 2000' --b-node '--cpu-prof --cpu-prof-dir=/tmp/prof'
 *
 * Each variant streams into its own copy of the data (schemas ab_a and ab_b on the serial
 * replica's server, :53307, whose replication is stopped): both copies start equal and get the
 * same workloads, so they stay equal. Every round generates one workload on the source (the
 * bench's shape: 35% inserts, 45% updates, 20% deletes, 10 changes per transaction) and runs
 * both variants over its binlog range, the variant that goes first alternating. Times are from
 * process start to every lane's checkpoint row at the end of the range, with the CPU seconds of
 * Ferry's process and of the target server; `--settle S` (default 3) waits before each run for
 * the servers' background work of the previous one. `--sink postgres` streams into PostgreSQL instead
 * (schemas ab_a / ab_b of database bench on :55432, made by a Ferry snapshot).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql, { type Connection } from 'mysql2/promise';
import pg from 'pg';
import { SCHEMA, tableNames, workloadScript, type WorkloadState } from './dataset.js';
import { busyCores, compareCoord, machineJiffies, masterStatus, median, q, serverCpuSeconds, sh, sleep, trackNode, type BinlogCoord } from './lib.js';
import { cpus } from 'node:os';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const RUN = join(ROOT, '.run', 'bench');
const AB = join(RUN, 'ab');
const FERRY = join(ROOT, 'bin', 'ferry');
const PORT = { source: 53306, replica: 53307, replicaPar: 53308, pg: 55432 };

interface Variant {
  key: 'a' | 'b';
  pipeline: string;
  env: Record<string, string>;
  /** bin/ferry of the checkout to run (another worktree, built: compares two commits). */
  ferry: string;
  /** Node flags before the script (`--cpu-prof --cpu-prof-dir=D`: NODE_OPTIONS refuses those). */
  node: string[];
}

function parseArgs(argv: string[]): { changes: number; rounds: number; settle: number; sink: 'mariadb' | 'postgres'; variants: Variant[] } {
  const o = { changes: 300_000, rounds: 4, settle: 3, sink: 'mariadb' as 'mariadb' | 'postgres', a: '', b: '', aEnv: '', bEnv: '', aFerry: FERRY, bFerry: FERRY, aNode: '', bNode: '' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[++i] ?? '';
    if (k === '--changes') o.changes = Number(v);
    else if (k === '--rounds') o.rounds = Number(v);
    else if (k === '--settle') o.settle = Number(v);
    else if (k === '--sink' && (v === 'mariadb' || v === 'postgres')) o.sink = v;
    else if (k === '--a') o.a = v;
    else if (k === '--b') o.b = v;
    else if (k === '--a-env') o.aEnv = v;
    else if (k === '--b-env') o.bEnv = v;
    else if (k === '--a-ferry') o.aFerry = resolve(v);
    else if (k === '--b-ferry') o.bFerry = resolve(v);
    else if (k === '--a-node') o.aNode = v;
    else if (k === '--b-node') o.bNode = v;
    else throw new Error(`unknown option ${k} (known: --changes N --rounds N --settle S --sink mariadb|postgres --a 'k: v;k: v' --b ... --a-env 'K=V K=V' --b-env ... --a-ferry PATH/bin/ferry --b-ferry ... --a-node 'node flags' --b-node ...)`);
  }
  // 'K=V K2=V2': a new variable starts at a space followed by NAME=, so a value may hold spaces
  // ('NODE_OPTIONS=--a --b FERRY_X=1').
  const env = (s: string): Record<string, string> =>
    Object.fromEntries(
      s
        .trim()
        .split(/\s+(?=[A-Za-z_][A-Za-z0-9_]*=)/)
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
  return { changes: o.changes, rounds: o.rounds, settle: o.settle, sink: o.sink, variants: [
      { key: 'a', pipeline: o.a, env: env(o.aEnv), ferry: o.aFerry, node: o.aNode.split(/\s+/).filter(Boolean) },
      { key: 'b', pipeline: o.b, env: env(o.bEnv), ferry: o.bFerry, node: o.bNode.split(/\s+/).filter(Boolean) },
    ],
  };
}

function log(msg: string): void {
  process.stderr.write(`[ab ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function pidOf(dir: string): number {
  for (const f of ['mysqld.pid', 'postgres.pid']) {
    try {
      return Number(readFileSync(join(RUN, dir, f), 'utf8').trim().split('\n')[0]);
    } catch {
      // not this kind of server
    }
  }
  throw new Error(`no server in ${join(RUN, dir)}: run BENCH_KEEP=1 bash bench/run.sh --scale 1 --only decode first`);
}

/** The workload state that continues from the source's current keys (fresh inserts, deletes from the lowest). */
async function stateFromSource(src: Connection): Promise<WorkloadState> {
  const nextInsert: number[] = [];
  const nextDelete: number[] = [];
  let perTable = 0;
  for (const t of tableNames()) {
    const r = (await q<{ lo: string; hi: string }>(src, `SELECT MIN(id) AS lo, MAX(id) AS hi FROM ${SCHEMA}.${t}`))[0];
    nextInsert.push(Number(r?.hi) + 1);
    nextDelete.push(Number(r?.lo));
    perTable = Math.min(perTable === 0 ? Infinity : perTable, Number(r?.hi));
  }
  // Updates go to random keys of the upper half of [1, perTable], deletes come from the lowest key
  // up: as in the suite. Every key from the lowest to the highest exists (inserts append, deletes
  // take the lowest), so perTable = the smallest highest key keeps updates on existing rows.
  return { perTable, nextInsert, nextDelete };
}

function pipelineYaml(name: string, sink: 'mariadb' | 'postgres', schema: string, start: BinlogCoord, extra: string, serverId: number): string {
  const sinkYaml =
    sink === 'mariadb'
      ? `sink:\n  type: mariadb\n  hostname: 127.0.0.1\n  port: ${PORT.replica}\n  username: ferry\n  password: ferry\n`
      : `sink:\n  type: postgres\n  hostname: 127.0.0.1\n  port: ${PORT.pg}\n  username: ferry\n  password: ferry\n  database: bench\n`;
  const startup = start.pos === 0 ? '  scan.startup.mode: snapshot\n' : `  scan.startup.mode: specific-offset\n  scan.startup.specific-offset.file: ${start.file}\n  scan.startup.specific-offset.pos: ${start.pos}\n`;
  // `sink.<key>: v` settings go to the sink section, the rest to `pipeline:`.
  const settings = extra
    .split(';')
    .map((l) => l.trim())
    .filter(Boolean);
  const sinkExtra = settings.filter((l) => l.startsWith('sink.')).map((l) => `  ${l.slice('sink.'.length)}\n`).join('');
  return (
    `source:\n  type: mariadb\n  hostname: 127.0.0.1\n  port: ${PORT.source}\n  username: ferry\n  password: ferry\n  tables: ${SCHEMA}\\.t[0-9]+\n  server-id: ${serverId}\n${startup}` +
    sinkYaml +
    sinkExtra +
    `route:\n  - source-table: ${SCHEMA}\\.t[0-9]+\n    sink-table: ${schema}.<>\n    replace-symbol: <>\n` +
    `pipeline:\n  name: ${name}\n  state-dir: ${join(AB, 'state', name)}\n` +
    settings
      .filter((l) => !l.startsWith('sink.'))
      .map((l) => `  ${l}\n`)
      .join('')
  );
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  mkdirSync(join(AB, 'logs'), { recursive: true });
  const conn = { host: '127.0.0.1', user: 'root', multipleStatements: true } as const;
  const src = await mysql.createConnection({ ...conn, port: PORT.source });
  const rep = await mysql.createConnection({ ...conn, port: PORT.replica });
  const repPar = await mysql.createConnection({ ...conn, port: PORT.replicaPar });
  const pgc = new pg.Client({ host: '127.0.0.1', port: PORT.pg, user: 'ferry', password: 'ferry', database: 'bench' });
  await pgc.connect();
  // Nothing else applies changes while the variants run.
  await q(rep, 'STOP SLAVE');
  await q(repPar, 'STOP SLAVE');
  const targetPid = o.sink === 'mariadb' ? pidOf('replica') : pidOf('postgres');
  let serverId = 6600 + Math.floor(Math.random() * 300);
  let seq = 0;

  // Both copies equal to the source now: MariaDB by copying the source's tables; PostgreSQL by one untimed Ferry snapshot each.
  log(`copying the dataset into ab_a and ab_b (${o.sink})`);
  for (const v of o.variants) {
    const schema = `ab_${v.key}`;
    if (o.sink === 'mariadb') {
      await q(rep, `DROP DATABASE IF EXISTS ${schema}; CREATE DATABASE ${schema}`);
      await q(rep, `DROP DATABASE IF EXISTS _ferry`);
      const file = join(AB, `${schema}.sql`);
      await sh(`mariadb-dump -h127.0.0.1 -P${PORT.source} -uroot --single-transaction --quick --no-create-db ${SCHEMA} ${tableNames().join(' ')} > ${file}`);
      await sh(`mariadb -h127.0.0.1 -P${PORT.replica} -uroot ${schema} < ${file}`);
      rmSync(file, { force: true });
    } else {
      await pgc.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      const name = `ab_snap_${v.key}_${process.pid}`;
      const file = join(AB, `${name}.yaml`);
      rmSync(join(AB, 'state', name), { recursive: true, force: true });
      writeFileSync(file, pipelineYaml(name, o.sink, schema, { file: '', pos: 0 }, '', serverId++));
      await trackNode([FERRY, 'run', file], join(AB, 'logs', `${name}.log`), { timeoutS: 1800, env: v.env });
    }
  }
  /** Bytes of the copies' tablespace files (MariaDB): how full the target's pages are kept. */
  const fileBytes = async (): Promise<Record<string, number>> => {
    if (o.sink !== 'mariadb') return {};
    const out: Record<string, number> = {};
    for (const v of o.variants) {
      const r = (await q<{ b: string | null }>(rep, `SELECT SUM(FILE_SIZE) AS b FROM information_schema.INNODB_SYS_TABLESPACES WHERE NAME LIKE ?`, [`ab\\_${v.key}/%`]))[0];
      out[v.key] = Number(r?.b ?? 0);
    }
    return out;
  };
  const bytesBefore = await fileBytes();
  const state = await stateFromSource(src);
  const results: Record<string, { s: number[]; ferry: number[]; target: number[]; busy: number[] }> = { a: { s: [], ferry: [], target: [], busy: [] }, b: { s: [], ferry: [], target: [], busy: [] } };
  for (let round = 1; round <= o.rounds; round++) {
    const w = workloadScript(state, o.changes, 1000 + round);
    const file = join(AB, `workload.sql`);
    writeFileSync(file, w.sql);
    const start = await masterStatus(src);
    await sh(`mariadb -h127.0.0.1 -P${PORT.source} -uroot < ${file}`);
    const end = await masterStatus(src);
    rmSync(file, { force: true });
    const order = round % 2 === 1 ? o.variants : [...o.variants].reverse();
    for (const v of order) {
      const name = `ab_${v.key}_${process.pid}_${++seq}`;
      const pfile = join(AB, `${name}.yaml`);
      rmSync(join(AB, 'state', name), { recursive: true, force: true });
      writeFileSync(pfile, pipelineYaml(name, o.sink, `ab_${v.key}`, start, v.pipeline, serverId++));
      const lanes = Number(/(?:^|;)\s*parallelism:\s*(\d+)/.exec(v.pipeline)?.[1] ?? 2);
      const caughtUp = async (): Promise<boolean> => {
        try {
          const rows =
            o.sink === 'mariadb'
              ? (await q<{ position: string }>(rep, 'SELECT position FROM _ferry._ferry_checkpoint WHERE pipeline = ?', [name])).map((r) => r.position)
              : (await pgc.query<{ position: string }>('SELECT position FROM _ferry._ferry_checkpoint WHERE pipeline = $1', [name])).rows.map((r) => r.position);
          return rows.length === lanes && rows.every((t) => compareCoord(JSON.parse(t) as BinlogCoord, end) >= 0);
        } catch {
          return false;
        }
      };
      // The servers' background work of the last run (purge, page flushing) settles first.
      await sleep(o.settle * 1000);
      const cpu0 = serverCpuSeconds(targetPid);
      const machine0 = machineJiffies();
      const r = await trackNode([...v.node, v.ferry, 'run', pfile], join(AB, 'logs', `${name}.log`), { until: caughtUp, timeoutS: 900, env: v.env });
      const busy = busyCores(machine0, machineJiffies(), cpus().length);
      const target = serverCpuSeconds(targetPid) - cpu0;
      if (!r.reachedUntil) throw new Error(`variant ${v.key} ended before catching up (exit ${r.code}); see ${join(AB, 'logs', `${name}.log`)}`);
      const res = results[v.key] as { s: number[]; ferry: number[]; target: number[]; busy: number[] };
      res.s.push(r.seconds);
      res.ferry.push(r.cpuSeconds);
      res.target.push(target);
      res.busy.push(busy);
      log(`round ${round} ${v.key}: ${r.seconds.toFixed(2)} s, CPU ferry ${r.cpuSeconds.toFixed(2)} target ${target.toFixed(2)}, machine ${busy.toFixed(2)} cores busy (${w.changes} changes)`);
    }
  }
  // Both copies must hold the same rows as the source.
  for (const t of tableNames()) {
    const count = async (c: Connection | pg.Client, sql: string): Promise<string> =>
      c instanceof pg.Client ? JSON.stringify((await c.query(sql)).rows[0]) : JSON.stringify((await q(c, sql))[0]);
    const want = await count(src, `SELECT COUNT(*) AS n, SUM(qty) AS s FROM ${SCHEMA}.${t}`);
    for (const v of o.variants) {
      const got = await count(o.sink === 'mariadb' ? rep : pgc, o.sink === 'mariadb' ? `SELECT COUNT(*) AS n, SUM(qty) AS s FROM ab_${v.key}.${t}` : `SELECT COUNT(*)::text AS n, SUM(qty)::text AS s FROM ab_${v.key}.${t}`);
      if (got.replace(/"/g, '') !== want.replace(/"/g, '')) throw new Error(`ab_${v.key}.${t} differs from the source: ${got} vs ${want}`);
    }
  }
  const bytesAfter = await fileBytes();
  for (const v of o.variants) {
    const r = results[v.key] as { s: number[]; ferry: number[]; target: number[]; busy: number[] };
    const mb = (b: number | undefined): string => ((b ?? 0) / 2 ** 20).toFixed(0);
    if (o.sink === 'mariadb') process.stdout.write(`${v.key}: tablespace files ${mb(bytesBefore[v.key])} → ${mb(bytesAfter[v.key])} MB\n`);
    process.stdout.write(
      `${v.key} [${v.pipeline || 'defaults'}${Object.keys(v.env).length ? ` env ${JSON.stringify(v.env)}` : ''}${v.ferry !== FERRY ? ` ${v.ferry}` : ''}]: median ${median(r.s).toFixed(2)} s (${r.s.map((x) => x.toFixed(2)).join(' ')}), CPU ferry ${median(r.ferry).toFixed(2)} target ${median(r.target).toFixed(2)}, machine ${median(r.busy).toFixed(2)} cores busy\n`,
    );
  }
  await Promise.all([src.end(), rep.end(), repPar.end(), pgc.end()]);
  await sleep(0);
}

await main();
