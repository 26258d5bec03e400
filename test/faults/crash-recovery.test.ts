/**
 * kill -9 of `ferry run` at named points and at random moments, then running it again: the
 * target must converge to the source — nothing lost, nothing extra. Crash points
 * (src/core/faults.ts) make the process SIGKILL itself at an exact step, like MariaDB's debug
 * crash points; the random kills come from outside.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createShop, runLiveWrites } from '../../src/demo/shop.js';
import { compareToPostgres, isEqual, summarize, type TableDiff } from '../helpers/compare.js';
import { HOST, MYSQL_PORT, PASSWORD, USER, mysqlOptions, pgOptions } from '../helpers/env.js';
import { ferryStatus, runFerry, startFerry, tempDir, waitFor, writePipelineFile } from '../helpers/ferry.js';

const TABLES = ['customers', 'products', 'orders', 'order_items'];
const shopOpts = (database: string) => ({ host: HOST, port: MYSQL_PORT, user: USER, password: PASSWORD, database });

async function freshPg(name: string): Promise<void> {
  const c = new pg.Client(pgOptions);
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS "${name}"`);
  await c.query(`CREATE DATABASE "${name}"`);
  await c.end();
}

async function converge(db: string, pgdb: string, file: string, tables = TABLES): Promise<void> {
  const ferry = startFerry(['run', file]);
  let last = '';
  try {
    await waitFor('convergence', async () => {
      const d: TableDiff[] = await Promise.all(tables.map((t) => compareToPostgres(db, t, pgdb)));
      last = d.map(summarize).join('\n');
      // Equal already before the rerun got going (the crash came after the last write) is not
      // enough: the rerun must reach the stream, and the SIGTERM below must find it running.
      return d.every(isEqual) && /"msg":"streaming"/.test(ferry.output());
    }, 120_000, 500);
  } catch (e) {
    ferry.child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${last}\n--- ferry output ---\n${ferry.output().slice(-3000)}`);
  }
  ferry.child.kill('SIGTERM');
  const exit = await ferry.exited;
  assert.equal(exit.code, 0, ferry.output().slice(-3000));
}

async function setup(tag: string, rows: number): Promise<{ db: string; pgdb: string; dir: string }> {
  const db = `fault_${tag}_${process.pid}`;
  await createShop(shopOpts(db), rows);
  await freshPg(db);
  return { db, pgdb: db, dir: tempDir(`fault-${tag}`) };
}

describe('kill -9 at named points', () => {
  test('mid-snapshot, in a lane transaction of snapshot rows (after commit, before the ack)', async () => {
    const { db, pgdb, dir } = await setup('snaplane', 6000);
    const file = writePipelineFile(dir, { name: 'f-snaplane', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: pgdb, chunkSize: 300, parallelism: 3 });
    const writes = new AbortController();
    const writer = runLiveWrites(shopOpts(db), 300, writes.signal);
    const crashed = await runFerry(['run', file], { FERRY_CRASH_AT: 'stream.after-lane-commit:4' });
    writes.abort();
    await writer;
    assert.equal(crashed.signal, 'SIGKILL', crashed.output);
    await converge(db, pgdb, file);
  });

  test('mid-snapshot, right after a chunk is recorded as copied (the snapshot runs alongside the stream)', async () => {
    const { db, pgdb, dir } = await setup('snap', 6000);
    const file = writePipelineFile(dir, { name: 'f-snap', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: pgdb, chunkSize: 200 });
    const crashed = await runFerry(['run', file], { FERRY_CRASH_AT: 'snapshot.after-chunk-record:5' });
    assert.equal(crashed.signal, 'SIGKILL', crashed.output);
    const status = await ferryStatus(file);
    const tables = status.tables as { state: string; rowsCopied: number }[];
    assert.ok(tables.some((t) => t.state !== 'done'), 'the crash came before the snapshot finished');
    assert.ok(tables.some((t) => t.rowsCopied > 0), 'some chunks were recorded before the crash');
    // writes while Ferry is down, including rows in chunks already copied
    const c = await mysql.createConnection({ ...mysqlOptions, database: db });
    await c.query('UPDATE customers SET balance = balance + 1 WHERE id <= 300');
    await c.query('DELETE FROM orders WHERE id <= 100');
    await c.end();
    await converge(db, pgdb, file);
  });

  test('streaming, after a lane commit but before the ack tracker hears of it', async () => {
    const { db, pgdb, dir } = await setup('lane', 2000);
    const file = writePipelineFile(dir, { name: 'f-lane', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: pgdb, parallelism: 3 });
    const writes = new AbortController();
    const writer = runLiveWrites(shopOpts(db), 300, writes.signal);
    const crashed = await runFerry(['run', file], { FERRY_CRASH_AT: 'stream.after-lane-commit:25' }, 120_000);
    writes.abort();
    await writer;
    assert.equal(crashed.signal, 'SIGKILL', crashed.output);
    await converge(db, pgdb, file);
  });

  test('streaming, right after the checkpoint is written', async () => {
    const { db, pgdb, dir } = await setup('ckpt', 2000);
    const file = writePipelineFile(dir, { name: 'f-ckpt', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: pgdb });
    const writes = new AbortController();
    const writer = runLiveWrites(shopOpts(db), 300, writes.signal);
    const crashed = await runFerry(['run', file], { FERRY_CRASH_AT: 'stream.after-checkpoint:4' }, 120_000);
    writes.abort();
    await writer;
    assert.equal(crashed.signal, 'SIGKILL', crashed.output);
    await converge(db, pgdb, file);
  });
});

describe('kill -9 from outside', () => {
  test('inside a large source transaction that is being applied', async () => {
    const { db, pgdb, dir } = await setup('bigtx', 1000);
    const file = writePipelineFile(dir, { name: 'f-bigtx', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: pgdb, parallelism: 2 });
    const ferry = startFerry(['run', file]);
    await waitFor('streaming', async () => (await ferryStatus(file)).phase === 'stream', 60_000, 300);
    const c = await mysql.createConnection({ ...mysqlOptions, database: db });
    await c.query('BEGIN');
    await c.query(`INSERT INTO orders (id, customer_id, total, placed_on, placed_at, note)
                   SELECT 50000000 + seq, 1, seq / 100, '2025-01-01', '2025-01-01 00:00:00', REPEAT('x', 200) FROM seq_1_to_80000`);
    await c.query('UPDATE customers SET balance = 0');
    await c.query('COMMIT');
    await c.end();
    const t = new pg.Client({ ...pgOptions, database: pgdb });
    await t.connect();
    await waitFor('part of the transaction applied', async () => {
      const r = await t.query(`SELECT count(*)::int AS n FROM "${db}".orders WHERE id > 50000000`);
      return (r.rows[0] as { n: number }).n > 0;
    }, 60_000, 50);
    ferry.child.kill('SIGKILL');
    await ferry.exited;
    await t.end();
    await converge(db, pgdb, file);
  });

  test('random kills under live writes, three times, then convergence', async () => {
    const { db, pgdb, dir } = await setup('random', 3000);
    const file = writePipelineFile(dir, { name: 'f-random', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: pgdb, chunkSize: 300, parallelism: 4 });
    const writes = new AbortController();
    const writer = runLiveWrites(shopOpts(db), 400, writes.signal);
    for (let i = 0; i < 3; i++) {
      const ferry = startFerry(['run', file]);
      await new Promise((r) => setTimeout(r, 1500 + Math.random() * 3000));
      ferry.child.kill('SIGKILL');
      await ferry.exited;
    }
    writes.abort();
    await writer;
    await converge(db, pgdb, file);
  });
});

describe('one runner per pipeline', () => {
  let file = '';
  before(async () => {
    const { db, pgdb, dir } = await setup('lock', 500);
    file = writePipelineFile(dir, { name: 'f-lock', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: pgdb });
  });
  test('a second ferry run of the same pipeline is refused with FERRY_STATE_LOCKED', async () => {
    const first = startFerry(['run', file]);
    await waitFor('first running', async () => (await ferryStatus(file)).running === true, 60_000, 300);
    const second = await runFerry(['run', file], {}, 60_000);
    assert.equal(second.code, 1, second.output);
    assert.match(second.output, /FERRY_STATE_LOCKED/);
    first.child.kill('SIGTERM');
    assert.equal((await first.exited).code, 0, first.output());
  });
});
