import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { FerryError, asFerryError } from '../core/errors.js';
import type {
  CheckpointMeta,
  CheckpointRecord,
  MetaKey,
  SchemaHistoryEntry,
  SchemaHistoryInput,
  SnapshotProgress,
  StateStore,
} from './store.js';

export type { StateStore } from './store.js';

/**
 * The SQLite state store: one file per pipeline, `<state-dir>/<pipeline>.sqlite`, in WAL mode
 * (so `ferry status` can read while `ferry run` writes) with `synchronous=FULL` (a commit is on
 * disk when it returns). Next to it, `<pipeline>.lock` carries the run lock (see acquireRunLock).
 *
 * Corruption is loud: a file that is empty, not SQLite, not a Ferry state file, written by a
 * newer Ferry, belonging to another pipeline, or failing `PRAGMA quick_check` throws
 * FERRY_STATE_CORRUPT at open, naming the file.
 */

/** 'FRRY': marks a SQLite file as a Ferry state file. */
const APPLICATION_ID = 0x46525259;
const SCHEMA_VERSION = 1;
/** Checkpoints kept for debugging; only the newest is used. */
const CHECKPOINT_HISTORY = 16;
/** How long acquireRunLock waits for a lock held only briefly (by a `runLockHolder` probe). */
const LOCK_WAIT_MS = 1000;

const TABLES = ['meta', 'checkpoint_history', 'snapshot_progress', 'schema_history', 'status', 'run_lock'] as const;

const DDL = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoint_history (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  position     TEXT NOT NULL,
  meta_json    TEXT NOT NULL,
  committed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot_progress (
  table_id       TEXT PRIMARY KEY,
  last_key_json  TEXT,
  rows_copied    INTEGER NOT NULL DEFAULT 0,
  estimated_rows INTEGER,
  done           INTEGER NOT NULL DEFAULT 0,
  updated_at     TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS schema_history (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  position    TEXT NOT NULL,
  table_id    TEXT NOT NULL,
  schema_json TEXT,
  recorded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS schema_history_by_table ON schema_history (table_id, seq);
CREATE TABLE IF NOT EXISTS status (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  json       TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_lock (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  pid         INTEGER NOT NULL,
  hostname    TEXT NOT NULL,
  acquired_at TEXT NOT NULL
);
`;

/**
 * File name (without extension) for a pipeline: the name itself when it is made of
 * `[A-Za-z0-9_.-]` and does not start with a dot; otherwise a sanitized form plus a short hash
 * of the real name, so that two different names never share a file.
 */
export function stateFileBase(pipelineName: string): string {
  const clean = pipelineName.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_').slice(0, 100);
  if (clean === pipelineName && clean.length > 0) return clean;
  const hash = createHash('sha256').update(pipelineName, 'utf8').digest('hex').slice(0, 8);
  return `${clean || 'pipeline'}-${hash}`;
}

/** Paths of the files of one pipeline's state. */
export function stateFiles(dir: string, pipelineName: string): { file: string; lockFile: string } {
  const base = join(resolve(dir), stateFileBase(pipelineName));
  return { file: `${base}.sqlite`, lockFile: `${base}.lock` };
}

function corrupt(file: string, problem: string, cause?: unknown): FerryError {
  return new FerryError('FERRY_STATE_CORRUPT', `state file ${file} ${problem}`, {
    fix: `Move ${file} away (keep it for a bug report) to restart the pipeline from scratch: it will snapshot again.`,
    details: { file },
    ...(cause === undefined ? {} : { cause }),
  });
}

function errorCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return (e as { code: string }).code;
  }
  return undefined;
}

function isCorruptionError(e: unknown): boolean {
  const code = errorCode(e) ?? '';
  return code.startsWith('SQLITE_NOTADB') || code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_IOERR_SHORT_READ';
}

/** Whether a SQLite error means the state could not be written (disk full, I/O error, read-only). */
function isWriteFailure(e: unknown): boolean {
  const code = errorCode(e) ?? '';
  return code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN');
}

/**
 * A failed state write as a coded error. SQLite rolled the statement back, so the file still
 * holds the last complete write: the fix is to free space (or repair the disk) and run again.
 */
function writeFailure(file: string, what: string, e: unknown): FerryError {
  const code = errorCode(e) ?? 'unknown';
  const full = code === 'SQLITE_FULL' || /ENOSPC|disk is full|disk or disk is full/i.test(String((e as Error).message ?? e));
  return new FerryError('FERRY_STATE_WRITE', `cannot write ${what} to state file ${file}: ${full ? 'the disk is full' : (e as Error).message} (${code}); the file still holds the last complete checkpoint`, {
    fix: full
      ? `Free space on the file system of ${file} (pipeline.state-dir), then run the pipeline again: it resumes from the last checkpoint.`
      : `Check the disk and the permissions of ${file} (pipeline.state-dir), then run the pipeline again: it resumes from the last checkpoint.`,
    details: { file, sqlite: code },
    cause: e,
  });
}

function now(): string {
  return new Date().toISOString();
}

/**
 * Creates a fresh, fully initialised state file at `file`, atomically: it is built under a
 * temporary name and linked into place, so `file` is either absent or complete. That is why an
 * empty `file` can be reported as truncated rather than taken for a new pipeline.
 */
function createStateFile(file: string, pipelineName: string): void {
  const tmp = `${file}.init-${process.pid}-${Date.now()}`;
  const db = new Database(tmp);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
    db.exec(DDL);
    const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
    db.transaction(() => {
      put.run('pipeline_name', pipelineName);
      put.run('created_at', now());
    })();
  } finally {
    // Closing the last connection checkpoints the WAL into the file and removes it.
    db.close();
  }
  try {
    // link() fails when `file` appeared meanwhile (another process created it first): then
    // that file is used and ours is discarded. rename() would replace it silently.
    linkSync(tmp, file);
  } catch (e) {
    if (errorCode(e) !== 'EEXIST') throw e;
  } finally {
    unlinkSync(tmp);
  }
  try {
    const fd = openSync(resolve(file, '..'), 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Directory fsync is not supported everywhere; the file itself is already synced.
  }
}

/**
 * Opens (creating if needed) the state store of `pipelineName` under `dir`.
 * Throws FERRY_STATE_CORRUPT when the file exists but is not a healthy Ferry state file of
 * this pipeline, or when the directory cannot be created.
 */
export function openStateStore(dir: string, pipelineName: string): StateStore {
  const { file, lockFile } = stateFiles(dir, pipelineName);
  try {
    mkdirSync(resolve(dir), { recursive: true });
  } catch (e) {
    throw new FerryError('FERRY_STATE_CORRUPT', `cannot create the state directory ${resolve(dir)}: ${(e as Error).message}`, {
      fix: 'Set `pipeline.state-dir` to a directory this user can write, or fix its permissions.',
      cause: e,
    });
  }

  let size: number | null = null;
  try {
    size = statSync(file).size;
  } catch (e) {
    if (errorCode(e) !== 'ENOENT') throw corrupt(file, `cannot be read: ${(e as Error).message}`, e);
  }
  if (size === null) {
    try {
      createStateFile(file, pipelineName);
    } catch (e) {
      throw asFerryError(e, 'FERRY_STATE_CORRUPT', `cannot create state file ${file}`, 'Check that `pipeline.state-dir` is writable and has free space.');
    }
  } else if (size === 0) {
    // Never produced by createStateFile (atomic), so the file was truncated.
    throw corrupt(file, 'is empty (truncated?)');
  }

  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true, timeout: 5000 });
  } catch (e) {
    throw corrupt(file, `cannot be opened: ${(e as Error).message}`, e);
  }
  try {
    verifyAndMigrate(db, file, pipelineName);
  } catch (e) {
    db.close();
    if (e instanceof FerryError) throw e;
    if (isCorruptionError(e)) throw corrupt(file, `is not a readable SQLite database (${(e as Error).message})`, e);
    throw asFerryError(e, 'FERRY_STATE_CORRUPT', `cannot open state file ${file}`, `Check the permissions of ${file}, or move it away to restart the pipeline from scratch.`);
  }
  return new SqliteStateStore(db, file, lockFile);
}

function verifyAndMigrate(db: Database.Database, file: string, pipelineName: string): void {
  // The first statement reads the header: garbage fails here with SQLITE_NOTADB.
  const appId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  const tableCount = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
  if (appId !== APPLICATION_ID) {
    throw corrupt(file, tableCount.n === 0 ? 'is an empty SQLite database, not a Ferry state file' : 'is a SQLite database but not a Ferry state file');
  }
  if (version > SCHEMA_VERSION) {
    throw new FerryError('FERRY_STATE_CORRUPT', `state file ${file} has format ${version}, newer than this Ferry understands (${SCHEMA_VERSION})`, {
      fix: 'Run the Ferry version that wrote it, or move the file away to restart the pipeline from scratch.',
      details: { file },
    });
  }
  const check = db.pragma('quick_check', { simple: false }) as Array<Record<string, unknown>>;
  const findings = check.map((row) => String(Object.values(row)[0]));
  if (findings.length !== 1 || findings[0] !== 'ok') {
    throw corrupt(file, `fails the SQLite integrity check: ${findings.slice(0, 3).join('; ')}`);
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  // Additive migrations go here, keyed by user_version.
  db.exec(DDL);
  const present = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name));
  for (const t of TABLES) if (!present.has(t)) throw corrupt(file, `lacks table ${t}`);
  const owner = db.prepare("SELECT value FROM meta WHERE key = 'pipeline_name'").get() as { value: string } | undefined;
  if (owner === undefined) throw corrupt(file, 'does not record which pipeline it belongs to');
  if (owner.value !== pipelineName) {
    throw new FerryError('FERRY_STATE_CORRUPT', `state file ${file} belongs to pipeline "${owner.value}", not "${pipelineName}"`, {
      fix: 'Give each pipeline a distinct `pipeline.name` (or `pipeline.state-dir`), or move the file away.',
      details: { file },
    });
  }
}

interface ProgressRow {
  table_id: string;
  last_key_json: string | null;
  rows_copied: number;
  estimated_rows: number | null;
  done: number;
  updated_at: string;
}

function toProgress(r: ProgressRow): SnapshotProgress {
  return {
    tableId: r.table_id,
    lastKeyJson: r.last_key_json,
    rowsCopied: r.rows_copied,
    estimatedRows: r.estimated_rows,
    done: r.done !== 0,
    updatedAt: r.updated_at,
  };
}

function requireText(what: string, v: unknown): void {
  if (typeof v !== 'string' || v.length === 0) {
    throw new FerryError('FERRY_INTERNAL', `state store: ${what} must be a non-empty string`);
  }
}

function requireCount(what: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new FerryError('FERRY_INTERNAL', `state store: ${what} must be a non-negative integer`);
  }
}

class SqliteStateStore implements StateStore {
  readonly file: string;
  readonly #lockFile: string;
  readonly #db: Database.Database;
  #lockDb: Database.Database | null = null;
  #closed = false;
  readonly #stmts;

  constructor(db: Database.Database, file: string, lockFile: string) {
    this.#db = db;
    this.file = file;
    this.#lockFile = lockFile;
    this.#stmts = {
      // Prepared once: \`db.pragma()\` parses its statement on every call (twice per snapshot chunk).
      syncNormal: db.prepare('PRAGMA synchronous = NORMAL'),
      syncFull: db.prepare('PRAGMA synchronous = FULL'),
      getCheckpoint: db.prepare('SELECT position FROM checkpoint_history ORDER BY id DESC LIMIT 1').pluck(),
      insertCheckpoint: db.prepare('INSERT INTO checkpoint_history (position, meta_json, committed_at) VALUES (?, ?, ?)'),
      pruneCheckpoints: db.prepare('DELETE FROM checkpoint_history WHERE id <= (SELECT max(id) FROM checkpoint_history) - ?'),
      checkpointHistory: db.prepare('SELECT position, meta_json, committed_at FROM checkpoint_history ORDER BY id DESC'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      getProgress: db.prepare('SELECT * FROM snapshot_progress WHERE table_id = ?'),
      listProgress: db.prepare('SELECT * FROM snapshot_progress ORDER BY table_id'),
      setEstimate: db.prepare(
        `INSERT INTO snapshot_progress (table_id, estimated_rows, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (table_id) DO UPDATE SET estimated_rows = excluded.estimated_rows, updated_at = excluded.updated_at`,
      ),
      chunkDone: db.prepare(
        `INSERT INTO snapshot_progress (table_id, last_key_json, rows_copied, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (table_id) DO UPDATE SET last_key_json = excluded.last_key_json,
           rows_copied = excluded.rows_copied, updated_at = excluded.updated_at`,
      ),
      markDone: db.prepare(
        `INSERT INTO snapshot_progress (table_id, done, updated_at) VALUES (?, 1, ?)
         ON CONFLICT (table_id) DO UPDATE SET done = 1, updated_at = excluded.updated_at`,
      ),
      resetSnapshot: db.prepare('DELETE FROM snapshot_progress'),
      resetTableSnapshot: db.prepare('DELETE FROM snapshot_progress WHERE table_id = ?'),
      appendSchema: db.prepare('INSERT INTO schema_history (position, table_id, schema_json, recorded_at) VALUES (?, ?, ?, ?)'),
      allSchemas: db.prepare('SELECT seq, position, table_id, schema_json FROM schema_history ORDER BY seq'),
      latestSchemas: db.prepare(
        `SELECT h.seq, h.position, h.table_id, h.schema_json FROM schema_history h
         JOIN (SELECT table_id, max(seq) AS seq FROM schema_history GROUP BY table_id) m ON m.seq = h.seq
         ORDER BY h.table_id`,
      ),
      truncateSchemas: db.prepare('DELETE FROM schema_history WHERE seq > ?'),
      setStatus: db.prepare(
        `INSERT INTO status (id, json, updated_at) VALUES (1, ?, ?)
         ON CONFLICT (id) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at`,
      ),
      getStatus: db.prepare('SELECT json FROM status WHERE id = 1').pluck(),
      setLockRow: db.prepare(
        `INSERT INTO run_lock (id, pid, hostname, acquired_at) VALUES (1, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, hostname = excluded.hostname, acquired_at = excluded.acquired_at`,
      ),
      getLockRow: db.prepare('SELECT pid, hostname, acquired_at FROM run_lock WHERE id = 1'),
      clearLockRow: db.prepare('DELETE FROM run_lock WHERE id = 1 AND pid = ?'),
    };
  }

  #open(): void {
    if (this.#closed) throw new FerryError('FERRY_INTERNAL', `state store ${this.file} is closed`);
  }

  /** Runs one write; a disk-full or I/O failure becomes a coded error naming the file and the fix. */
  /** Runs `fn`'s commit without an fsync of its own (synchronous=NORMAL); the next FULL commit syncs it. */
  #unsynced<T>(fn: () => T): T {
    this.#stmts.syncNormal.run();
    try {
      return fn();
    } finally {
      this.#stmts.syncFull.run();
    }
  }

  #write<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (isWriteFailure(e)) throw writeFailure(this.file, what, e);
      throw e;
    }
  }

  getCheckpoint(): string | null {
    this.#open();
    return (this.#stmts.getCheckpoint.get() as string | undefined) ?? null;
  }

  commitCheckpoint(position: string, meta: CheckpointMeta = {}): void {
    this.#open();
    requireText('checkpoint position', position);
    const metaJson = JSON.stringify(meta);
    this.#write('the checkpoint', () =>
      this.#db.transaction(() => {
        this.#stmts.insertCheckpoint.run(position, metaJson, now());
        this.#stmts.pruneCheckpoints.run(CHECKPOINT_HISTORY);
      })(),
    );
  }

  checkpointHistory(): CheckpointRecord[] {
    this.#open();
    const rows = this.#stmts.checkpointHistory.all() as { position: string; meta_json: string; committed_at: string }[];
    return rows.map((r) => ({ position: r.position, meta: JSON.parse(r.meta_json) as CheckpointMeta, committedAt: r.committed_at }));
  }

  getMeta(key: MetaKey): string | null {
    this.#open();
    return (this.#stmts.getMeta.get(key) as string | undefined) ?? null;
  }

  setMeta(key: MetaKey, value: string): void {
    this.#open();
    requireText('meta key', key);
    if (typeof value !== 'string') throw new FerryError('FERRY_INTERNAL', `state store: meta ${key} must be a string`);
    this.#write(`meta ${key}`, () => this.#stmts.setMeta.run(key, value));
  }

  getSnapshotProgress(tableId: string): SnapshotProgress | null {
    this.#open();
    const row = this.#stmts.getProgress.get(tableId) as ProgressRow | undefined;
    return row ? toProgress(row) : null;
  }

  listSnapshotProgress(): SnapshotProgress[] {
    this.#open();
    return (this.#stmts.listProgress.all() as ProgressRow[]).map(toProgress);
  }

  setSnapshotEstimate(tableId: string, estimatedRows: number): void {
    this.#open();
    requireText('table id', tableId);
    requireCount('estimated rows', estimatedRows);
    this.#write('a snapshot estimate', () => this.#stmts.setEstimate.run(tableId, estimatedRows, now()));
  }

  recordChunkDone(tableId: string, lastKeyJson: string, rowsCopied: number): void {
    this.#open();
    requireText('table id', tableId);
    requireText('last key', lastKeyJson);
    requireCount('rows copied', rowsCopied);
    // No fsync of its own (synchronous=NORMAL for this commit): losing the newest progress rows
    // in a power loss only makes a resume copy those chunks again, which changes nothing (chunks
    // are merged by key). WAL keeps the order of commits, so what survives is a prefix of the
    // writes, and the next FULL commit (a checkpoint, a table marked done) syncs these too.
    // An fsync per chunk was 3-4% of snapshot -> PostgreSQL's CPU profile, on the event loop.
    this.#write('snapshot progress', () => this.#unsynced(() => this.#stmts.chunkDone.run(tableId, lastKeyJson, rowsCopied, now())));
  }

  markTableSnapshotted(tableId: string): void {
    this.#open();
    requireText('table id', tableId);
    this.#write('snapshot progress', () => this.#stmts.markDone.run(tableId, now()));
  }

  resetSnapshot(): void {
    this.#open();
    this.#write('snapshot progress', () => this.#stmts.resetSnapshot.run());
  }

  resetTableSnapshot(tableId: string): void {
    this.#open();
    this.#write('snapshot progress', () => this.#stmts.resetTableSnapshot.run(tableId));
  }

  appendSchemaHistory(position: string, entries: SchemaHistoryInput[]): number {
    this.#open();
    requireText('schema position', position);
    for (const e of entries) {
      requireText('table id', e.tableId);
      if (e.schemaJson !== null && typeof e.schemaJson !== 'string') throw new FerryError('FERRY_INTERNAL', 'state store: schemaJson must be a string or null');
    }
    const at = now();
    return this.#write('schema history', () =>
      this.#db.transaction(() => {
        let seq = 0;
        for (const e of entries) seq = Number(this.#stmts.appendSchema.run(position, e.tableId, e.schemaJson, at).lastInsertRowid);
        return seq;
      })(),
    );
  }

  allSchemaHistory(): SchemaHistoryEntry[] {
    this.#open();
    const rows = this.#stmts.allSchemas.all() as { seq: number; position: string; table_id: string; schema_json: string | null }[];
    return rows.map((r) => ({ seq: r.seq, position: r.position, tableId: r.table_id, schemaJson: r.schema_json }));
  }

  latestSchemas(): Map<string, { seq: number; position: string; schemaJson: string | null }> {
    this.#open();
    const rows = this.#stmts.latestSchemas.all() as { seq: number; position: string; table_id: string; schema_json: string | null }[];
    return new Map(rows.map((r) => [r.table_id, { seq: r.seq, position: r.position, schemaJson: r.schema_json }]));
  }

  truncateSchemaHistoryAfter(seq: number): void {
    this.#open();
    requireCount('seq', seq);
    this.#write('schema history', () => this.#stmts.truncateSchemas.run(seq));
  }

  setStatus(json: string): void {
    this.#open();
    // Status is rewritten every second: no fsync for it. A later FULL commit (checkpoint)
    // syncs the WAL, status included.
    //
    // Status is advisory: a failed status write (disk full) is not an error of its own. It is
    // called from a timer, where a throw would kill the process without a coded error; the
    // next checkpoint or progress write meets the same cause and stops the pipeline with one.
    try {
      this.#unsynced(() => this.#stmts.setStatus.run(json, now()));
    } catch (e) {
      if (!isWriteFailure(e)) throw e;
    }
  }

  getStatus(): string | null {
    this.#open();
    return (this.#stmts.getStatus.get() as string | undefined) ?? null;
  }

  /**
   * The run lock is an exclusive SQLite lock (POSIX fcntl byte-range locks) on `<name>.lock`,
   * held by a dedicated connection in `locking_mode=EXCLUSIVE` until release or process exit.
   * The kernel drops it when the process dies, so there is no stale lock to detect and no race
   * between checking a PID and taking over a lock file. The holder's PID is recorded in the
   * state file (`run_lock`) right after taking the lock, only to name it in errors and status.
   *
   * Caveat of fcntl locks: closing *any* descriptor of the lock file in the holding process
   * drops the lock, so nothing in Ferry may open `<name>.lock` other than through SQLite.
   * Network file systems without working fcntl locks are not supported for the state dir.
   */
  acquireRunLock(): void {
    this.#open();
    if (this.#lockDb !== null) return;
    let lockDb: Database.Database;
    try {
      lockDb = new Database(this.#lockFile, { timeout: LOCK_WAIT_MS });
    } catch (e) {
      throw asFerryError(e, 'FERRY_STATE_CORRUPT', `cannot open the lock file ${this.#lockFile}`, 'Check that `pipeline.state-dir` is writable.');
    }
    try {
      lockDb.pragma('locking_mode = EXCLUSIVE');
      lockDb.exec('BEGIN EXCLUSIVE');
      lockDb.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL)');
      lockDb.exec('DELETE FROM holder');
      lockDb.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid);
      // In EXCLUSIVE locking mode the lock outlives the transaction: held until close().
      lockDb.exec('COMMIT');
    } catch (e) {
      lockDb.close();
      if (errorCode(e) === 'SQLITE_BUSY') throw this.#lockedError(e);
      if (isCorruptionError(e)) {
        throw new FerryError('FERRY_STATE_CORRUPT', `lock file ${this.#lockFile} is not a SQLite database`, {
          fix: `Make sure no ferry process runs this pipeline, then delete ${this.#lockFile}.`,
          cause: e,
        });
      }
      throw asFerryError(e, 'FERRY_STATE_CORRUPT', `cannot take the run lock ${this.#lockFile}`);
    }
    this.#lockDb = lockDb;
    this.#stmts.setLockRow.run(process.pid, hostname(), now());
  }

  #lockedError(cause: unknown): FerryError {
    const row = this.#stmts.getLockRow.get() as { pid: number; hostname: string; acquired_at: string } | undefined;
    const who = row ? `process ${row.pid} on ${row.hostname} (since ${row.acquired_at})` : 'another process';
    return new FerryError('FERRY_STATE_LOCKED', `pipeline state ${this.file} is in use by ${who}`, {
      fix: `Only one \`ferry run\` per pipeline: stop ${row ? `PID ${row.pid}` : 'the other process'} first (the lock is released when it exits), or give this pipeline another \`pipeline.name\`.`,
      cause,
      details: { file: this.file, pid: row?.pid ?? null },
    });
  }

  releaseRunLock(): void {
    if (this.#lockDb === null) return;
    try {
      // The row only names the holder; the lock is the fcntl lock closed below. On a full disk
      // the row cannot be cleared: leave it (runLockHolder probes the lock, not the row), and
      // never let shutdown fail here (the pipeline's own error has been reported already).
      if (!this.#closed) this.#stmts.clearLockRow.run(process.pid);
    } catch (e) {
      if (!isWriteFailure(e)) throw e;
    } finally {
      this.#lockDb.close();
      this.#lockDb = null;
    }
  }

  runLockHolder(): number | null {
    this.#open();
    if (this.#lockDb !== null) return process.pid;
    let probe: Database.Database;
    try {
      probe = new Database(this.#lockFile, { timeout: 0, fileMustExist: true });
    } catch {
      return null; // no lock file: never run
    }
    try {
      // Needs a SHARED lock, which fails while a runner holds EXCLUSIVE. Held for microseconds;
      // acquireRunLock waits up to LOCK_WAIT_MS, so the probe cannot make a start fail.
      probe.prepare('SELECT count(*) FROM sqlite_master').get();
      return null;
    } catch (e) {
      if (errorCode(e) !== 'SQLITE_BUSY') return null;
      const row = this.#stmts.getLockRow.get() as { pid: number } | undefined;
      return row?.pid ?? 0;
    } finally {
      probe.close();
    }
  }

  close(): void {
    if (this.#closed) return;
    try {
      this.releaseRunLock();
    } finally {
      this.#closed = true;
      this.#db.close();
    }
  }
}
