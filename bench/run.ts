/**
 * The side-by-side benchmark suite (issue 5): Ferry against the native tools, on the same data,
 * in the same run, on the same machine; prints one table of ratios (Ferry ÷ anchor, by median)
 * and writes it to bench/results/<date>.md.
 *
 * Do not run this directly: `bash bench/run.sh [--scale 0.1] [--reps 3] [--profile]` builds
 * Ferry, starts the servers (MariaDB source :53306, replicas :53307 serial and :53308 with
 * slave_parallel_threads=2, PostgreSQL :55432, data under .run/bench) and stops them afterwards.
 */
import Database from 'better-sqlite3';
import { mkdirSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql, { type Connection } from 'mysql2/promise';
import pg from 'pg';
import {
  bigTransactionInsert,
  createTableSql,
  initialWorkloadState,
  logicalBytesSql,
  populateSql,
  rowsPerTable,
  SCHEMA,
  tableNames,
  workloadScript,
  type WorkloadState,
} from './dataset.js';
import {
  compareCoord,
  masterStatus,
  median,
  q,
  sh,
  sleep,
  serverCpuSeconds,
  summarize,
  timed,
  trackNode,
  type BinlogCoord,
  type Sample,
  type Summary,
} from './lib.js';
import { summarizeProfile } from './profile-summary.js';

// ---------------------------------------------------------------- options and layout

interface Options {
  scale: number;
  reps: number;
  txRows: number;
  profile: boolean;
  skip: Set<string>;
  /** Run only these measurements (the dataset is always generated; `decode` records its own workload). */
  only: Set<string> | null;
}

const ALL_STEPS = ['snapshot-mariadb', 'snapshot-postgres', 'streaming', 'decode', 'bigtx'] as const;

function parseOptions(argv: string[]): Options {
  const o: Options = { scale: 1, reps: 3, txRows: 1_000_000, profile: false, skip: new Set(), only: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--scale') o.scale = Number(next());
    else if (a === '--reps') o.reps = Number(next());
    else if (a === '--tx-rows') o.txRows = Number(next());
    else if (a === '--profile') o.profile = true;
    else if (a === '--skip') for (const s of next().split(',')) o.skip.add(s.trim());
    else if (a === '--only') o.only = new Set(next().split(',').map((s) => s.trim()));
    else throw new Error(`unknown option ${a} (known: --scale N, --reps N, --tx-rows N, --profile, --skip|--only snapshot-mariadb,snapshot-postgres,streaming,decode,bigtx)`);
  }
  if (o.only) for (const s of ALL_STEPS) if (!o.only.has(s)) o.skip.add(s);
  if (!(o.scale > 0) || !(o.reps >= 1)) throw new Error('--scale must be > 0 and --reps >= 1');
  return o;
}

/** The Ferry build that is measured (a frozen copy of dist/ and bin/ made by run.sh). */
const BUILD = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The project: results are written to its bench/results. */
const ROOT = process.env.BENCH_REPO_ROOT ?? BUILD;
const RUN = process.env.BENCH_RUN_DIR ?? join(ROOT, '.run/bench');
const PORT = {
  source: Number(process.env.BENCH_SOURCE_PORT ?? 53306),
  replica: Number(process.env.BENCH_REPLICA_PORT ?? 53307),
  replicaPar: Number(process.env.BENCH_REPLICA_PAR_PORT ?? 53308),
  pg: Number(process.env.BENCH_PG_PORT ?? 55432),
};
const FERRY = join(BUILD, 'bin/ferry');
const LOGS = join(RUN, 'logs');
const STATE = join(RUN, 'state');
const FILES = join(RUN, 'files');
const PROFILES = join(RUN, 'profiles');
const PG_DB = 'bench';

const my = (port: number): string => `mariadb --no-defaults -h127.0.0.1 -P${port} -uroot --default-character-set=utf8mb4`;
const psql = `PGPASSWORD=ferry psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p ${PORT.pg} -U ferry -d ${PG_DB}`;

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ---------------------------------------------------------------- server access

async function connect(port: number): Promise<Connection> {
  return mysql.createConnection({ host: '127.0.0.1', port, user: 'root', multipleStatements: true, supportBigNumbers: true, bigNumberStrings: true });
}

/** Binlog bytes between two coordinates of the source, across file rotations (SHOW BINARY LOGS). */
async function binlogBytes(c: Connection, from: BinlogCoord, to: BinlogCoord): Promise<number> {
  if (from.file === to.file) return to.pos - from.pos;
  const logs = await q<{ Log_name: string; File_size: string | number }>(c, 'SHOW BINARY LOGS');
  let total = 0;
  for (const l of logs) {
    const size = Number(l.File_size);
    if (l.Log_name === from.file) total += size - from.pos;
    else if (l.Log_name === to.file) total += to.pos;
    else if (compareCoord({ file: l.Log_name, pos: 0 }, from) > 0 && compareCoord({ file: l.Log_name, pos: 0 }, to) < 0) total += size;
  }
  return total;
}

interface SlaveStatus {
  Master_Log_File: string;
  Read_Master_Log_Pos: string | number;
  Relay_Master_Log_File: string;
  Exec_Master_Log_Pos: string | number;
  Slave_SQL_Running: string;
  Slave_IO_Running: string;
  Last_SQL_Error: string;
  Last_IO_Error: string;
  Seconds_Behind_Master: string | number | null;
}

async function slaveStatus(c: Connection): Promise<SlaveStatus> {
  const r = (await q<SlaveStatus>(c, 'SHOW SLAVE STATUS'))[0];
  if (!r) throw new Error('not a replica');
  return r;
}

/** Waits until the replica's IO thread (what = 'read') or SQL thread ('exec') reached `end`. */
async function waitReplica(c: Connection, end: BinlogCoord, what: 'read' | 'exec', timeoutS: number): Promise<void> {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const s = await slaveStatus(c);
    const at = what === 'read' ? { file: s.Master_Log_File, pos: Number(s.Read_Master_Log_Pos) } : { file: s.Relay_Master_Log_File, pos: Number(s.Exec_Master_Log_Pos) };
    if (at.file && compareCoord(at, end) >= 0) return;
    if (s.Last_SQL_Error || s.Last_IO_Error) throw new Error(`replica failed: ${s.Last_SQL_Error || s.Last_IO_Error}`);
    if (Date.now() > deadline) throw new Error(`replica did not reach ${end.file}:${end.pos} (${what}) in ${timeoutS}s`);
    await sleep(what === 'exec' ? 10 : 50);
  }
}

async function pgClient(database = PG_DB): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: PORT.pg, user: 'ferry', password: 'ferry', database });
  await c.connect();
  return c;
}

// ---------------------------------------------------------------- Ferry runs

let serverIdSeq = 6100;
let runSeq = 0;

interface FerryPipeline {
  name: string;
  file: string;
  stateFile: string;
}

function writePipeline(p: {
  name: string;
  tables: string;
  mode: 'snapshot' | { file: string; pos: number };
  sink: 'mariadb' | 'postgres';
  targetSchema: string;
}): FerryPipeline {
  const stateDir = join(STATE, p.name);
  rmSync(stateDir, { recursive: true, force: true });
  const startup =
    p.mode === 'snapshot'
      ? '  scan.startup.mode: snapshot\n'
      : `  scan.startup.mode: specific-offset\n  scan.startup.specific-offset.file: ${p.mode.file}\n  scan.startup.specific-offset.pos: ${p.mode.pos}\n`;
  const sink =
    p.sink === 'mariadb'
      ? `sink:\n  type: mariadb\n  hostname: 127.0.0.1\n  port: ${PORT.replica}\n  username: ferry\n  password: ferry\n`
      : `sink:\n  type: postgres\n  hostname: 127.0.0.1\n  port: ${PORT.pg}\n  username: ferry\n  password: ferry\n  database: ${PG_DB}\n`;
  const yaml =
    `source:\n  type: mariadb\n  hostname: 127.0.0.1\n  port: ${PORT.source}\n  username: ferry\n  password: ferry\n` +
    `  tables: ${p.tables}\n  server-id: ${serverIdSeq++}\n${startup}` +
    sink +
    `route:\n  - source-table: ${p.tables}\n    sink-table: ${p.targetSchema}.<>\n    replace-symbol: <>\n` +
    `pipeline:\n  name: ${p.name}\n  state-dir: ${stateDir}\n` +
    // BENCH_FERRY_PIPELINE: extra `pipeline:` settings for every Ferry run, e.g. "heap.max-bytes: 1GiB".
    (process.env.BENCH_FERRY_PIPELINE ? `${process.env.BENCH_FERRY_PIPELINE.split(';').map((l) => `  ${l.trim()}\n`).join('')}` : '');
  const file = join(RUN, 'pipelines', `${p.name}.yaml`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, yaml);
  return { name: p.name, file, stateFile: join(stateDir, `${p.name}.sqlite`) };
}

/** The pipeline checkpoint Ferry recorded in its state file (null until there is one). */
function checkpointReader(p: FerryPipeline): { read: () => BinlogCoord | null; close: () => void } {
  let db: Database.Database | null = null;
  return {
    read() {
      try {
        db ??= new Database(p.stateFile, { readonly: true, fileMustExist: true });
        const text = db.prepare('SELECT position FROM checkpoint_history ORDER BY id DESC LIMIT 1').pluck().get() as string | undefined;
        if (!text) return null;
        const v = JSON.parse(text) as { file?: unknown; pos?: unknown };
        return typeof v.file === 'string' && typeof v.pos === 'number' ? { file: v.file, pos: v.pos } : null;
      } catch {
        db?.close();
        db = null;
        return null;
      }
    },
    close() {
      db?.close();
      db = null;
    },
  };
}

// Every lane writes its own checkpoint row: pipeline.parallelism (default 2, or as BENCH_FERRY_PIPELINE sets it).
const LANES = Number(/(?:^|;)\s*parallelism:\s*(\d+)/.exec(process.env.BENCH_FERRY_PIPELINE ?? '')?.[1] ?? 2);

/**
 * Whether Ferry has applied everything up to `end`: every lane's checkpoint row in the sink
 * (`_ferry._ferry_checkpoint`, written in the same transaction as the lane's data) is at or past
 * it, or the pipeline checkpoint in the state file is. Both are needed: the state file's
 * checkpoint is throttled (at most every 500 ms, only when a lane reports) and can stay behind
 * when the stream goes idle (see the notes of the results).
 */
function caughtUp(p: FerryPipeline, sink: 'mariadb' | 'postgres', end: BinlogCoord, ctx: Ctx): { check: () => Promise<boolean>; close: () => void } {
  const cp = checkpointReader(p);
  const atOrPast = (text: string): boolean => {
    const v = JSON.parse(text) as { file: string; pos: number };
    return compareCoord(v, end) >= 0;
  };
  return {
    async check() {
      const at = cp.read();
      if (at !== null && compareCoord(at, end) >= 0) return true;
      let positions: string[];
      try {
        positions =
          sink === 'mariadb'
            ? (await q<{ position: string }>(ctx.repA, 'SELECT position FROM _ferry._ferry_checkpoint WHERE pipeline = ?', [p.name])).map((r) => r.position)
            : (await ctx.pgc.query<{ position: string }>('SELECT position FROM _ferry._ferry_checkpoint WHERE pipeline = $1', [p.name])).rows.map((r) => r.position);
      } catch {
        return false; // the checkpoint table does not exist yet
      }
      return positions.length === LANES && positions.every(atOrPast);
    },
    close: () => cp.close(),
  };
}

/** Seconds from the process start to Ferry's "streaming" log line (JSON logs on stderr). */
function startupSeconds(logFile: string, startedAtMs: number): number | undefined {
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('"msg":"streaming"')) continue;
    const t = (JSON.parse(line) as { time?: unknown }).time;
    const ms = typeof t === 'string' ? Date.parse(t) : typeof t === 'number' ? t : Number.NaN;
    return Number.isFinite(ms) ? (ms - startedAtMs) / 1000 : undefined;
  }
  return undefined;
}

/** Runs `ferry run`: until it exits (snapshot mode) or until it has applied everything up to `until`. */
async function runFerry(
  ctx: Ctx,
  p: FerryPipeline,
  sink: 'mariadb' | 'postgres',
  until: BinlogCoord | null,
  profileDir?: string,
): Promise<{ seconds: number; peakRssKb: number; cpuSeconds: number; startupS?: number }> {
  const args = [...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), FERRY, 'run', p.file];
  const logFile = join(LOGS, `${p.name}.${++runSeq}.log`);
  // BENCH_FERRY_NODE_OPTIONS: extra node options for the Ferry processes only (e.g. a heap cap).
  const env = process.env.BENCH_FERRY_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_FERRY_NODE_OPTIONS } : undefined;
  if (until === null) return trackNode(args, logFile, { timeoutS: 3600, ...(env ? { env } : {}) });
  const cu = caughtUp(p, sink, until, ctx);
  try {
    const r = await trackNode(args, logFile, { timeoutS: 3600, until: cu.check, ...(env ? { env } : {}) });
    // Ending before catching up is a failure (crash, OOM abort, error exit), whatever the exit code.
    if (!r.reachedUntil) throw new Error(`ferry ended (exit code ${r.code}) before applying up to ${until.file}:${until.pos}; see ${logFile}`);
    return { ...r, startupS: startupSeconds(logFile, r.startedAtMs) };
  } finally {
    cu.close();
  }
}

// ---------------------------------------------------------------- verification

async function mariaCounts(c: Connection, schema: string): Promise<string> {
  const parts: string[] = [];
  for (const t of tableNames()) {
    const r = (await q<{ n: string; s: string | null }>(c, `SELECT COUNT(*) AS n, SUM(qty) AS s FROM \`${schema}\`.\`${t}\``))[0];
    parts.push(`${t}:${r?.n}/${r?.s ?? 0}`);
  }
  return parts.join(' ');
}

async function pgCounts(c: pg.Client, schema: string): Promise<string> {
  const parts: string[] = [];
  for (const t of tableNames()) {
    const r = (await c.query<{ n: string; s: string | null }>(`SELECT COUNT(*)::text AS n, SUM(qty)::text AS s FROM "${schema}"."${t}"`)).rows[0];
    parts.push(`${t}:${r?.n}/${r?.s ?? 0}`);
  }
  return parts.join(' ');
}

function expectSame(what: string, expected: string, actual: string): void {
  if (expected !== actual) throw new Error(`${what}: target differs from source\n  source ${expected}\n  target ${actual}`);
}

// ---------------------------------------------------------------- the suite

interface Ctx {
  o: Options;
  src: Connection;
  repA: Connection;
  repB: Connection;
  pgc: pg.Client;
  rows: number;
  bytes: number;
  perTable: number;
  results: Map<string, Sample[]>;
  notes: string[];
  /** Seconds each timed streaming run waited for the servers to go quiet (waitQuiet). */
  quietWaits: number[];
  workloads: { start: BinlogCoord; end: BinlogCoord; changes: number }[];
  lastFerryMaria: string | null;
  lastFerryPg: string | null;
}

function record(ctx: Ctx, key: string, s: Sample): void {
  const list = ctx.results.get(key) ?? [];
  list.push(s);
  ctx.results.set(key, list);
  const rss = s.peakRssKb !== undefined ? `, peak RSS ${(s.peakRssKb / 1024).toFixed(0)} MB` : '';
  const cpu = s.cpu ? `, CPU s ${Object.entries(s.cpu).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(' ')}` : '';
  log(`${key}: ${s.seconds.toFixed(2)} s, ${Math.round(s.rows / s.seconds)} rows/s${rss}${cpu}`);
}

/** The pid of a bench server (its directory under RUN: source, replica, replica-par, postgres). */
function serverPid(name: string): number {
  for (const f of ['mysqld.pid', 'postgres.pid']) {
    try {
      return Number(readFileSync(join(RUN, name, f), 'utf8').trim().split('\n')[0]);
    } catch {
      // not this kind of server
    }
  }
  return 0;
}

/** Most a timed streaming run waits for the servers to go quiet. */
const QUIET_MAX_S = 30;

/**
 * Waits until the bench servers together use under a tenth of a core over half a second (the
 * previous run's purge, page flushing and checkpoints are done), at most QUIET_MAX_S; returns
 * the seconds waited. Every timed streaming run starts this way, whichever tool it is.
 */
async function waitQuiet(): Promise<number> {
  const pids = ['source', 'replica', 'replica-par', 'postgres'].map(serverPid).filter((p) => p > 0);
  const total = (): number => pids.reduce((sum, pid) => sum + serverCpuSeconds(pid), 0);
  const t0 = Date.now();
  for (;;) {
    const c0 = total();
    await sleep(500);
    if (total() - c0 < 0.05 || Date.now() - t0 > QUIET_MAX_S * 1000) return (Date.now() - t0) / 1000;
  }
}

/** CPU seconds each named server uses while `fn` runs (plus what `fn` reports for itself). */
async function withServerCpu<T>(servers: Record<string, string>, fn: () => Promise<T>): Promise<{ value: T; cpu: Record<string, number> }> {
  const pids = Object.entries(servers).map(([k, dir]) => [k, serverPid(dir)] as const);
  const before = pids.map(([, pid]) => serverCpuSeconds(pid));
  const value = await fn();
  const cpu: Record<string, number> = {};
  pids.forEach(([k, pid], i) => (cpu[k] = serverCpuSeconds(pid) - (before[i] as number)));
  return { value, cpu };
}

async function setup(o: Options): Promise<Ctx> {
  for (const d of [LOGS, STATE, FILES, PROFILES]) mkdirSync(d, { recursive: true });
  const src = await connect(PORT.source);
  const repA = await connect(PORT.replica);
  const repB = await connect(PORT.replicaPar);
  const start = await masterStatus(src);
  for (const r of [repA, repB]) {
    await q(r, 'STOP SLAVE; RESET SLAVE ALL');
    await q(r, `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${PORT.source}, MASTER_USER='root', MASTER_PASSWORD='', MASTER_LOG_FILE=?, MASTER_LOG_POS=?`, [start.file, start.pos]);
    await q(r, 'START SLAVE');
  }
  await sh(`${psql.replace(`-d ${PG_DB}`, '-d postgres')} -c "DROP DATABASE IF EXISTS ${PG_DB}" -c "CREATE DATABASE ${PG_DB}"`);
  const pgc = await pgClient();

  const perTable = rowsPerTable(o.scale);
  log(`generating the dataset: ${tableNames().length} tables × ${perTable} rows (scale ${o.scale})`);
  await q(src, `DROP DATABASE IF EXISTS ${SCHEMA}; CREATE DATABASE ${SCHEMA} CHARACTER SET utf8mb4`);
  await q(src, `USE ${SCHEMA}`); // the SEQUENCE tables (seq_1_to_N) need a current database
  for (const t of tableNames()) await q(src, createTableSql(t));
  await q(src, `DROP DATABASE IF EXISTS benchtx; CREATE DATABASE benchtx CHARACTER SET utf8mb4; ${createTableSql('big').replace(`${SCHEMA}.big`, 'benchtx.big')}`);
  const gen = await timed(async () => {
    for (const s of populateSql(perTable)) await q(src, s);
  });
  let rows = 0;
  let bytes = 0;
  for (const t of tableNames()) {
    const r = (await q<{ n: string; b: string }>(src, logicalBytesSql(t)))[0];
    rows += Number(r?.n ?? 0);
    bytes += Number(r?.b ?? 0);
  }
  log(`dataset: ${rows} rows, ${(bytes / 1e6).toFixed(1)} MB of values, generated in ${gen.seconds.toFixed(1)} s; waiting for the replicas`);
  const end = await masterStatus(src);
  await waitReplica(repA, end, 'exec', 3600);
  await waitReplica(repB, end, 'exec', 3600);
  return {
    o,
    src,
    repA,
    repB,
    pgc,
    rows,
    bytes,
    perTable,
    results: new Map(),
    notes: [
      `dataset generated server-side in ${gen.seconds.toFixed(1)} s`,
      ...(process.env.BENCH_FERRY_NODE_OPTIONS ? [`Ferry processes ran with NODE_OPTIONS=${process.env.BENCH_FERRY_NODE_OPTIONS}`] : []),
      ...(process.env.BENCH_FERRY_PIPELINE ? [`Ferry pipelines had extra settings: ${process.env.BENCH_FERRY_PIPELINE}`] : []),
      ...(process.env.BENCH_TSC_ERRORS === '1'
        ? ['the build had type errors in files other engineers were editing (tsc still emitted the JS); the measured build is the frozen copy made at the start of the run']
        : []),
    ],
    quietWaits: [],
    workloads: [],
    lastFerryMaria: null,
    lastFerryPg: null,
  };
}

async function snapshotToMariadb(ctx: Ctx): Promise<void> {
  const expected = await mariaCounts(ctx.src, SCHEMA);
  const loadDir = join(FILES, 'outfile');
  for (let rep = 1; rep <= ctx.o.reps; rep++) {
    // Ferry: snapshot mode into a fresh database.
    const fdb = `fsm${rep}`;
    await q(ctx.repA, `DROP DATABASE IF EXISTS ${fdb}`);
    const p = writePipeline({ name: `snap-maria-${rep}`, tables: `${SCHEMA}\\..*`, mode: 'snapshot', sink: 'mariadb', targetSchema: fdb });
    const r = await runFerry(ctx, p, 'mariadb', null);
    record(ctx, 'snapshot-mariadb/ferry', { seconds: r.seconds, rows: ctx.rows, bytes: ctx.bytes, peakRssKb: r.peakRssKb });
    expectSame('ferry snapshot → MariaDB', expected, await mariaCounts(ctx.repA, fdb));
    if (ctx.lastFerryMaria) await q(ctx.repA, `DROP DATABASE IF EXISTS ${ctx.lastFerryMaria}`);
    ctx.lastFerryMaria = fdb;

    // mariadb-dump --single-transaction --quick | mariadb
    const ddb = `dump${rep}`;
    await q(ctx.repA, `DROP DATABASE IF EXISTS ${ddb}; CREATE DATABASE ${ddb} CHARACTER SET utf8mb4`);
    const d = await timed(() =>
      sh(`mariadb-dump --no-defaults -h127.0.0.1 -P${PORT.source} -uroot --default-character-set=utf8mb4 --single-transaction --quick ${SCHEMA} | ${my(PORT.replica)} ${ddb}`),
    );
    record(ctx, 'snapshot-mariadb/dump', { seconds: d.seconds, rows: ctx.rows, bytes: ctx.bytes });
    expectSame('mariadb-dump | mariadb', expected, await mariaCounts(ctx.repA, ddb));
    await q(ctx.repA, `DROP DATABASE ${ddb}`);

    // SELECT ... INTO OUTFILE + LOAD DATA INFILE, table by table.
    const ldb = `ld${rep}`;
    rmSync(loadDir, { recursive: true, force: true });
    mkdirSync(loadDir, { recursive: true });
    await q(ctx.repA, `DROP DATABASE IF EXISTS ${ldb}; CREATE DATABASE ${ldb} CHARACTER SET utf8mb4`);
    for (const t of tableNames()) await q(ctx.repA, createTableSql(t).replace(`${SCHEMA}.${t}`, `${ldb}.${t}`));
    const l = await timed(async () => {
      for (const t of tableNames()) {
        const f = join(loadDir, `${t}.txt`);
        await q(ctx.src, `SELECT * INTO OUTFILE '${f}' CHARACTER SET utf8mb4 FROM ${SCHEMA}.${t}`);
        await q(ctx.repA, `LOAD DATA INFILE '${f}' INTO TABLE ${ldb}.${t} CHARACTER SET utf8mb4`);
      }
    });
    record(ctx, 'snapshot-mariadb/loaddata', { seconds: l.seconds, rows: ctx.rows, bytes: ctx.bytes });
    expectSame('INTO OUTFILE + LOAD DATA', expected, await mariaCounts(ctx.repA, ldb));
    await q(ctx.repA, `DROP DATABASE ${ldb}`);
    rmSync(loadDir, { recursive: true, force: true });
  }
}

/** SELECT list that `mariadb --batch` prints as valid PostgreSQL COPY text (NULL printed as NULL). */
function copySelect(table: string): string {
  // --batch escapes \t \n \\ and NUL like COPY text expects; NULL comes out as the word NULL
  // (COPY ... NULL 'NULL'; no value in the dataset is the string "NULL"); the BLOB goes as
  // bytea hex (\x...; the backslash is doubled by --batch and undone by COPY).
  return `SELECT id, qty, name, note, amount, created_at, attrs, status, CONCAT(CHAR(92), 'x', HEX(payload)) FROM ${SCHEMA}.${table}`;
}

async function copyTable(table: string, schema: string): Promise<void> {
  await sh(
    `${my(PORT.source)} --batch --skip-column-names --quick -e "${copySelect(table)}" | ${psql} -c "COPY ${schema}.${table} FROM STDIN (FORMAT text, NULL 'NULL')"`,
  );
}

async function snapshotToPostgres(ctx: Ctx): Promise<void> {
  const expected = await mariaCounts(ctx.src, SCHEMA);
  for (let rep = 1; rep <= ctx.o.reps; rep++) {
    const fs = `fsp${rep}`;
    await ctx.pgc.query(`DROP SCHEMA IF EXISTS ${fs} CASCADE`);
    const p = writePipeline({ name: `snap-pg-${rep}`, tables: `${SCHEMA}\\..*`, mode: 'snapshot', sink: 'postgres', targetSchema: fs });
    const r = await runFerry(ctx, p, 'postgres', null);
    record(ctx, 'snapshot-postgres/ferry', { seconds: r.seconds, rows: ctx.rows, bytes: ctx.bytes, peakRssKb: r.peakRssKb });
    expectSame('ferry snapshot → PostgreSQL', expected, await pgCounts(ctx.pgc, fs));
    if (ctx.lastFerryPg) await ctx.pgc.query(`DROP SCHEMA IF EXISTS ${ctx.lastFerryPg} CASCADE`);
    ctx.lastFerryPg = fs;

    for (const par of [1, 2]) {
      const cs = par === 1 ? `cps${rep}` : `cpp${rep}`;
      await ctx.pgc.query(`DROP SCHEMA IF EXISTS ${cs} CASCADE; CREATE SCHEMA ${cs}`);
      // The same table definitions Ferry created (types, primary key).
      for (const t of tableNames()) await ctx.pgc.query(`CREATE TABLE ${cs}.${t} (LIKE ${fs}.${t} INCLUDING ALL)`);
      const queue = [...tableNames()];
      const c = await timed(() =>
        Promise.all(
          Array.from({ length: par }, async () => {
            for (let t = queue.shift(); t !== undefined; t = queue.shift()) await copyTable(t, cs);
          }),
        ),
      );
      record(ctx, `snapshot-postgres/copy${par === 1 ? '' : 'x2'}`, { seconds: c.seconds, rows: ctx.rows, bytes: ctx.bytes });
      expectSame(`mariadb --batch | psql COPY ×${par}`, expected, await pgCounts(ctx.pgc, cs));
      await ctx.pgc.query(`DROP SCHEMA ${cs} CASCADE`);
    }
  }
}

async function runWorkload(ctx: Ctx, state: WorkloadState, seed: number): Promise<{ start: BinlogCoord; end: BinlogCoord; changes: number; seconds: number }> {
  const w = workloadScript(state, Math.round(500_000 * ctx.o.scale), seed);
  const f = join(FILES, `workload-${seed}.sql`);
  writeFileSync(f, w.sql);
  const start = await masterStatus(ctx.src);
  const t = await timed(() => sh(`${my(PORT.source)} < ${f}`));
  const end = await masterStatus(ctx.src);
  rmSync(f, { force: true });
  return { start, end, changes: w.changes, seconds: t.seconds };
}

/**
 * `--only streaming` (snapshot paths skipped): the streaming runs still need targets holding the
 * pre-workload data. One untimed Ferry snapshot per sink provides them (nothing is recorded).
 */
async function prepareStreamingTargets(ctx: Ctx): Promise<void> {
  const expected = await mariaCounts(ctx.src, SCHEMA);
  if (!ctx.lastFerryMaria) {
    const fdb = 'fsm0';
    await q(ctx.repA, `DROP DATABASE IF EXISTS ${fdb}`);
    log('untimed Ferry snapshot → MariaDB (the streaming target)');
    await runFerry(ctx, writePipeline({ name: 'snap-maria-0', tables: `${SCHEMA}\\..*`, mode: 'snapshot', sink: 'mariadb', targetSchema: fdb }), 'mariadb', null);
    expectSame('ferry snapshot → MariaDB (untimed)', expected, await mariaCounts(ctx.repA, fdb));
    ctx.lastFerryMaria = fdb;
  }
  if (!ctx.lastFerryPg) {
    const fs = 'fsp0';
    await ctx.pgc.query(`DROP SCHEMA IF EXISTS ${fs} CASCADE`);
    log('untimed Ferry snapshot → PostgreSQL (the streaming target)');
    await runFerry(ctx, writePipeline({ name: 'snap-pg-0', tables: `${SCHEMA}\\..*`, mode: 'snapshot', sink: 'postgres', targetSchema: fs }), 'postgres', null);
    expectSame('ferry snapshot → PostgreSQL (untimed)', expected, await pgCounts(ctx.pgc, fs));
    ctx.lastFerryPg = fs;
  }
}

async function streaming(ctx: Ctx): Promise<void> {
  if (!ctx.lastFerryMaria || !ctx.lastFerryPg) await prepareStreamingTargets(ctx);
  if (!ctx.lastFerryMaria && !ctx.lastFerryPg) throw new Error('streaming needs a Ferry snapshot target (do not skip both snapshot paths)');
  // A skipped snapshot path skips Ferry's streaming run into that sink (the replicas still run).
  if (!ctx.lastFerryMaria) ctx.notes.push('snapshot-mariadb skipped: no Ferry streaming → MariaDB run');
  if (!ctx.lastFerryPg) ctx.notes.push('snapshot-postgres skipped: no Ferry streaming → PostgreSQL run');
  const state = initialWorkloadState(ctx.perTable);
  for (let rep = 1; rep <= ctx.o.reps; rep++) {
    await q(ctx.repA, 'STOP SLAVE SQL_THREAD');
    await q(ctx.repB, 'STOP SLAVE SQL_THREAD');
    const w = await runWorkload(ctx, state, rep);
    ctx.workloads.push(w);
    const bytes = await binlogBytes(ctx.src, w.start, w.end);
    log(`workload ${rep}: ${w.changes} changes in ${w.seconds.toFixed(1)} s on the source, binlog ${w.start.file}:${w.start.pos} → ${w.end.file}:${w.end.pos}`);
    await waitReplica(ctx.repA, w.end, 'read', 600);
    await waitReplica(ctx.repB, w.end, 'read', 600);

    // The four timed runs of this workload, in an order that rotates with the repetition: each
    // tool runs first once in every four repetitions. Before each, the servers are left to go
    // quiet (the previous apply's purge and page flushing use the same two cores).
    const runs: (() => Promise<void>)[] = [];
    for (const [key, c, dir] of [
      ['streaming-mariadb/replica', ctx.repA, 'replica'],
      ['streaming-mariadb/replica-par2', ctx.repB, 'replica-par'],
    ] as const) {
      runs.push(async () => {
        const t = await withServerCpu({ target: dir }, () =>
          timed(async () => {
            await q(c, 'START SLAVE SQL_THREAD');
            await waitReplica(c, w.end, 'exec', 3600);
          }),
        );
        record(ctx, key, { seconds: t.value.seconds, rows: w.changes, bytes, cpu: t.cpu });
      });
    }
    for (const [sink, targetSchema, short, server] of [
      ['mariadb', ctx.lastFerryMaria, 'maria', 'replica'],
      ['postgres', ctx.lastFerryPg, 'pg', 'postgres'],
    ] as const) {
      if (!targetSchema) continue;
      runs.push(async () => {
        const file = writePipeline({ name: `stream-${short}-${rep}`, tables: `${SCHEMA}\\..*`, mode: w.start, sink, targetSchema });
        const { value: r, cpu } = await withServerCpu({ source: 'source', target: server }, () => runFerry(ctx, file, sink, w.end));
        record(ctx, `streaming-${sink}/ferry`, { seconds: r.seconds, rows: w.changes, bytes, peakRssKb: r.peakRssKb, cpu: { ferry: r.cpuSeconds, ...cpu }, ...(r.startupS !== undefined ? { startupS: r.startupS } : {}) });
      });
    }
    const first = (rep - 1) % runs.length;
    for (const run of [...runs.slice(first), ...runs.slice(0, first)]) {
      ctx.quietWaits.push(await waitQuiet());
      await run();
    }

    const expected = await mariaCounts(ctx.src, SCHEMA);
    expectSame('replica (serial)', expected, await mariaCounts(ctx.repA, SCHEMA));
    expectSame('replica (parallel)', expected, await mariaCounts(ctx.repB, SCHEMA));
    if (ctx.lastFerryMaria) expectSame('ferry streaming → MariaDB', expected, await mariaCounts(ctx.repA, ctx.lastFerryMaria));
    if (ctx.lastFerryPg) expectSame('ferry streaming → PostgreSQL', expected, await pgCounts(ctx.pgc, ctx.lastFerryPg));
  }
}

async function decoding(ctx: Ctx): Promise<void> {
  // Without the streaming step (e.g. `--only decode`), run one workload just to record its range.
  if (ctx.workloads.length === 0) ctx.workloads.push(await runWorkload(ctx, initialWorkloadState(ctx.perTable), 1));
  const w = ctx.workloads[0];
  if (!w) throw new Error('decoding needs a recorded workload range');
  const bytes = await binlogBytes(ctx.src, w.start, w.end);
  // For decode-ab.ts (decoder A/B on the kept servers' binlog files).
  writeFileSync(join(STATE, 'decode-range.json'), `${JSON.stringify({ start: w.start, end: w.end, changes: w.changes })}\n`);
  for (let rep = 1; rep <= ctx.o.reps; rep++) {
    for (const mode of ['ferry', 'zongji'] as const) {
      const out = await sh(`node ${join(BUILD, 'dist/bench/decode.js')} ${mode} ${PORT.source} ${w.start.file} ${w.start.pos} ${w.end.file} ${w.end.pos}`);
      const r = JSON.parse(out.stdout.trim().split('\n').pop() ?? '{}') as { rows: number; seconds: number; rssKb: number };
      if (r.rows !== w.changes) ctx.notes.push(`decode ${mode} rep ${rep}: decoded ${r.rows} rows, the workload made ${w.changes}`);
      record(ctx, `decode/${mode}`, { seconds: r.seconds, rows: r.rows, bytes, ...(mode === 'ferry' ? { peakRssKb: r.rssKb } : {}) });
    }
  }
}

async function bigTransaction(ctx: Ctx): Promise<void> {
  const start = await masterStatus(ctx.src);
  const t = await timed(() => q(ctx.src, bigTransactionInsert(ctx.o.txRows)));
  const end = await masterStatus(ctx.src);
  const bytes = await binlogBytes(ctx.src, start, end);
  log(`big transaction: ${ctx.o.txRows} rows in one transaction (${t.seconds.toFixed(1)} s on the source, ${(bytes / 1e6).toFixed(0)} MB of binlog)`);
  const pm = writePipeline({ name: 'bigtx-maria', tables: 'benchtx\\..*', mode: start, sink: 'mariadb', targetSchema: 'ftx' });
  await q(ctx.repA, 'DROP DATABASE IF EXISTS ftx');
  const rm = await runFerry(ctx, pm, 'mariadb', end);
  record(ctx, 'bigtx-mariadb/ferry', { seconds: rm.seconds, rows: ctx.o.txRows, bytes, peakRssKb: rm.peakRssKb });
  const pp = writePipeline({ name: 'bigtx-pg', tables: 'benchtx\\..*', mode: start, sink: 'postgres', targetSchema: 'ftx' });
  await ctx.pgc.query('DROP SCHEMA IF EXISTS ftx CASCADE');
  const rp = await runFerry(ctx, pp, 'postgres', end);
  record(ctx, 'bigtx-postgres/ferry', { seconds: rp.seconds, rows: ctx.o.txRows, bytes, peakRssKb: rp.peakRssKb });
  const n = (await q<{ n: string }>(ctx.repA, 'SELECT COUNT(*) AS n FROM ftx.big'))[0]?.n;
  const m = (await ctx.pgc.query<{ n: string }>('SELECT COUNT(*)::text AS n FROM ftx.big')).rows[0]?.n;
  if (Number(n) !== ctx.o.txRows || Number(m) !== ctx.o.txRows) throw new Error(`big transaction: MariaDB target has ${n} rows, PostgreSQL ${m}, expected ${ctx.o.txRows}`);
}

/** One extra, untimed run of each Ferry path under `node --cpu-prof`; returns a markdown section. */
async function profiles(ctx: Ctx): Promise<string> {
  const out: string[] = [];
  const dirOf = (name: string): string => {
    const d = join(PROFILES, name);
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d, { recursive: true });
    return d;
  };
  const section = (title: string, dir: string): void => {
    // `ferry run` runs the pipeline in a worker thread: its profile is the one with thread id > 0
    // (CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile); the main thread only waits.
    const all = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
    const workers = all.filter((f) => Number(f.split('.')[4]) > 0);
    const files = workers.length > 0 ? workers : all;
    for (const f of files) out.push(`#### ${title}\n\n${summarizeProfile(JSON.parse(readFileSync(join(dir, f), 'utf8')), BUILD, 14)}`);
  };
  if (!ctx.o.skip.has('snapshot-mariadb')) {
    const d = dirOf('snapshot-mariadb');
    await q(ctx.repA, 'DROP DATABASE IF EXISTS fsmprof');
    await runFerry(ctx, writePipeline({ name: 'prof-snap-maria', tables: `${SCHEMA}\\..*`, mode: 'snapshot', sink: 'mariadb', targetSchema: 'fsmprof' }), 'mariadb', null, d);
    await q(ctx.repA, 'DROP DATABASE IF EXISTS fsmprof');
    section('snapshot → MariaDB', d);
  }
  if (!ctx.o.skip.has('snapshot-postgres')) {
    const d = dirOf('snapshot-postgres');
    await ctx.pgc.query('DROP SCHEMA IF EXISTS fspprof CASCADE');
    await runFerry(ctx, writePipeline({ name: 'prof-snap-pg', tables: `${SCHEMA}\\..*`, mode: 'snapshot', sink: 'postgres', targetSchema: 'fspprof' }), 'postgres', null, d);
    await ctx.pgc.query('DROP SCHEMA IF EXISTS fspprof CASCADE');
    section('snapshot → PostgreSQL', d);
  }
  const w = ctx.workloads[ctx.workloads.length - 1];
  if (w && (ctx.lastFerryMaria || ctx.lastFerryPg)) {
    // Replays the last workload over the targets that already have it: upserts and deletes by key
    // are idempotent, so this is the same work as the first time.
    if (ctx.lastFerryMaria) {
      const d = dirOf('streaming-mariadb');
      await runFerry(ctx, writePipeline({ name: 'prof-stream-maria', tables: `${SCHEMA}\\..*`, mode: w.start, sink: 'mariadb', targetSchema: ctx.lastFerryMaria }), 'mariadb', w.end, d);
      section('streaming → MariaDB', d);
    }
    if (ctx.lastFerryPg) {
      const e = dirOf('streaming-postgres');
      await runFerry(ctx, writePipeline({ name: 'prof-stream-pg', tables: `${SCHEMA}\\..*`, mode: w.start, sink: 'postgres', targetSchema: ctx.lastFerryPg }), 'postgres', w.end, e);
      section('streaming → PostgreSQL', e);
    }
  }
  if (w && !ctx.o.skip.has('decode')) {
    const f = dirOf('decode');
    await sh(`node --cpu-prof --cpu-prof-dir=${f} ${join(BUILD, 'dist/bench/decode.js')} ferry ${PORT.source} ${w.start.file} ${w.start.pos} ${w.end.file} ${w.end.pos}`);
    section('binlog decode (Ferry reader)', f);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------- report

interface RatioRow {
  path: string;
  ferry: string;
  anchor: string;
  target: string;
  targetRatio: number | null;
}

const RATIOS: RatioRow[] = [
  { path: 'binlog decode', ferry: 'decode/ferry', anchor: 'decode/zongji', target: '≥ 4×', targetRatio: 4 },
  { path: 'snapshot → MariaDB', ferry: 'snapshot-mariadb/ferry', anchor: 'snapshot-mariadb/dump', target: '≥ 1.0×', targetRatio: 1 },
  { path: 'snapshot → MariaDB', ferry: 'snapshot-mariadb/ferry', anchor: 'snapshot-mariadb/loaddata', target: '(reach for it)', targetRatio: null },
  { path: 'snapshot → PostgreSQL', ferry: 'snapshot-postgres/ferry', anchor: 'snapshot-postgres/copyx2', target: '≥ 1.0×', targetRatio: 1 },
  { path: 'snapshot → PostgreSQL', ferry: 'snapshot-postgres/ferry', anchor: 'snapshot-postgres/copy', target: '—', targetRatio: null },
  { path: 'streaming → MariaDB', ferry: 'streaming-mariadb/ferry', anchor: 'streaming-mariadb/replica', target: '≥ 1.0× (reach for 2×)', targetRatio: 1 },
  { path: 'streaming → MariaDB', ferry: 'streaming-mariadb/ferry', anchor: 'streaming-mariadb/replica-par2', target: '—', targetRatio: null },
  { path: 'streaming → PostgreSQL', ferry: 'streaming-postgres/ferry', anchor: 'streaming-mariadb/replica', target: '≥ 1.0×', targetRatio: 1 },
];

const LABELS: Record<string, string> = {
  'decode/ferry': 'Ferry reader (openBinlogStream + decodeRows)',
  'decode/zongji': '@vlasky/zongji 0.9',
  'snapshot-mariadb/ferry': 'Ferry (snapshot mode)',
  'snapshot-mariadb/dump': 'mariadb-dump --single-transaction --quick | mariadb',
  'snapshot-mariadb/loaddata': 'SELECT INTO OUTFILE + LOAD DATA INFILE (sequential)',
  'snapshot-postgres/ferry': 'Ferry (snapshot mode)',
  'snapshot-postgres/copy': 'mariadb --batch | psql COPY (sequential)',
  'snapshot-postgres/copyx2': 'mariadb --batch | psql COPY (2 tables in parallel)',
  'streaming-mariadb/ferry': 'Ferry (specific-offset → checkpoint at end)',
  'streaming-mariadb/replica': 'replica SQL thread, serial',
  'streaming-mariadb/replica-par2': 'replica SQL thread, slave_parallel_threads=2',
  'streaming-postgres/ferry': 'Ferry (specific-offset → checkpoint at end)',
  'bigtx-mariadb/ferry': 'Ferry, one transaction → MariaDB',
  'bigtx-postgres/ferry': 'Ferry, one transaction → PostgreSQL',
};

/** A label inside a markdown table cell (a literal pipe would end the cell). */
function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

function fmt(n: number, d = 0): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '—';
}

function report(ctx: Ctx, env: string, command: string, profileText: string, wallS: number): string {
  const sums = new Map<string, Summary>();
  for (const [k, v] of ctx.results) sums.set(k, summarize(v));
  const lines: string[] = [];
  lines.push(`# Ferry benchmark — ${new Date().toISOString().slice(0, 10)}`, '');
  lines.push(`Command: \`${command}\` (whole suite: ${fmt(wallS / 60, 1)} min)`, '');
  lines.push(env, '');
  lines.push('## Ratios (Ferry ÷ anchor, rows/s at the median time)', '');
  lines.push('| path | anchor | Ferry rows/s | anchor rows/s | ratio | target | met |', '| --- | --- | ---: | ---: | ---: | --- | --- |');
  for (const r of RATIOS) {
    const f = sums.get(r.ferry);
    const a = sums.get(r.anchor);
    if (!f || !a) continue;
    const ratio = f.rowsPerS / a.rowsPerS;
    const met = r.targetRatio === null ? '' : ratio >= r.targetRatio ? 'yes' : '**no**';
    lines.push(`| ${r.path} | ${cell(LABELS[r.anchor] ?? r.anchor)} | ${fmt(f.rowsPerS)} | ${fmt(a.rowsPerS)} | **${fmt(ratio, 2)}×** | ${r.target} | ${met} |`);
  }
  const rssAll = [...sums.entries()].filter(([, s]) => s.peakRssMb !== null);
  if (rssAll.length > 0) {
    const worst = Math.max(...rssAll.map(([, s]) => s.peakRssMb ?? 0));
    lines.push(`| memory | — | peak RSS ${fmt(worst)} MB (worst Ferry run) | — | — | ≤ 256 MB | ${worst <= 256 ? 'yes' : '**no**'} |`);
  }
  lines.push('', '## Every measurement', '');
  lines.push('| path | tool | runs | min s | median s | max s | rows/s | MB/s | Ferry peak RSS MB |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [k, s] of sums) {
    const [path] = k.split('/');
    lines.push(
      `| ${path} | ${cell(LABELS[k] ?? k)} | ${s.n} | ${fmt(s.min, 2)} | ${fmt(s.median, 2)} | ${fmt(s.max, 2)} | ${fmt(s.rowsPerS)} | ${fmt(s.mbPerS, 1)} | ${s.peakRssMb === null ? '' : fmt(s.peakRssMb)} |`,
    );
  }
  const startups = [...ctx.results.entries()].flatMap(([k, v]) => {
    const xs = v.flatMap((x) => (x.startupS !== undefined ? [x.startupS] : []));
    return xs.length > 0 ? [`${LABELS[k] ?? k} (${k.split('/')[0]}): median ${fmt(median(xs), 2)} s of each run was process start until the "streaming" log line`] : [];
  });
  if (startups.length > 0) lines.push('', 'Ferry startup included in the streaming times above:', '', ...startups.map((x) => `- ${x}`));
  // Where the CPU went: on a 2-core machine the apply rate is bounded by the sum of these.
  const cpuRows = [...ctx.results.entries()].flatMap(([k, v]) => {
    const withCpu = v.filter((x) => x.cpu !== undefined);
    if (withCpu.length === 0) return [];
    const names = Object.keys(withCpu[0]?.cpu ?? {});
    const per = names.map((n) => `${n} ${fmt(median(withCpu.map((x) => x.cpu?.[n] ?? 0)), 2)}`);
    const total = median(withCpu.map((x) => Object.values(x.cpu ?? {}).reduce((a, b) => a + b, 0)));
    const rows = median(withCpu.map((x) => x.rows));
    return [`| ${k.split('/')[0]} | ${cell(LABELS[k] ?? k)} | ${per.join(', ')} | ${fmt(total, 2)} | ${fmt((total * 1e6) / rows, 1)} |`];
  });
  if (cpuRows.length > 0) {
    lines.push('', 'CPU seconds per streaming run (median; from /proc: Ferry\'s process, the source server while it serves the binlog, the target server):', '');
    lines.push('| path | tool | CPU s by process | total CPU s | µs per change |', '| --- | --- | --- | ---: | ---: |', ...cpuRows);
  }
  lines.push('', '## How each path is measured', '');
  lines.push(
    `- Dataset: 8 tables × ${fmt(ctx.perTable)} rows = ${fmt(ctx.rows)} rows, ${fmt(ctx.bytes / 1e6, 1)} MB of values (BIGINT key, INT, VARCHAR with non-ASCII, TEXT with NULLs/tabs/newlines/backslashes, DECIMAL(12,2), DATETIME(6), JSON, ENUM, BLOB); MB/s of snapshots are over these value bytes, MB/s of streaming and decoding over the binlog bytes of the range.`,
    `- Snapshot: Ferry \`scan.startup.mode: snapshot\` (default parallelism 2, chunk size 8096, batch.max-rows 5000) into a fresh database/schema, timed from process start to exit; the native tools are timed from start to end of the pipeline. MariaDB targets are the serial replica's server (no binlog there), PostgreSQL targets have the tables Ferry created (COPY targets are \`LIKE ... INCLUDING ALL\` of them).`,
    `- Streaming: ${fmt(Math.round(500_000 * ctx.o.scale))} changes per workload (35% inserts, 45% updates, 20% deletes, 10 per transaction), a new workload per repetition; the replicas' SQL threads are stopped while it runs and the IO threads have fetched it all before timing starts. The timed runs of a workload (serial replica, parallel replica, Ferry → MariaDB, Ferry → PostgreSQL) take turns going first, one more place per repetition, and each starts once the servers are quiet (together under 0.1 core over 0.5 s, at most ${QUIET_MAX_S} s${ctx.quietWaits.length > 0 ? `; waited ${fmt(Math.min(...ctx.quietWaits), 1)}–${fmt(Math.max(...ctx.quietWaits), 1)} s` : ''}): an apply's purge and page flushing would otherwise slow whichever run comes next on the same two cores. Replica: \`START SLAVE SQL_THREAD\` until Exec_Master_Log_Pos reaches the end. Ferry: \`ferry run\` with \`specific-offset\` at the workload start until every lane's checkpoint row in the target (or the pipeline checkpoint in its state file) reaches the end; the time includes process start (see above). Targets hold the pre-workload data (Ferry: its own last snapshot).`,
    `- Decoding: the first workload's binlog range, every row of every rows event decoded with all values (Ferry: \`decodeRows\` with the table schemas from information_schema; zongji: its row objects), each in its own process.`,
    `- Big transaction: ${fmt(ctx.o.txRows)} rows inserted by one statement in one transaction, streamed by Ferry from the position before it.`,
    '- Every target is checked against the source (row count and SUM(qty) per table) after each run.',
  );
  if (ctx.notes.length > 0) lines.push('', '## Notes', '', ...ctx.notes.map((n) => `- ${n}`));
  if (profileText) lines.push('', '## CPU profiles of Ferry (`node --cpu-prof`, self time)', '', profileText);
  return `${lines.join('\n')}\n`;
}

async function versions(ctx: Ctx): Promise<string> {
  const mv = (await q<{ v: string }>(ctx.src, 'SELECT VERSION() AS v'))[0]?.v ?? '?';
  const pv = (await ctx.pgc.query<{ v: string }>('SHOW server_version')).rows[0] as unknown as { server_version: string } | undefined;
  return `MariaDB ${mv}, PostgreSQL ${pv?.server_version ?? '?'}, Node ${process.version}`;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const t0 = Date.now();
  const load0 = loadavg()[0] ?? 0;
  const ctx = await setup(o);
  const ver = await versions(ctx);
  try {
    if (!o.skip.has('snapshot-mariadb')) await snapshotToMariadb(ctx);
    if (!o.skip.has('snapshot-postgres')) await snapshotToPostgres(ctx);
    if (!o.skip.has('streaming')) await streaming(ctx);
    if (!o.skip.has('decode')) await decoding(ctx);
    if (!o.skip.has('bigtx')) await bigTransaction(ctx);
    const profileText = o.profile ? await profiles(ctx) : '';
    const load1 = loadavg()[0] ?? 0;
    const env =
      `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${fmt(totalmem() / 2 ** 30)} GiB RAM, shared with other engineers' test runs ` +
      `(1-min load average ${fmt(load0, 2)} at start, ${fmt(load1, 2)} at end); all servers co-located on 127.0.0.1 (source, 2 replicas, PostgreSQL). ` +
      `${ver}. Scale ${o.scale}, ${o.reps} runs per measurement. Servers: fsync off / innodb_flush_log_at_trx_commit=2 / sync_binlog=0 (scripts/servers.sh); the replicas (the MariaDB targets) with a 2 GB buffer pool and a 1 GB redo log (bench/run.sh).`;
    // The environment that changes Ferry's runs belongs to the command that reproduces them.
    const envPrefix = ['BENCH_FERRY_PIPELINE', 'BENCH_FERRY_NODE_OPTIONS', 'FERRY_MYSQL_BULK']
      .flatMap((k) => (process.env[k] ? [`${k}=${JSON.stringify(process.env[k])} `] : []))
      .join('');
    const cmd = `${envPrefix}bash bench/run.sh --scale ${o.scale} --reps ${o.reps}${o.txRows !== 1_000_000 ? ` --tx-rows ${o.txRows}` : ''}${o.profile ? ' --profile' : ''}${o.only ? ` --only ${[...o.only].join(',')}` : o.skip.size ? ` --skip ${[...o.skip].join(',')}` : ''}`;
    const md = report(ctx, env, cmd, profileText, (Date.now() - t0) / 1000);
    const dir = join(ROOT, 'bench/results');
    mkdirSync(dir, { recursive: true });
    const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-');
    const file = join(dir, `${stamp}-scale${o.scale}.md`);
    writeFileSync(file, md);
    process.stdout.write(`${md}\nwritten to ${file}\n`);
  } finally {
    await ctx.src.end();
    await ctx.repA.end();
    await ctx.repB.end();
    await ctx.pgc.end();
  }
}

await main();
