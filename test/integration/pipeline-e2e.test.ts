/**
 * End to end, the way a user runs Ferry: `bin/ferry check | run | status` against the real
 * MariaDB and PostgreSQL started by scripts/test.sh, with live writes on the source, and the
 * target compared with the source by an independent checker (test/helpers/compare.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createShop, runLiveWrites } from '../../src/demo/shop.js';
import { compareToMySql, compareToPostgres, isEqual, summarize, type TableDiff } from '../helpers/compare.js';
import { HOST, MYSQL_PORT, PASSWORD, USER, mysqlOptions, pgOptions } from '../helpers/env.js';
import { ferryStatus, runFerry, startFerry, tempDir, waitFor, writePipelineFile } from '../helpers/ferry.js';

const SHOP_TABLES = ['customers', 'products', 'orders', 'order_items'];
const shopOpts = (database: string) => ({ host: HOST, port: MYSQL_PORT, user: USER, password: PASSWORD, database });

async function pgDatabase(name: string): Promise<void> {
  const c = new pg.Client(pgOptions);
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS "${name}"`);
    await c.query(`CREATE DATABASE "${name}"`);
  } finally {
    await c.end();
  }
}

async function allEqual(diffs: () => Promise<TableDiff[]>): Promise<{ ok: boolean; text: string }> {
  const d = await diffs();
  return { ok: d.every(isEqual), text: d.map(summarize).join('\n') };
}

async function waitConverged(what: string, diffs: () => Promise<TableDiff[]>, timeoutMs = 90_000): Promise<void> {
  let last = '';
  try {
    await waitFor(what, async () => {
      const r = await allEqual(diffs);
      last = r.text;
      return r.ok;
    }, timeoutMs, 500);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${last}`);
  }
}

describe('MariaDB → PostgreSQL: snapshot, then streaming with live writes', () => {
  const db = `e2e_pg_${process.pid}`;
  const pgdb = `e2e_pg_${process.pid}`;
  let dir = '';
  before(async () => {
    await createShop(shopOpts(db), 4000);
    await pgDatabase(pgdb);
    dir = tempDir('e2e-pg');
  });

  test('check passes, run converges under live writes, SIGTERM exits 0, status reports, restart resumes', async () => {
    const file = writePipelineFile(dir, { name: 'e2e-pg', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: pgdb, parallelism: 3, chunkSize: 500 });
    const check = await runFerry(['check', file]);
    assert.equal(check.code, 0, check.output);
    assert.match(check.output, /OK: pipeline "e2e-pg" can run/);

    const ferry = startFerry(['run', file, '--metrics-port', String(39000 + (process.pid % 1000))]);
    const writes = new AbortController();
    const writer = runLiveWrites(shopOpts(db), 400, writes.signal);
    await waitFor('streaming phase', async () => (await ferryStatus(file)).phase === 'stream', 60_000, 300);
    await new Promise((r) => setTimeout(r, 3000));
    const metrics = await fetch(`http://127.0.0.1:${39000 + (process.pid % 1000)}/metrics`).then((r) => r.text());
    assert.match(metrics, /ferry_rows_written_total\{[^}]*table="[^"]+\.orders"/);
    assert.match(metrics, /ferry_lag_seconds/);
    writes.abort();
    const changes = await writer;
    assert.ok(changes > 100, `the live writer made ${changes} changes`);
    await waitConverged('target equal to source', async () => Promise.all(SHOP_TABLES.map((t) => compareToPostgres(db, t, pgdb))));

    const status = await ferryStatus(file);
    assert.equal(status.phase, 'stream');
    assert.equal(status.running, true);
    assert.ok(Array.isArray(status.tables) && (status.tables as unknown[]).length === 4);

    ferry.child.kill('SIGTERM');
    const exit = await ferry.exited;
    assert.equal(exit.code, 0, ferry.output());
    assert.doesNotMatch(ferry.output(), new RegExp(PASSWORD === 'ferry' ? 'password":"ferry' : PASSWORD));

    // Changes while stopped are picked up from the checkpoint.
    const c = await mysql.createConnection({ ...mysqlOptions, database: db });
    await c.query("UPDATE customers SET name = CONCAT(name, ' (moved)') WHERE id % 7 = 0");
    await c.query('DELETE FROM order_items WHERE order_id % 11 = 0');
    await c.end();
    const again = startFerry(['run', file]);
    await waitConverged('target equal after resume', async () => Promise.all(SHOP_TABLES.map((t) => compareToPostgres(db, t, pgdb))));
    again.child.kill('SIGINT');
    assert.equal((await again.exited).code, 0, again.output());
  });
});

describe('MariaDB → MariaDB with a route, and schema changes mid-stream', () => {
  const db = `e2e_my_${process.pid}`;
  const target = `e2e_my_target_${process.pid}`;
  let dir = '';
  before(async () => {
    await createShop(shopOpts(db), 2000);
    const c = await mysql.createConnection(mysqlOptions);
    await c.query(`DROP DATABASE IF EXISTS \`${target}\``);
    await c.end();
    dir = tempDir('e2e-my');
  });

  test('ADD COLUMN (with and without default) and CREATE TABLE on the source reach the target', async () => {
    const file = writePipelineFile(dir, {
      name: 'e2e-my',
      tables: `${db}\\..*`,
      sink: 'mysql',
      parallelism: 2,
      route: `  - source-table: ${db}\\..*\n    sink-table: ${target}.<>\n    replace-symbol: <>`,
    });
    const ferry = startFerry(['run', file]);
    await waitFor('streaming phase', async () => (await ferryStatus(file)).phase === 'stream', 60_000, 300);
    const c = await mysql.createConnection({ ...mysqlOptions, database: db });
    await c.query("UPDATE customers SET city = 'Bergen' WHERE id < 50");
    await c.query("ALTER TABLE customers ADD COLUMN tier VARCHAR(10) NOT NULL DEFAULT 'basic'");
    await c.query("UPDATE customers SET tier = 'gold' WHERE id % 5 = 0");
    await c.query('ALTER TABLE orders ADD COLUMN discount DECIMAL(5,2) NULL AFTER total');
    await c.query('UPDATE orders SET discount = 1.25 WHERE id % 3 = 0');
    await c.query("CREATE TABLE coupons (code VARCHAR(20) PRIMARY KEY, pct TINYINT UNSIGNED NOT NULL, valid_until DATETIME(3) NULL) DEFAULT CHARSET=utf8mb4");
    await c.query("INSERT INTO coupons VALUES ('SPRING', 10, '2026-05-01 00:00:00.250'), ('ÉTÉ', 15, NULL)");
    await c.query("UPDATE coupons SET pct = 20 WHERE code = 'SPRING'");
    await c.end();
    await waitConverged('target equal after DDL', async () =>
      Promise.all([...SHOP_TABLES, 'coupons'].map((t) => compareToMySql(db, t, target))),
    );
    ferry.child.kill('SIGTERM');
    assert.equal((await ferry.exited).code, 0, ferry.output());
  });
});

describe('snapshot-only mode', () => {
  const db = `e2e_snap_${process.pid}`;
  const pgdb = `e2e_snap_${process.pid}`;
  test('copies every table and exits 0 by itself', async () => {
    await createShop(shopOpts(db), 1000);
    await pgDatabase(pgdb);
    const dir = tempDir('e2e-snap');
    const file = writePipelineFile(dir, { name: 'e2e-snap', tables: `${db}\\.(customers|orders)`, sink: 'postgres', pgDatabase: pgdb, mode: 'snapshot' });
    const r = await runFerry(['run', file]);
    assert.equal(r.code, 0, r.output);
    const diffs = await Promise.all(['customers', 'orders'].map((t) => compareToPostgres(db, t, pgdb)));
    assert.ok(diffs.every(isEqual), diffs.map(summarize).join('\n'));
    const status = await ferryStatus(file);
    assert.equal(status.phase, 'done');
  });
});

after(() => undefined);

describe('tables keyed by a unique index instead of a primary key', () => {
  test('a table whose only key is UNIQUE over NOT NULL columns is copied and streamed by that key', async () => {
    const db = `e2e_ukey_${process.pid}`;
    const c = await mysql.createConnection(mysqlOptions);
    await c.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await c.query(`CREATE DATABASE \`${db}\``);
    await c.query(`CREATE TABLE \`${db}\`.people (email VARCHAR(100) NOT NULL, nick VARCHAR(20) NULL, age INT NULL, UNIQUE KEY by_nick (nick), UNIQUE KEY by_email (email))`);
    await c.query(`INSERT INTO \`${db}\`.people VALUES ('a@x', 'a', 1), ('b@x', NULL, 2), ('c@x', 'c', 3)`);
    await pgDatabase(db);
    const dir = tempDir('e2e-ukey');
    const file = writePipelineFile(dir, { name: 'e2e-ukey', tables: `${db}\\.people`, sink: 'postgres', pgDatabase: db });
    const ferry = startFerry(['run', file]);
    await waitFor('copied', async () => isEqual(await compareToPostgres(db, 'people', db)), 60_000, 300);
    await c.query(`UPDATE \`${db}\`.people SET age = age + 10 WHERE email = 'b@x'`);
    await c.query(`UPDATE \`${db}\`.people SET email = 'a2@x' WHERE email = 'a@x'`);
    await c.query(`DELETE FROM \`${db}\`.people WHERE email = 'c@x'`);
    await c.query(`INSERT INTO \`${db}\`.people VALUES ('d@x', NULL, 4)`);
    await c.end();
    await waitConverged('streamed by the unique key', async () => [await compareToPostgres(db, 'people', db)]);
    ferry.child.kill('SIGTERM');
    assert.equal((await ferry.exited).code, 0, ferry.output());
  });

  test('a table with no key at all is copied and streamed by the columns named in source.key-columns; bad names are refused with the key to fix', async () => {
    const db = `e2e_kcol_${process.pid}`;
    const c = await mysql.createConnection(mysqlOptions);
    await c.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await c.query(`CREATE DATABASE \`${db}\``);
    // No primary key, no unique index; (device, at) identifies a row, and there is no index on it.
    await c.query(`CREATE TABLE \`${db}\`.readings (device VARCHAR(20) NOT NULL, at DATETIME(3) NOT NULL, value DOUBLE NULL, note TEXT NULL)`);
    const rows: string[] = [];
    for (let i = 0; i < 3000; i++) rows.push(`('dev-${i % 7}', TIMESTAMPADD(SECOND, ${i}, '2026-01-01 00:00:00'), ${i / 4}, ${i % 5 === 0 ? 'NULL' : `'n${i}'`})`);
    await c.query(`INSERT INTO \`${db}\`.readings VALUES ${rows.join(',')}`);
    await pgDatabase(db);
    const dir = tempDir('e2e-kcol');
    const bad = writePipelineFile(dir, { name: 'e2e-kcol-bad', tables: `${db}\\.readings`, sink: 'postgres', pgDatabase: db, extraSource: `  key-columns: { ${db}.readings: [device, value] }` });
    const refused = await runFerry(['check', bad]);
    assert.notEqual(refused.code, 0, refused.output);
    assert.match(refused.output, /source\.key-columns names value for .*readings, but it is nullable/);
    const file = writePipelineFile(dir, {
      name: 'e2e-kcol', tables: `${db}\\.readings`, sink: 'postgres', pgDatabase: db, chunkSize: 400,
      extraSource: `  key-columns: { ${db}.readings: [device, at] }`,
      extraPipeline: '  snapshot.parallelism: 3',
    });
    const ferry = startFerry(['run', file]);
    try {
      await waitFor('copied', async () => isEqual(await compareToPostgres(db, 'readings', db)), 60_000, 300);
      await c.query(`UPDATE \`${db}\`.readings SET value = -1 WHERE device = 'dev-3'`);
      await c.query(`UPDATE \`${db}\`.readings SET at = TIMESTAMPADD(DAY, 1, at) WHERE device = 'dev-4' AND value < 100`);
      await c.query(`DELETE FROM \`${db}\`.readings WHERE device = 'dev-5'`);
      await c.query(`INSERT INTO \`${db}\`.readings VALUES ('dev-new', '2027-01-01 00:00:00.5', 1, 'x')`);
      await waitConverged('streamed by the named key columns', async () => [await compareToPostgres(db, 'readings', db)]);
    } finally {
      await c.end();
      ferry.child.kill('SIGTERM');
    }
    assert.equal((await ferry.exited).code, 0, ferry.output());
  });
});

describe('startup modes', () => {
  test('specific-offset by GTID set alone: exactly the transactions after the set arrive', async () => {
    const db = `e2e_gtid_${process.pid}`;
    const c = await mysql.createConnection(mysqlOptions);
    await c.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await c.query(`CREATE DATABASE \`${db}\``);
    await c.query(`CREATE TABLE \`${db}\`.t (id INT PRIMARY KEY, v VARCHAR(10))`);
    await c.query(`INSERT INTO \`${db}\`.t VALUES (1, 'before'), (2, 'before')`);
    const [[g]] = (await c.query('SELECT @@gtid_binlog_pos AS g')) as unknown as [[{ g: string }]];
    await c.query(`INSERT INTO \`${db}\`.t VALUES (3, 'after')`);
    await c.query(`UPDATE \`${db}\`.t SET v = 'changed' WHERE id = 1`);
    await pgDatabase(db);
    const dir = tempDir('e2e-gtid');
    const file = writePipelineFile(dir, {
      name: 'e2e-gtid', tables: `${db}\\.t`, sink: 'postgres', pgDatabase: db, mode: 'specific-offset',
      extraSource: `  scan.startup.specific-offset.gtid-set: ${g.g}`,
    });
    const ferry = startFerry(['run', file]);
    const t = new pg.Client({ ...pgOptions, database: db });
    await t.connect();
    try {
      await waitFor('the two later changes', async () => {
        const r = await t.query(`SELECT id, v FROM "${db}".t ORDER BY id`).catch(() => ({ rows: [] }));
        return JSON.stringify(r.rows) === JSON.stringify([{ id: 1, v: 'changed' }, { id: 3, v: 'after' }]);
      }, 60_000, 300);
    } finally {
      await t.end();
      await c.end();
      ferry.child.kill('SIGTERM');
      await ferry.exited;
    }
  });
});
