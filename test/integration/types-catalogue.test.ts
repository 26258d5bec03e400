/**
 * Every value, exactly: the type catalogue (type-catalogue.ts) through snapshot and through the
 * binlog into both sinks at once, compared with the source by the independent checker
 * (test/helpers/compare.ts). Rows are written under a non-UTC session time zone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { compareToMySql, compareToPostgres, isEqual, summarize, type TableDiff } from '../helpers/compare.js';
import { mysqlOptions, pgOptions } from '../helpers/env.js';
import { ferryStatus, startFerry, tempDir, waitFor, writePipelineFile, type FerryProcess } from '../helpers/ferry.js';
import { CATALOGUE, WRITER_TIME_ZONE, createTableSql, insertSql, updateSql } from './type-catalogue.js';

const db = `types_${process.pid}`;
const target = `types_${process.pid}_t`;
const pgdb = `types_${process.pid}`;
/** The same stream with every row group through COPY + merge (binary stage tables), however few its rows. */
const pgCopyDb = `types_${process.pid}_copy`;

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

async function writer(): Promise<mysql.Connection> {
  const c = await mysql.createConnection({ ...mysqlOptions, multipleStatements: false });
  await c.query(`SET SESSION sql_mode = '', time_zone = '${WRITER_TIME_ZONE}'`);
  return c;
}

async function diffsOf(which: 'pg' | 'pgcopy' | 'my', tables: string[]): Promise<TableDiff[]> {
  return Promise.all(tables.map((t) => (which === 'pg' ? compareToPostgres(db, t, pgdb) : which === 'pgcopy' ? compareToPostgres(db, t, pgCopyDb) : compareToMySql(db, t, target))));
}

async function waitConverged(what: string, diffs: () => Promise<TableDiff[]>, timeoutMs = 60_000): Promise<void> {
  let last = '';
  try {
    await waitFor(what, async () => {
      const d = await diffs();
      last = d.map(summarize).join('\n');
      return d.every(isEqual);
    }, timeoutMs, 500);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${last.slice(0, 6000)}`);
  }
}

describe('type catalogue: snapshot and stream into PostgreSQL and MariaDB', () => {
  const running: FerryProcess[] = [];
  let dir = '';
  before(async () => {
    const c = await writer();
    await c.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await c.query(`DROP DATABASE IF EXISTS \`${target}\``);
    await c.query(`CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4`);
    for (const t of CATALOGUE) {
      await c.query(createTableSql(db, t));
      for (let i = 0; i < t.rows.length; i++) await c.query(insertSql(db, t, i, i + 1));
    }
    await c.end();
    await recreatePgDatabase(pgdb);
    await recreatePgDatabase(pgCopyDb);
    dir = tempDir('types');
  });
  after(async () => {
    for (const f of running) f.child.kill('SIGKILL');
  });

  test('every row of every family arrives exactly, through snapshot and binlog', async () => {
    const tables = CATALOGUE.map((t) => t.name);
    const pgFile = writePipelineFile(dir, { name: 'types-pg', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: pgdb, parallelism: 2 });
    const myFile = writePipelineFile(dir, {
      name: 'types-my',
      tables: `${db}\\..*`,
      sink: 'mysql',
      parallelism: 2,
      route: `  - source-table: ${db}\\..*\n    sink-table: ${target}.<>\n    replace-symbol: <>`,
    });
    const pgCopyFile = writePipelineFile(dir, { name: 'types-pgcopy', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: pgCopyDb, parallelism: 2 });
    const pgRun = startFerry(['run', pgFile]);
    const myRun = startFerry(['run', myFile]);
    const pgCopyRun = startFerry(['run', pgCopyFile], { FERRY_PG_COPY_MIN_ROWS: '1' });
    running.push(pgRun, myRun, pgCopyRun);
    await waitFor('the pipelines streaming', async () => (await ferryStatus(pgFile)).phase === 'stream' && (await ferryStatus(myFile)).phase === 'stream' && (await ferryStatus(pgCopyFile)).phase === 'stream', 60_000, 300).catch((e: unknown) => {
      throw new Error(`${String(e)}\n--- pg:\n${pgRun.output().slice(-3000)}\n--- my:\n${myRun.output().slice(-3000)}\n--- pg copy:\n${pgCopyRun.output().slice(-3000)}`);
    });
    await waitConverged('snapshot equal (pg)', () => diffsOf('pg', tables)).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${pgRun.output().slice(-3000)}`);
    });
    await waitConverged('snapshot equal (mysql)', () => diffsOf('my', tables)).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${myRun.output().slice(-3000)}`);
    });

    // Through the binlog: every catalogue row inserted again, every row updated to the values
    // of the next row (each value goes through before- and after-images), some deleted.
    const c = await writer();
    for (const t of CATALOGUE) {
      const n = t.rows.length;
      for (let i = 0; i < n; i++) await c.query(insertSql(db, t, i, 100 + i));
      for (let i = 0; i < n; i++) await c.query(updateSql(db, t, (i + 1) % n, i + 1));
      await c.query(`DELETE FROM \`${db}\`.\`${t.name}\` WHERE id IN (1, 100)`);
    }
    await c.end();
    await waitConverged('stream equal (pg)', () => diffsOf('pg', tables)).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${pgRun.output().slice(-3000)}`);
    });
    await waitConverged('stream equal (pg, COPY + merge)', () => diffsOf('pgcopy', tables)).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${pgCopyRun.output().slice(-3000)}`);
    });
    await waitConverged('stream equal (mysql)', () => diffsOf('my', tables)).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${myRun.output().slice(-3000)}`);
    });

    // Partial row images, set per session: only the columns an event carries are applied; the
    // absent ones keep their values in the target (a NULL there would show as a difference).
    const p = await writer();
    for (const image of ['MINIMAL', 'NOBLOB']) {
      await p.query(`SET SESSION binlog_row_image = '${image}'`);
      await p.query(`UPDATE \`${db}\`.t_str SET u4 = CONCAT(COALESCE(u4, ''), '${image}') WHERE id IN (2, 3, 101)`);
      await p.query(`UPDATE \`${db}\`.t_bin SET b1 = X'7E' WHERE id IN (2, 3)`);
      await p.query(`UPDATE \`${db}\`.t_time SET yr = 1999, ts6 = '2030-01-01 00:00:00.5' WHERE id = 2`);
      await p.query(`UPDATE \`${db}\`.t_int SET id = id + 1000 WHERE id = 2`);
      await p.query(`UPDATE \`${db}\`.t_int SET id = id - 1000 WHERE id = 1002`);
      await p.query(`INSERT INTO \`${db}\`.t_json (id, j) VALUES (${image === 'MINIMAL' ? 500 : 501}, '{"image": "${image}"}')`);
      await p.query(`DELETE FROM \`${db}\`.t_enum WHERE id = ${image === 'MINIMAL' ? 2 : 3}`);
    }
    await p.end();
    await waitConverged('partial images equal (pg)', () => diffsOf('pg', tables)).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${pgRun.output().slice(-3000)}`);
    });
    await waitConverged('partial images equal (pg, COPY + merge)', () => diffsOf('pgcopy', tables)).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${pgCopyRun.output().slice(-3000)}`);
    });
    await waitConverged('partial images equal (mysql)', () => diffsOf('my', tables)).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${myRun.output().slice(-3000)}`);
    });

    // One BLOB over 16 MB (a row event larger than one protocol packet) through the stream.
    const big = await writer();
    await big.query(`CREATE TABLE \`${db}\`.t_big (id INT PRIMARY KEY, lb LONGBLOB, lt LONGTEXT) ENGINE=InnoDB`);
    await big.query(`INSERT INTO \`${db}\`.t_big VALUES (1, CONCAT(REPEAT(X'00FF', 9 * 1024 * 1024), X'20'), REPEAT('😀', 10))`);
    await big.query(`UPDATE \`${db}\`.t_big SET lt = 'changed' WHERE id = 1`);
    await big.end();
    await waitConverged('BLOB over 16 MB equal', async () => [...(await diffsOf('pg', ['t_big'])), ...(await diffsOf('my', ['t_big'])), ...(await diffsOf('pgcopy', ['t_big']))], 90_000).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${pgRun.output().slice(-3000)}\n${myRun.output().slice(-3000)}\n${pgCopyRun.output().slice(-3000)}`);
    });
    for (const r of [pgRun, myRun, pgCopyRun]) {
      r.child.kill('SIGTERM');
      assert.equal((await r.exited).code, 0, r.output().slice(-3000));
    }
    running.length = 0;
  });
});
