/**
 * Row shapes end to end (bin/ferry into PostgreSQL and MariaDB at once): composite keys with
 * DECIMAL and collated string parts, key-changing and no-op updates, delete and re-insert of one
 * key in a transaction, REPLACE, INSERT ... ON DUPLICATE KEY UPDATE, multi-row and multi-table
 * statements, TRUNCATE, rollbacks and savepoints, XA transactions, triggers and cascades. Also the
 * documented refusal of a table without a primary key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { compareToMySql, compareToPostgres, isEqual, summarize, type TableDiff } from '../helpers/compare.js';
import { mysqlOptions, pgOptions } from '../helpers/env.js';
import { ferryStatus, runFerry, startFerry, tempDir, waitFor, writePipelineFile, type FerryProcess } from '../helpers/ferry.js';

const db = `types_rows_${process.pid}`;
const target = `types_rows_${process.pid}_t`;
const pgdb = `types_rows_${process.pid}`;
// `child` is left out: its rows change only through foreign-key cascades, which InnoDB performs
// inside the storage engine and never writes to the binlog (checked separately below).
const TABLES = ['parent', 'ck', 'log', 'counter', 'other'];

async function recreatePgDatabase(name: string): Promise<void> {
  const c = new pg.Client(pgOptions);
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS "${name}"`);
    await c.query(`CREATE DATABASE "${name}"`);
  } finally {
    await c.end();
  }
}

async function waitConverged(what: string, diffs: () => Promise<TableDiff[]>, out: () => string, timeoutMs = 60_000): Promise<void> {
  let last = '';
  try {
    await waitFor(what, async () => {
      const d = await diffs();
      last = d.map(summarize).join('\n');
      return d.every(isEqual);
    }, timeoutMs, 500);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${last.slice(0, 4000)}\n${out().slice(-3000)}`);
  }
}

describe('row shapes through the stream into both sinks', () => {
  const running: FerryProcess[] = [];
  let dir = '';
  let c: mysql.Connection;
  before(async () => {
    c = await mysql.createConnection({ ...mysqlOptions, multipleStatements: true });
    await c.query(`DROP DATABASE IF EXISTS \`${db}\`; DROP DATABASE IF EXISTS \`${target}\`; CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4; USE \`${db}\``);
    await c.query(`
      CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, n INT NOT NULL DEFAULT 0) ENGINE=InnoDB;
      CREATE TABLE child (id INT PRIMARY KEY, parent_id INT NOT NULL, v VARCHAR(20),
        FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE ON UPDATE CASCADE) ENGINE=InnoDB;
      CREATE TABLE ck (amount DECIMAL(12,4) NOT NULL, code VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
        seq BIGINT UNSIGNED NOT NULL, v VARCHAR(50), PRIMARY KEY (code, amount, seq)) ENGINE=InnoDB;
      CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(100) NOT NULL) ENGINE=InnoDB;
      CREATE TABLE counter (k VARCHAR(10) PRIMARY KEY, hits INT NOT NULL) ENGINE=InnoDB;
      CREATE TABLE other (id INT PRIMARY KEY, v INT) ENGINE=InnoDB;
      CREATE TRIGGER parent_ins AFTER INSERT ON parent FOR EACH ROW INSERT INTO log (what) VALUES (CONCAT('insert ', NEW.id));
      INSERT INTO parent VALUES (1, 'one', 0), (2, 'two', 0), (3, 'three', 0);
      INSERT INTO child VALUES (10, 1, 'a'), (11, 1, 'b'), (20, 2, 'c'), (30, 3, 'd');
      INSERT INTO ck VALUES (1.5, 'Alpha', 1, 'x'), (-0.0001, 'beta', 18446744073709551615, 'y'), (99999999.9999, 'ÉTÉ', 0, 'z');
      INSERT INTO counter VALUES ('a', 1);
      INSERT INTO other VALUES (1, 1), (2, 2);
    `);
    await recreatePgDatabase(pgdb);
    dir = tempDir('rows');
  });
  after(async () => {
    for (const f of running) f.child.kill('SIGKILL');
    await c.end();
  });

  test('every shape converges in both sinks; rolled-back work never appears', async () => {
    const pgFile = writePipelineFile(dir, { name: 'rows-pg', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: pgdb, parallelism: 3 });
    const myFile = writePipelineFile(dir, {
      name: 'rows-my',
      tables: `${db}\\..*`,
      sink: 'mysql',
      parallelism: 3,
      route: `  - source-table: ${db}\\..*\n    sink-table: ${target}.<>\n    replace-symbol: <>`,
    });
    const pgRun = startFerry(['run', pgFile]);
    const myRun = startFerry(['run', myFile]);
    running.push(pgRun, myRun);
    const out = (): string => `--- pg:\n${pgRun.output().slice(-2500)}\n--- my:\n${myRun.output().slice(-2500)}`;
    await waitFor('both pipelines streaming', async () => (await ferryStatus(pgFile)).phase === 'stream' && (await ferryStatus(myFile)).phase === 'stream', 60_000, 300);

    const steps = [
      // key-changing update (cascades to child), no-op update, multi-row insert
      'UPDATE parent SET id = 4 WHERE id = 3',
      "UPDATE parent SET name = name WHERE id = 1",
      "INSERT INTO parent VALUES (5, 'five', 0), (6, 'six', 0), (7, 'seven', 0)",
      // composite key with DECIMAL and collated string parts: key change and same-key update
      "UPDATE ck SET amount = 2.5, code = 'ALPHA' WHERE code = 'alpha'",
      "UPDATE ck SET v = 'yy' WHERE code = 'BETA'",
      "DELETE FROM ck WHERE code = 'été'",
      // delete and re-insert of one key in a transaction
      "START TRANSACTION; DELETE FROM parent WHERE id = 2; INSERT INTO parent VALUES (2, 'two again', 2); COMMIT",
      // REPLACE (delete + insert of a conflicting row), INSERT ... ON DUPLICATE KEY UPDATE
      "REPLACE INTO other VALUES (1, 100), (3, 300)",
      "INSERT INTO counter VALUES ('a', 1), ('b', 1) ON DUPLICATE KEY UPDATE hits = hits + 1",
      "INSERT INTO counter VALUES ('a', 1) ON DUPLICATE KEY UPDATE hits = hits + 1",
      // multi-table UPDATE and DELETE
      'UPDATE parent p JOIN child ch ON ch.parent_id = p.id SET p.n = p.n + 1, ch.v = CONCAT(ch.v, \'!\') WHERE p.id IN (1, 4)',
      'DELETE p, o FROM parent p JOIN other o ON o.id = p.id WHERE p.id = 1',
      // rollbacks and savepoints: never visible
      "START TRANSACTION; INSERT INTO parent VALUES (100, 'rolled back', 0); UPDATE counter SET hits = 999; ROLLBACK",
      "START TRANSACTION; INSERT INTO parent VALUES (101, 'kept', 0); SAVEPOINT s1; INSERT INTO parent VALUES (102, 'undone', 0); UPDATE other SET v = -1; ROLLBACK TO SAVEPOINT s1; INSERT INTO parent VALUES (103, 'kept too', 0); RELEASE SAVEPOINT s1; COMMIT",
      // XA: committed, and rolled back after PREPARE
      "XA START 'ferry1'; INSERT INTO parent VALUES (200, 'xa', 0); UPDATE counter SET hits = hits + 10 WHERE k = 'b'; XA END 'ferry1'; XA PREPARE 'ferry1'; XA COMMIT 'ferry1'",
      "XA START 'ferry2'; INSERT INTO parent VALUES (201, 'xa rolled back', 0); XA END 'ferry2'; XA PREPARE 'ferry2'; XA ROLLBACK 'ferry2'",
      "XA START 'ferry3'; INSERT INTO parent VALUES (202, 'xa one phase', 0); XA END 'ferry3'; XA COMMIT 'ferry3' ONE PHASE",
      // cascade delete
      'DELETE FROM parent WHERE id = 4',
    ];
    for (const s of steps) await c.query(s);
    // XA transactions prepared while other transactions commit: held until their outcome.
    const c2 = await mysql.createConnection({ ...mysqlOptions, database: db, multipleStatements: true });
    await c2.query("XA START 'ferry4'; INSERT INTO parent VALUES (300, 'xa ivl rb', 0); XA END 'ferry4'; XA PREPARE 'ferry4'");
    await c.query('UPDATE other SET v = v + 1');
    await c2.query("XA ROLLBACK 'ferry4'");
    await c2.query("XA START 'ferry5'; INSERT INTO parent VALUES (301, 'xa ivl ok', 0); XA END 'ferry5'; XA PREPARE 'ferry5'");
    await c.query("INSERT INTO counter VALUES ('c', 1)");
    await c2.query("XA COMMIT 'ferry5'");
    await c2.end();
    const compareAll = async (): Promise<TableDiff[]> => [
      ...(await Promise.all(TABLES.map((t) => compareToPostgres(db, t, pgdb)))),
      ...(await Promise.all(TABLES.map((t) => compareToMySql(db, t, target)))),
    ];
    await waitConverged('every shape converged', compareAll, out);

    // Cascades are invisible in the binlog (MySQL and MariaDB alike): the cascaded deletes of
    // child rows never reach the target. Documented in README.md (Limitations) with the fix.
    const [srcChild] = (await c.query(`SELECT id FROM \`${db}\`.child ORDER BY id`)) as unknown as [{ id: number }[]];
    assert.deepEqual(srcChild.map((r) => r.id), []);
    const [myChild] = (await c.query(`SELECT id, parent_id FROM \`${target}\`.child ORDER BY id`)) as unknown as [{ id: number; parent_id: number }[]];
    // Child 30 moved to parent 4 by ON UPDATE CASCADE (not logged), then the multi-table UPDATE
    // logged its full image, parent_id 4 included.
    assert.deepEqual(myChild.map((r) => [r.id, r.parent_id]), [[10, 1], [11, 1], [20, 2], [30, 4]]);

    // TRUNCATE (a schema change event), then rows after it.
    await c.query("TRUNCATE TABLE other; INSERT INTO other VALUES (7, 7)");
    await waitConverged('truncate converged', compareAll, out);

    for (const r of [pgRun, myRun]) {
      r.child.kill('SIGTERM');
      assert.equal((await r.exited).code, 0, r.output().slice(-3000));
    }
    running.length = 0;
  });

  test('a table without a primary key is refused with FERRY_NO_PRIMARY_KEY, naming the table', async () => {
    await c.query(`CREATE TABLE \`${db}\`.nokey (a INT, b INT)`);
    const file = writePipelineFile(dir, { name: 'rows-nokey', tables: `${db}\\.nokey`, sink: 'postgres', pgDatabase: pgdb });
    const r = await runFerry(['run', file], {}, 60_000);
    assert.notEqual(r.code, 0);
    assert.match(r.output, /FERRY_NO_PRIMARY_KEY/);
    assert.match(r.output, new RegExp(`${db}\\.nokey`));
  });
});
