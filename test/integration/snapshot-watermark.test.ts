/**
 * The lock-free snapshot: chunks merged into the stream by watermarks while writers hammer the
 * same keys, resumed after kill -9 without re-reading finished chunks, tables added to a running
 * pipeline, and `ferry snapshot --table` repairing one table while the others stream.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { compareToPostgres, isEqual, summarize } from '../helpers/compare.js';
import { mysqlOptions, pgOptions } from '../helpers/env.js';
import { ferryStatus, runFerry, startFerry, tempDir, waitFor, writePipelineFile, type FerryProcess } from '../helpers/ferry.js';

const ACCOUNTS = 6000;
const TOTAL = ACCOUNTS * 1000;

async function freshPg(name: string): Promise<void> {
  const c = new pg.Client(pgOptions);
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS "${name}"`);
  await c.query(`CREATE DATABASE "${name}"`);
  await c.end();
}

async function bank(db: string): Promise<void> {
  const c = await mysql.createConnection(mysqlOptions);
  await c.query(`DROP DATABASE IF EXISTS \`${db}\``);
  await c.query(`CREATE DATABASE \`${db}\``);
  await c.query(`USE \`${db}\``);
  await c.query(`CREATE TABLE \`${db}\`.accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL, version INT NOT NULL DEFAULT 0, owner VARCHAR(40) NOT NULL)`);
  await c.query(`INSERT INTO \`${db}\`.accounts (id, balance, owner) SELECT seq, 1000, CONCAT('owner-', seq) FROM seq_1_to_${ACCOUNTS}`);
  await c.query(`CREATE TABLE \`${db}\`.audit (id BIGINT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100) NOT NULL)`);
  await c.query(`INSERT INTO \`${db}\`.audit (note) SELECT CONCAT('seed ', seq) FROM seq_1_to_2000`);
  await c.end();
}

/** Transfers between random accounts (sum constant), hammering a few hot keys, until aborted. */
async function transfers(db: string, signal: AbortSignal): Promise<number> {
  const c = await mysql.createConnection({ ...mysqlOptions, database: db });
  let n = 0;
  try {
    while (!signal.aborted) {
      const hot = Math.random() < 0.5;
      const a = hot ? 1 + Math.floor(Math.random() * 5) : 1 + Math.floor(Math.random() * ACCOUNTS);
      let b = 1 + Math.floor(Math.random() * ACCOUNTS);
      if (b === a) b = (a % ACCOUNTS) + 1;
      const amount = 1 + Math.floor(Math.random() * 50);
      await c.beginTransaction();
      await c.execute('UPDATE accounts SET balance = balance - ?, version = version + 1 WHERE id = ?', [amount, a]);
      await c.execute('UPDATE accounts SET balance = balance + ?, version = version + 1 WHERE id = ?', [amount, b]);
      if (n % 10 === 0) await c.execute('INSERT INTO audit (note) VALUES (?)', [`transfer ${n}`]);
      if (n % 17 === 0) await c.execute('DELETE FROM audit WHERE id = ?', [1 + Math.floor(Math.random() * 2000)]);
      if (n % 13 === 0) {
        await c.rollback(); // never visible
      } else {
        await c.commit();
      }
      n++;
    }
  } finally {
    await c.end();
  }
  return n;
}

async function converged(db: string, tables: string[], ferry?: FerryProcess, timeoutMs = 90_000): Promise<void> {
  let last = '';
  await waitFor('target equal to source', async () => {
    const d = await Promise.all(tables.map((t) => compareToPostgres(db, t, db)));
    last = d.map(summarize).join('\n');
    return d.every(isEqual);
  }, timeoutMs, 500).catch((e: unknown) => {
    throw new Error(`${String(e)}\n${last}\n${ferry?.output().slice(-2000) ?? ''}`);
  });
}

async function targetSum(db: string): Promise<{ sum: number; rows: number }> {
  const c = new pg.Client({ ...pgOptions, database: db });
  await c.connect();
  const r = await c.query(`SELECT COALESCE(SUM(balance),0)::bigint AS s, COUNT(*)::int AS n FROM "${db}".accounts`);
  await c.end();
  const row = r.rows[0] as { s: string; n: number };
  return { sum: Number(row.s), rows: row.n };
}

/** Ferry processes of the running test: killed after it, whatever it did, so none outlives it. */
const running = new Set<FerryProcess>();
function startTracked(args: string[]): FerryProcess {
  const p = startFerry(args);
  running.add(p);
  void p.exited.then(() => running.delete(p));
  return p;
}

describe('watermark snapshot', () => {
  afterEach(async () => {
    for (const p of running) p.child.kill('SIGKILL');
    await Promise.all([...running].map((p) => p.exited));
  });

  test('writers hammering the same keys during a slow snapshot: every key ends at its newest state exactly once, sums hold', async () => {
    const db = `wm_hammer_${process.pid}`;
    await bank(db);
    await freshPg(db);
    const dir = tempDir('wm-hammer');
    // Small chunks and a rate limit keep the snapshot running for seconds under the writers.
    const file = writePipelineFile(dir, {
      name: 'wm-hammer', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: db, chunkSize: 150, parallelism: 3,
      extraSource: '  rate-limit.rows-per-second: 2500',
      extraPipeline: '  snapshot.parallelism: 3',
    });
    const writes = new AbortController();
    const writer = transfers(db, writes.signal);
    const ferry = startTracked(['run', file]);
    try {
      await waitFor('snapshot under way', async () => {
        const s = await ferryStatus(file);
        return (s.tables as { rowsCopied: number }[]).some((t) => t.rowsCopied > 0);
      }, 60_000, 200);
      const during = await ferryStatus(file);
      assert.equal(during.phase, 'stream', 'the stream runs while the snapshot copies');
      await waitFor('snapshot done', async () => {
        const s = await ferryStatus(file);
        return s.tables instanceof Array && (s.tables as { state: string }[]).every((t) => t.state === 'done');
      }, 90_000, 500).catch((e: unknown) => {
        throw new Error(`${String(e)}\n${ferry.output().slice(-6000)}`);
      });
      writes.abort();
      const n = await writer;
      assert.ok(n > 100, `only ${n} transfers ran`);
      await converged(db, ['accounts', 'audit'], ferry);
      assert.deepEqual(await targetSum(db), { sum: TOTAL, rows: ACCOUNTS });
      // Three readers, two tables: the idle reader joined a table on a key range of its own.
      assert.match(ferry.output(), /several readers at once/);
    } finally {
      // Whatever happens, the writer stops, so a failure cannot load the next test.
      writes.abort();
      await writer.catch(() => 0);
      ferry.child.kill('SIGTERM');
    }
    assert.equal((await ferry.exited).code, 0, ferry.output().slice(-2000));
  });

  test('a read-only account (SELECT, REPLICATION SLAVE, REPLICATION CLIENT) is enough: no lock taken, nothing written to the source', async () => {
    const db = `wm_ro_${process.pid}`;
    await bank(db);
    await freshPg(db);
    const admin = await mysql.createConnection(mysqlOptions);
    const user = `ferry_ro_${process.pid}`;
    try {
      await admin.query(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`);
      await admin.query(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY 'ro-secret'`);
      await admin.query(`GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '${user}'@'127.0.0.1'`);
      const counters = async (): Promise<Record<string, string>> => {
        const [rows] = await admin.query<mysql.RowDataPacket[]>(`SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_flush', 'Com_lock_tables', 'Com_unlock_tables', 'Com_lock_tables_for_backup', 'Com_backup')`);
        const [[g]] = await admin.query<mysql.RowDataPacket[]>('SELECT @@gtid_binlog_pos AS g');
        return { ...Object.fromEntries(rows.map((r) => [r.Variable_name as string, String(r.Value)])), gtid: String((g as { g: string }).g) };
      };
      const before = await counters();
      const dir = tempDir('wm-ro');
      const file = writePipelineFile(dir, { name: 'wm-ro', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: db, chunkSize: 500, sourceUser: user, sourcePassword: 'ro-secret' });
      const ferry = startTracked(['run', file]);
      try {
        await converged(db, ['accounts', 'audit'], ferry);
        await waitFor('snapshot done', async () => ((await ferryStatus(file)).tables as { state: string }[]).every((t) => t.state === 'done'), 60_000, 300);
      } finally {
        ferry.child.kill('SIGTERM');
      }
      assert.equal((await ferry.exited).code, 0, ferry.output().slice(-2000));
      // No FLUSH TABLES WITH READ LOCK / LOCK TABLES / BACKUP STAGE ran, and no transaction was
      // written to the source's binlog (nothing else writes to this server during the test).
      assert.deepEqual(await counters(), before);
      assert.doesNotMatch(ferry.output(), /ro-secret/);
    } finally {
      await admin.query(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`);
      await admin.end();
    }
  });

  test('kill -9 during the snapshot, then resume: finished chunks are not read again', async () => {
    const db = `wm_resume_${process.pid}`;
    await bank(db);
    await freshPg(db);
    const dir = tempDir('wm-resume');
    const file = writePipelineFile(dir, {
      name: 'wm-resume', tables: `${db}\\.accounts`, sink: 'postgres', pgDatabase: db, chunkSize: 200,
      extraSource: '  rate-limit.rows-per-second: 600',
    });
    const first = startTracked(['run', file]);
    await waitFor('some chunks recorded', async () => ((await ferryStatus(file)).tables as { rowsCopied: number }[]).some((t) => t.rowsCopied >= 1000), 60_000, 200);
    first.child.kill('SIGKILL');
    await first.exited;
    const copied = ((await ferryStatus(file)).tables as { rowsCopied: number; state: string }[])[0];
    assert.ok(copied && copied.state !== 'done' && copied.rowsCopied >= 1000, JSON.stringify(copied));
    const again = startTracked(['run', file]);
    await converged(db, ['accounts'], again);
    assert.match(again.output(), /"resumeFrom":"key"/, 'the second run continued after the recorded key');
    again.child.kill('SIGTERM');
    assert.equal((await again.exited).code, 0);
  });

  // Under a busy writer this once failed in the full suite: reading a MariaDB watermark retried
  // the (offset, GTID) pair until stable and gave up after 20 tries (now BINLOG_GTID_POS reads
  // the GTID state at the offset itself; see readCurrentPosition).
  test('a table added to `tables:` is copied after a restart while the others keep streaming', async () => {
    const db = `wm_added_${process.pid}`;
    await bank(db);
    await freshPg(db);
    const dir = tempDir('wm-added');
    const file = writePipelineFile(dir, { name: 'wm-added', tables: `${db}\\.accounts`, sink: 'postgres', pgDatabase: db });
    const first = startTracked(['run', file]);
    await converged(db, ['accounts'], first);
    first.child.kill('SIGTERM');
    assert.equal((await first.exited).code, 0);
    writeFileSync(file, readFileSync(file, 'utf8').replace(`${db}\\\\.accounts`, `${db}\\\\.(accounts|audit)`));
    const writes = new AbortController();
    const writer = transfers(db, writes.signal);
    const second = startTracked(['run', file]);
    try {
      await waitFor('audit copied', async () => ((await ferryStatus(file)).tables as { table: string; state: string }[]).some((t) => t.table === `${db}.audit` && t.state === 'done'), 60_000, 300).catch((e: unknown) => {
        throw new Error(`${String(e)}\n${second.output().slice(-4000)}`);
      });
      writes.abort();
      await writer;
      await converged(db, ['accounts', 'audit'], second);
    } finally {
      writes.abort();
      await writer.catch(() => 0);
      second.child.kill('SIGTERM');
    }
    assert.equal((await second.exited).code, 0);
  });

  test('`ferry snapshot --table` repairs one table while the pipeline keeps streaming', async () => {
    const db = `wm_repair_${process.pid}`;
    await bank(db);
    await freshPg(db);
    const dir = tempDir('wm-repair');
    const file = writePipelineFile(dir, { name: 'wm-repair', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: db });
    const ferry = startTracked(['run', file]);
    await converged(db, ['accounts', 'audit'], ferry);
    // Damage the target behind Ferry's back.
    const t = new pg.Client({ ...pgOptions, database: db });
    await t.connect();
    await t.query(`DELETE FROM "${db}".accounts WHERE id % 10 = 0`);
    await t.query(`UPDATE "${db}".accounts SET owner = 'damaged' WHERE id % 10 = 1`);
    await t.end();
    const bad = await compareToPostgres(db, 'accounts', db);
    assert.ok(!isEqual(bad));
    const req = await runFerry(['snapshot', file, '--table', `${db}.accounts`]);
    assert.equal(req.code, 0, req.output);
    assert.match(req.output, /snapshot requested/);
    const writes = new AbortController();
    const writer = transfers(db, writes.signal);
    await new Promise((r) => setTimeout(r, 2000));
    writes.abort();
    await writer;
    await converged(db, ['accounts', 'audit'], ferry);
    const bogus = await runFerry(['snapshot', file, '--table', 'nope.nope']);
    assert.equal(bogus.code, 2, bogus.output);
    assert.match(bogus.output, /not captured/);
    ferry.child.kill('SIGTERM');
    assert.equal((await ferry.exited).code, 0);
  });
});
