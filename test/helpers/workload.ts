/**
 * A source workload whose correct end state is known, for the fault tests.
 *
 * Two tables in one MariaDB database:
 * - `accounts` (bank transfers): every transaction moves money between two accounts, so the sum
 *   of `balance` is always ACCOUNTS * OPENING_BALANCE, in the source and, once converged, in the
 *   target (and at every instant when the pipeline keeps source transactions atomic).
 * - `items`: inserts, updates, deletes and primary-key changes in transactions of 1 to 1,000
 *   rows. Ids are never reused: an insert or a key change takes a fresh id, a deleted id never
 *   comes back.
 * Every row has a `version` that only grows (a key change carries it on, plus one), so a target
 * row whose version goes down, or a deleted key that shows up again, is a change applied out of
 * order or replayed. Rolled-back transactions write `payload = 'ROLLED-BACK'` and move
 * balances by huge amounts: none of that may ever be visible in the target.
 *
 * The generator survives a source outage (restart, kill -9, network): it reconnects and goes on.
 */
import mysql from 'mysql2/promise';

export const ACCOUNTS = 50;
export const OPENING_BALANCE = 1000;
export const BANK_TOTAL = ACCOUNTS * OPENING_BALANCE;
export const ROLLED_BACK = 'ROLLED-BACK';

export interface MySqlEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
}

export interface WorkloadStats {
  transactions: number;
  rolledBack: number;
  failed: number;
  rows: number;
}

const q = (s: string): string => `\`${s.replace(/`/g, '``')}\``;

/** Creates (drops first) the workload database with `items` initial rows. */
export async function createWorkload(ep: MySqlEndpoint, database: string, items = 2000): Promise<void> {
  const c = await mysql.createConnection({ ...ep, multipleStatements: true });
  try {
    await c.query(`DROP DATABASE IF EXISTS ${q(database)}; CREATE DATABASE ${q(database)} CHARACTER SET utf8mb4; USE ${q(database)};
      CREATE TABLE accounts (id INT NOT NULL PRIMARY KEY, balance BIGINT NOT NULL, version BIGINT NOT NULL);
      CREATE TABLE items (id BIGINT NOT NULL PRIMARY KEY, grp INT NOT NULL, payload VARCHAR(200) NOT NULL,
                          amount DECIMAL(14,2) NOT NULL, version BIGINT NOT NULL);
      INSERT INTO accounts SELECT seq, ${OPENING_BALANCE}, 1 FROM seq_1_to_${ACCOUNTS};`);
    if (items > 0) {
      await c.query(`INSERT INTO ${q(database)}.items SELECT seq, seq % 17, CONCAT('initial-', seq), seq / 100, 1 FROM seq_1_to_${items}`);
    }
  } finally {
    await c.end();
  }
}

/** A small deterministic PRNG, so a failing run can be replayed with its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

export interface WorkloadOptions {
  /** Transactions per second to aim for (0 = as fast as possible). */
  rate?: number;
  seed?: number;
  /** Largest transaction, in rows (default 1000). */
  maxTxnRows?: number;
}

/**
 * Runs the workload until `signal` aborts; resolves with what it did. Connection failures are
 * counted in `failed` and retried after a short pause (the transaction's outcome may be unknown,
 * which keeps every invariant: a transfer either happened whole or not at all).
 */
export async function runWorkload(ep: MySqlEndpoint, database: string, signal: AbortSignal, o: WorkloadOptions = {}): Promise<WorkloadStats> {
  const rand = rng(o.seed ?? Date.now());
  const maxRows = o.maxTxnRows ?? 1000;
  const stats: WorkloadStats = { transactions: 0, rolledBack: 0, failed: 0, rows: 0 };
  let conn: mysql.Connection | null = null;
  let nextId = 0;
  const pick = (n: number): number => 1 + Math.floor(rand() * n);
  const size = (): number => {
    const r = rand();
    if (r < 0.6) return pick(5);
    if (r < 0.85) return pick(50);
    if (r < 0.97) return pick(300);
    return maxRows;
  };
  const interval = o.rate ? 1000 / o.rate : 0;
  while (!signal.aborted) {
    const started = Date.now();
    try {
      if (!conn) {
        conn = await mysql.createConnection({ ...ep, database, connectTimeout: 3000 });
        const [r] = (await conn.query('SELECT COALESCE(MAX(id), 0) AS m FROM items')) as unknown as [{ m: number | string }[]];
        // Fresh ids start far above anything written before (an ambiguous insert may have landed).
        nextId = Math.max(nextId, Number(r[0]?.m ?? 0)) + 1000;
      }
      const c = conn;
      const op = rand();
      await c.query('BEGIN');
      if (op < 0.35) {
        const a = pick(ACCOUNTS);
        let b = pick(ACCOUNTS);
        if (b === a) b = (a % ACCOUNTS) + 1;
        const amount = pick(100);
        await c.query('UPDATE accounts SET balance = balance - ?, version = version + 1 WHERE id = ?', [amount, a]);
        await c.query('UPDATE accounts SET balance = balance + ?, version = version + 1 WHERE id = ?', [amount, b]);
        stats.rows += 2;
      } else if (op < 0.55) {
        const n = size();
        const rows: unknown[][] = [];
        for (let i = 0; i < n; i++) rows.push([nextId++, pick(16), `ins-${stats.transactions}-${i}`, (pick(1_000_000) / 100).toFixed(2), 1]);
        await c.query('INSERT INTO items (id, grp, payload, amount, version) VALUES ?', [rows]);
        stats.rows += n;
      } else if (op < 0.72) {
        const n = size();
        const from = pick(Math.max(1, nextId));
        const [r] = (await c.query('UPDATE items SET payload = ?, amount = amount + 1, version = version + 1 WHERE id >= ? ORDER BY id LIMIT ?', [`upd-${stats.transactions}`, from, n])) as unknown as [{ affectedRows: number }];
        stats.rows += r.affectedRows;
      } else if (op < 0.82) {
        const n = Math.min(size(), 50);
        const from = pick(Math.max(1, nextId));
        const [r] = (await c.query('DELETE FROM items WHERE id >= ? ORDER BY id LIMIT ?', [from, n])) as unknown as [{ affectedRows: number }];
        stats.rows += r.affectedRows;
      } else if (op < 0.92) {
        // Primary-key changes: each moves a row to a fresh id (a delete + insert for the sink).
        const n = pick(5);
        for (let i = 0; i < n; i++) {
          const [r] = (await c.query('SELECT id FROM items WHERE id >= ? ORDER BY id LIMIT 1', [pick(Math.max(1, nextId))])) as unknown as [{ id: number | string }[]];
          const id = r[0]?.id;
          if (id === undefined) continue;
          await c.query('UPDATE items SET id = ?, version = version + 1 WHERE id = ?', [nextId++, id]);
          stats.rows += 1;
        }
      } else {
        // A transaction that is rolled back: none of it may ever reach the target.
        const n = size();
        const rows: unknown[][] = [];
        for (let i = 0; i < n; i++) rows.push([nextId + 1_000_000_000 + i, 0, ROLLED_BACK, '0.00', 1]);
        await c.query('INSERT INTO items (id, grp, payload, amount, version) VALUES ?', [rows]);
        await c.query('UPDATE accounts SET balance = balance + 1000000, version = version + 1000000 WHERE id = ?', [pick(ACCOUNTS)]);
        await c.query('UPDATE items SET payload = ? WHERE id >= ? ORDER BY id LIMIT 10', [ROLLED_BACK, pick(Math.max(1, nextId))]);
        await c.query('ROLLBACK');
        stats.rolledBack++;
        continue;
      }
      await c.query('COMMIT');
      stats.transactions++;
    } catch {
      stats.failed++;
      const c = conn;
      conn = null;
      if (c) c.destroy();
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    const wait = interval - (Date.now() - started);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  if (conn) await conn.end().catch(() => undefined);
  return stats;
}

/** Starts the workload in the background; `stop()` ends it and returns its statistics. */
export function startWorkload(ep: MySqlEndpoint, database: string, o: WorkloadOptions = {}): { stop(): Promise<WorkloadStats> } {
  const ctl = new AbortController();
  const done = runWorkload(ep, database, ctl.signal, o);
  return {
    async stop() {
      ctl.abort();
      return done;
    },
  };
}
