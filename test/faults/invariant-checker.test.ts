/**
 * The fault suite's own checker is tested too: a monitor that never fires proves nothing.
 * Against the shared PostgreSQL: a version going back, a deleted key coming back and a broken
 * bank total are each reported; a checkpoint that moves backwards or does not parse is reported.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { pgOptions } from '../helpers/env.js';
import { tempDir } from '../helpers/ferry.js';
import { CheckpointMonitor, TargetMonitor } from '../helpers/invariants.js';
import { BANK_TOTAL } from '../helpers/workload.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('TargetMonitor reports a version going back, a deleted key coming back, and a broken bank total', async () => {
  const schema = `fault_monitor_${process.pid}`;
  const c = new pg.Client(pgOptions);
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema};
      CREATE TABLE ${schema}.items (id bigint PRIMARY KEY, version bigint);
      CREATE TABLE ${schema}.accounts (id int PRIMARY KEY, version bigint, balance bigint);
      INSERT INTO ${schema}.items VALUES (1, 5), (2, 1); INSERT INTO ${schema}.accounts VALUES (1, 1, ${BANK_TOTAL});`);
    const m = new TargetMonitor({ ...pgOptions }, schema, { atomic: true, everyMs: 50 });
    await sleep(400);
    await c.query(`UPDATE ${schema}.items SET version = 4 WHERE id = 1; DELETE FROM ${schema}.items WHERE id = 2; UPDATE ${schema}.accounts SET balance = balance - 1`);
    await sleep(400);
    await c.query(`INSERT INTO ${schema}.items VALUES (2, 1)`);
    await sleep(400);
    const v = await m.stop();
    assert.ok(m.samples > 3);
    assert.ok(v.some((x) => /items:1 went back from version 5 to 4/.test(x)), v.join('\n'));
    assert.ok(v.some((x) => /items:2 came back/.test(x)), v.join('\n'));
    assert.ok(v.some((x) => /bank total/.test(x)), v.join('\n'));
  } finally {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  }
});

test('CheckpointMonitor reports a checkpoint older than the one before, and one that does not parse', async () => {
  const file = path.join(tempDir('fault-cpmon'), 'x.sqlite');
  const db = new Database(file);
  db.exec('CREATE TABLE checkpoint_history (id INTEGER PRIMARY KEY AUTOINCREMENT, position TEXT NOT NULL)');
  const put = db.prepare('INSERT INTO checkpoint_history (position) VALUES (?)');
  put.run(JSON.stringify({ file: 'binlog.000002', pos: 500, gtid: '' }));
  const m = new CheckpointMonitor(file);
  await sleep(300);
  put.run(JSON.stringify({ file: 'binlog.000002', pos: 900, gtid: '' }));
  put.run(JSON.stringify({ file: 'binlog.000001', pos: 99999, gtid: '' }));
  put.run('{"file":"binlog","pos":-1}');
  await sleep(300);
  const v = await m.stop();
  db.close();
  assert.equal(m.count, 4);
  assert.ok(v.some((x) => /older than the one before/.test(x)), v.join('\n'));
  assert.ok(v.some((x) => /not intact/.test(x)), v.join('\n'));
});
