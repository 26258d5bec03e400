/**
 * Invariant checks for the fault tests, independent of Ferry's code: they read the source, the
 * target and the state file with plain clients and compare with their own rules.
 *
 * - `compareWorkload`: every source row of the workload equals its target row (canonical text),
 *   nothing missing, nothing extra, no rolled-back row, bank total intact.
 * - `TargetMonitor`: samples the target while the pipeline runs; a row's version never goes
 *   down, a deleted key never comes back; with `atomic`, the bank total holds at every sample.
 * - `CheckpointMonitor`: samples the state file's checkpoint history and the target's lane
 *   checkpoint rows; positions never move backwards and always parse.
 * - `assertNoCanary`: a secret appears in no output, metric text or file under a directory.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { BANK_TOTAL, ROLLED_BACK, type MySqlEndpoint } from './workload.js';

export interface PgEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

const WORKLOAD_TABLES: Record<string, string[]> = {
  accounts: ['id', 'balance', 'version'],
  items: ['id', 'grp', 'payload', 'amount', 'version'],
};

async function sourceRows(ep: MySqlEndpoint, db: string, table: string, cols: string[]): Promise<Map<string, string>> {
  const c = await mysql.createConnection({ ...ep, supportBigNumbers: true, bigNumberStrings: true, decimalNumbers: false });
  try {
    const [rows] = (await c.query({ sql: `SELECT ${cols.map((x) => `\`${x}\``).join(', ')} FROM \`${db}\`.\`${table}\``, rowsAsArray: true })) as unknown as [unknown[][]];
    return new Map(rows.map((r) => [String(r[0]), r.map((v) => String(v)).join('|')]));
  } finally {
    await c.end();
  }
}

async function pgRows(ep: PgEndpoint, schema: string, table: string, cols: string[]): Promise<Map<string, string>> {
  const c = new pg.Client({ ...ep, types: { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig });
  c.on('error', () => undefined); // a target going down mid-query must not crash the test process
  await c.connect();
  try {
    const r = await c.query({ text: `SELECT ${cols.map((x) => `"${x}"`).join(', ')} FROM "${schema}"."${table}"`, rowMode: 'array' });
    return new Map((r.rows as unknown[][]).map((row) => [String(row[0]), row.map((v) => String(v)).join('|')]));
  } catch (e) {
    if (/does not exist/.test(String(e))) return new Map();
    throw e;
  } finally {
    await c.end();
  }
}

export interface WorkloadDiff {
  equal: boolean;
  summary: string;
  targetBankTotal: number | null;
  rolledBackVisible: number;
}

/** Compares the workload tables of `db` on the source with schema `db` in the PostgreSQL target. */
export async function compareWorkload(src: MySqlEndpoint, db: string, dst: PgEndpoint, schema = db): Promise<WorkloadDiff> {
  const lines: string[] = [];
  let equal = true;
  let total: number | null = null;
  let rolledBack = 0;
  for (const [table, cols] of Object.entries(WORKLOAD_TABLES)) {
    const [s, t] = await Promise.all([sourceRows(src, db, table, cols), pgRows(dst, schema, table, cols)]);
    let missing = 0;
    let extra = 0;
    let different = 0;
    const examples: string[] = [];
    for (const [k, v] of s) {
      const w = t.get(k);
      if (w === undefined) missing++;
      else if (w !== v) {
        different++;
        if (examples.length < 3) examples.push(`${k}: source ${v} / target ${w}`);
      }
    }
    for (const [k, w] of t) {
      if (!s.has(k)) extra++;
      if (w.includes(ROLLED_BACK)) rolledBack++;
    }
    if (table === 'accounts') total = [...t.values()].reduce((n, v) => n + Number(v.split('|')[1]), 0);
    if (missing + extra + different > 0) equal = false;
    lines.push(`${table}: source ${s.size}, target ${t.size}, missing ${missing}, extra ${extra}, different ${different}${examples.length ? `\n  ${examples.join('\n  ')}` : ''}`);
  }
  if (rolledBack > 0) equal = false;
  if (total !== BANK_TOTAL) equal = false;
  return { equal, summary: `${lines.join('\n')}\nbank total in target ${total} (expected ${BANK_TOTAL}); rolled-back rows visible ${rolledBack}`, targetBankTotal: total, rolledBackVisible: rolledBack };
}

/** Waits until the target equals the source; throws with the last difference otherwise. */
export async function waitForWorkloadConvergence(src: MySqlEndpoint, db: string, dst: PgEndpoint, timeoutMs = 120_000, context: () => string = () => ''): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const d = await compareWorkload(src, db, dst);
      if (d.equal) return;
      last = d.summary;
    } catch (e) {
      last = String(e);
    }
    if (Date.now() > until) throw new Error(`no convergence within ${timeoutMs} ms:\n${last}\n${context()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Samples the target while faults happen. Sampling errors (target down) are skipped: the
 * invariants are about what the target shows whenever it can be read.
 */
export class TargetMonitor {
  readonly violations: string[] = [];
  samples = 0;
  #maxVersion = new Map<string, number>();
  #gone = new Set<string>();
  #stop = false;
  #loop: Promise<void>;

  constructor(private readonly dst: PgEndpoint, private readonly schema: string, private readonly opts: { atomic?: boolean; everyMs?: number } = {}) {
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#stop) {
      await this.sample().catch(() => undefined);
      await new Promise((r) => setTimeout(r, this.opts.everyMs ?? 150));
    }
  }

  async sample(): Promise<void> {
    const c = new pg.Client({ ...this.dst, connectionTimeoutMillis: 2000 });
    c.on('error', () => undefined);
    await c.connect();
    try {
      // One snapshot of both tables, so the bank total is read consistently.
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      const items = await c.query(`SELECT id::text AS id, version::text AS v FROM "${this.schema}".items`);
      const accounts = await c.query(`SELECT id::text AS id, version::text AS v, balance::text AS b FROM "${this.schema}".accounts`);
      await c.query('COMMIT');
      this.samples++;
      const seen = new Set<string>();
      const check = (key: string, v: number): void => {
        seen.add(key);
        const before = this.#maxVersion.get(key);
        if (this.#gone.has(key) && this.violations.length < 50) this.violations.push(`${key} came back after it was deleted (version ${v})`);
        if (before !== undefined && v < before && this.violations.length < 50) this.violations.push(`${key} went back from version ${before} to ${v}`);
        if (before === undefined || v > before) this.#maxVersion.set(key, v);
      };
      for (const r of items.rows as { id: string; v: string }[]) check(`items:${r.id}`, Number(r.v));
      let total = 0;
      for (const r of accounts.rows as { id: string; v: string; b: string }[]) {
        check(`accounts:${r.id}`, Number(r.v));
        total += Number(r.b);
      }
      for (const k of this.#maxVersion.keys()) if (!seen.has(k)) this.#gone.add(k);
      if (this.opts.atomic && accounts.rows.length > 0 && total !== BANK_TOTAL && this.violations.length < 50) {
        this.violations.push(`bank total ${total} in the target, expected ${BANK_TOTAL} (a transaction was applied in part)`);
      }
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  async stop(): Promise<string[]> {
    this.#stop = true;
    await this.#loop;
    return this.violations;
  }
}

/** A binlog position as stored by Ferry (`{"file","pos","gtid"}`), parsed here on its own. */
export interface StoredPosition {
  file: string;
  pos: number;
}

export function parseStoredPosition(text: string): StoredPosition {
  const v = JSON.parse(text) as { file?: unknown; pos?: unknown };
  if (typeof v.file !== 'string' || !/\.\d+$/.test(v.file) || typeof v.pos !== 'number' || !Number.isInteger(v.pos) || v.pos < 0) {
    throw new Error(`not a binlog position: ${text}`);
  }
  return { file: v.file, pos: v.pos };
}

export function comparePositions(a: StoredPosition, b: StoredPosition): number {
  const ia = Number(/\.(\d+)$/.exec(a.file)?.[1]);
  const ib = Number(/\.(\d+)$/.exec(b.file)?.[1]);
  return ia !== ib ? ia - ib : a.pos - b.pos;
}

/** The state file's checkpoints, oldest first, read with a plain SQLite connection. */
export function readCheckpointHistory(stateFile: string): { id: number; position: string }[] {
  const db = new Database(stateFile, { fileMustExist: true, timeout: 5000 });
  try {
    return db.prepare('SELECT id, position FROM checkpoint_history ORDER BY id').all() as { id: number; position: string }[];
  } finally {
    db.close();
  }
}

/** The newest checkpoint in the state file (null when none). */
export function readCheckpoint(stateFile: string): string | null {
  const h = readCheckpointHistory(stateFile);
  return h.length > 0 ? (h[h.length - 1] as { position: string }).position : null;
}

/**
 * Samples the checkpoint history of a state file (and the lane checkpoint rows in the target)
 * across the whole test, restarts included: no stored checkpoint may be older than one stored
 * before it, and every one must parse.
 */
export class CheckpointMonitor {
  readonly violations: string[] = [];
  #seen = new Map<number, string>();
  #lanes = new Map<string, StoredPosition>();
  #last: StoredPosition | null = null;
  #stop = false;
  #loop: Promise<void>;

  constructor(private readonly stateFile: string, private readonly lanes?: { dst: PgEndpoint; pipeline: string; schema?: string }) {
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#stop) {
      await this.sample().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async sample(): Promise<void> {
    let rows: { id: number; position: string }[] = [];
    try {
      rows = readCheckpointHistory(this.stateFile);
    } catch (e) {
      if (/SQLITE_BUSY|no such file|unable to open/i.test(String(e))) return;
      throw e;
    }
    for (const r of rows) {
      if (this.#seen.has(r.id)) continue;
      this.#seen.set(r.id, r.position);
      let p: StoredPosition;
      try {
        p = parseStoredPosition(r.position);
      } catch (e) {
        this.violations.push(`checkpoint ${r.id} is not intact: ${String(e)}`);
        continue;
      }
      if (this.#last && comparePositions(p, this.#last) < 0) this.violations.push(`checkpoint ${r.id} (${p.file}:${p.pos}) is older than the one before (${this.#last.file}:${this.#last.pos})`);
      this.#last = p;
    }
    if (this.lanes) {
      const c = new pg.Client({ ...this.lanes.dst, connectionTimeoutMillis: 2000 });
      c.on('error', () => undefined);
      await c.connect();
      try {
        const r = await c.query(`SELECT lane, position FROM "${this.lanes.schema ?? '_ferry'}"._ferry_checkpoint WHERE pipeline = $1`, [this.lanes.pipeline]);
        for (const row of r.rows as { lane: number; position: string }[]) {
          const p = parseStoredPosition(row.position);
          const before = this.#lanes.get(String(row.lane));
          if (before && comparePositions(p, before) < 0) this.violations.push(`lane ${row.lane} checkpoint went back from ${before.file}:${before.pos} to ${p.file}:${p.pos}`);
          this.#lanes.set(String(row.lane), p);
        }
      } catch (e) {
        if (!/does not exist/.test(String(e))) throw e;
      } finally {
        await c.end().catch(() => undefined);
      }
    }
  }

  get count(): number {
    return this.#seen.size;
  }

  async stop(): Promise<string[]> {
    this.#stop = true;
    await this.#loop;
    await this.sample().catch(() => undefined);
    return this.violations;
  }
}

/** Every place a secret could leak to: outputs, metric texts, and files under directories. */
export function findCanary(secret: string, texts: string[], dirs: string[]): string[] {
  const hits: string[] = [];
  texts.forEach((t, i) => {
    if (t.includes(secret)) hits.push(`text #${i}`);
  });
  const needle = Buffer.from(secret, 'utf8');
  const walk = (p: string): void => {
    let st;
    try {
      st = statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(path.join(p, n));
    else if (st.isFile() && st.size < 512 * 1024 * 1024) {
      if (readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  for (const d of dirs) walk(d);
  return hits;
}

/** GET /metrics of a running `ferry run --metrics-port`. */
export async function scrapeMetrics(port: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  return r.text();
}

/** Sum of a counter's samples in Prometheus text (all label sets). */
export function metricSum(text: string, name: string): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return n;
}

/** Peak resident memory (VmHWM) of a process, in MiB; null when it is gone. */
export function peakRssMiB(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}
