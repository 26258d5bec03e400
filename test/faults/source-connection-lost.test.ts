/**
 * The binlog dump connection is killed on the server while Ferry streams (as a server restart
 * or a network cut would drop it): Ferry reconnects from the last transaction boundary it handed
 * on and the target still converges, without a restart of `ferry run`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createShop, runLiveWrites } from '../../src/demo/shop.js';
import { compareToPostgres, isEqual, summarize } from '../helpers/compare.js';
import { HOST, MYSQL_PORT, PASSWORD, USER, mysqlOptions, pgOptions } from '../helpers/env.js';
import { ferryStatus, startFerry, tempDir, waitFor, writePipelineFile } from '../helpers/ferry.js';

test('dump connection killed twice under live writes: ferry reconnects by itself and converges', async () => {
  const db = `fault_kill_dump_${process.pid}`;
  const opts = { host: HOST, port: MYSQL_PORT, user: USER, password: PASSWORD, database: db };
  await createShop(opts, 2000);
  const admin = new pg.Client(pgOptions);
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${db}"`);
  await admin.query(`CREATE DATABASE "${db}"`);
  await admin.end();
  const dir = tempDir('fault-kill-dump');
  const file = writePipelineFile(dir, { name: 'f-kill-dump', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: db, extraSource: '  server-id: 4242' });
  const ferry = startFerry(['run', file]);
  const writes = new AbortController();
  const writer = runLiveWrites(opts, 300, writes.signal);
  try {
    await waitFor('streaming', async () => (await ferryStatus(file)).phase === 'stream', 60_000, 300);
    const c = await mysql.createConnection(mysqlOptions);
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setTimeout(r, 1500));
      const [rows] = (await c.query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")) as unknown as [{ ID: number }[]];
      assert.ok(rows.length >= 1, 'a binlog dump connection is open');
      for (const r of rows) await c.query(`KILL CONNECTION ${Number(r.ID)}`).catch(() => undefined);
    }
    await c.end();
    await new Promise((r) => setTimeout(r, 1500));
    writes.abort();
    await writer;
    let last = '';
    await waitFor('convergence', async () => {
      const d = await Promise.all(['customers', 'products', 'orders', 'order_items'].map((t) => compareToPostgres(db, t, db)));
      last = d.map(summarize).join('\n');
      return d.every(isEqual);
    }, 90_000, 500).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${last}\n${ferry.output().slice(-3000)}`);
    });
    assert.match(ferry.output(), /source stream lost; reconnecting/);
    assert.equal(ferry.child.exitCode, null, 'ferry kept running');
  } finally {
    writes.abort();
    ferry.child.kill('SIGTERM');
    await ferry.exited;
  }
});
