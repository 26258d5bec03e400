/**
 * The DDL catalogue end to end (issue 3, "Schema changes mid-stream"): the real bin/ferry follows
 * ADD/DROP/RENAME/MODIFY/CHANGE COLUMN, FIRST/AFTER, ALTER COLUMN SET DEFAULT, primary key
 * changes (lost and added back), CREATE TABLE (and LIKE), RENAME TABLE within / out of / into the
 * captured set, the gh-ost and pt-online-schema-change swaps, TRUNCATE and DROP TABLE, into a
 * MariaDB and a PostgreSQL target at once; then the four policies on DROP COLUMN; then a kill -9
 * between a DDL and the rows after it, with a check (on the target's own binlog) that no DDL
 * reaches the target twice. Targets are compared with the source by test/helpers/compare.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { compareToMySql, compareToPostgres, isEqual, summarize, type TableDiff } from '../helpers/compare.js';
import { mysqlOptions, pgOptions } from '../helpers/env.js';
import { ferryStatus, startFerry, tempDir, waitFor, writePipelineFile, type FerryProcess } from '../helpers/ferry.js';

const SRC = `ddl2_src_${process.pid}`;
const MY = `ddl2_my_${process.pid}`;
const PGDB = `ddl2_pg_${process.pid}`;

async function pgAdmin(sql: string): Promise<void> {
  const c = new pg.Client(pgOptions);
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function pgQuery<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ ...pgOptions, database: PGDB });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

async function waitEqual(what: string, diffs: () => Promise<TableDiff[]>, timeoutMs = 60_000): Promise<void> {
  let last = '';
  try {
    await waitFor(what, async () => {
      const d = await diffs();
      last = d.map(summarize).join('\n');
      return d.every(isEqual);
    }, timeoutMs, 400);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${last}`);
  }
}

async function stop(f: FerryProcess): Promise<void> {
  f.child.kill('SIGTERM');
  const exit = await f.exited;
  assert.equal(exit.code, 0, f.output().slice(-3000));
}

let c: mysql.Connection;

before(async () => {
  c = await mysql.createConnection({ ...mysqlOptions, multipleStatements: true });
  await c.query(`DROP DATABASE IF EXISTS \`${SRC}\`; CREATE DATABASE \`${SRC}\` CHARACTER SET utf8mb4; DROP DATABASE IF EXISTS \`${MY}\``);
  await pgAdmin(`DROP DATABASE IF EXISTS "${PGDB}"`);
  await pgAdmin(`CREATE DATABASE "${PGDB}"`);
});

after(async () => {
  // Shared servers: leave nothing behind (every ferry process has exited by now).
  await c.query(`DROP DATABASE IF EXISTS \`${SRC}\`; DROP DATABASE IF EXISTS \`${MY}\``).catch(() => undefined);
  await c.end();
  await pgAdmin(`DROP DATABASE IF EXISTS "${PGDB}"`).catch(() => undefined);
});

const myColumns = async (db: string, t: string): Promise<string[]> => {
  const [rows] = (await c.query('SELECT COLUMN_NAME AS n FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION', [db, t])) as unknown as [{ n: string }[]];
  return rows.map((r) => r.n);
};
const myTables = async (db: string): Promise<string[]> => {
  const [rows] = (await c.query('SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME', [db])) as unknown as [{ n: string }[]];
  return rows.map((r) => r.n);
};

describe('evolve: the DDL catalogue into MariaDB and PostgreSQL', () => {
  const CAPTURED = ['t', 'k', 'nt', 'nl', 'r2', 'inn', 'g', 'p', 'trunc'];
  test('every change is followed; rows before and after each decode with the schema in force', { timeout: 150_000 }, async () => {
    const s = (sql: string): Promise<unknown> => c.query(sql.replace(/\bS\./g, `\`${SRC}\`.`));
    await s(`CREATE TABLE S.t (id INT PRIMARY KEY, a INT, b VARCHAR(20), c INT NOT NULL DEFAULT 0);
      CREATE TABLE S.k (id INT NOT NULL, x INT NOT NULL, v VARCHAR(10), PRIMARY KEY (id));
      CREATE TABLE S.r1 (id INT PRIMARY KEY, v INT);
      CREATE TABLE S.out1 (id INT PRIMARY KEY, v INT);
      CREATE TABLE S.staging_inn (id INT PRIMARY KEY, v VARCHAR(10));
      CREATE TABLE S.g (id INT PRIMARY KEY, v INT, w VARCHAR(10));
      CREATE TABLE S.p (id INT PRIMARY KEY, v INT);
      CREATE TABLE S.trunc (id INT PRIMARY KEY);
      CREATE TABLE S.dropme (id INT PRIMARY KEY);
      INSERT INTO S.t VALUES (1, 10, 'one', 1), (2, 20, 'two', 2);
      INSERT INTO S.k VALUES (1, 1, 'a'), (2, 1, 'b');
      INSERT INTO S.r1 VALUES (1, 1); INSERT INTO S.out1 VALUES (1, 1);
      INSERT INTO S.staging_inn VALUES (1, 'x'), (2, 'y');
      INSERT INTO S.g VALUES (1, 1, 'w1'), (2, 2, 'w2'), (3, 3, 'w3');
      INSERT INTO S.p VALUES (1, 1), (2, 2);
      INSERT INTO S.trunc VALUES (1), (2); INSERT INTO S.dropme VALUES (1)`);
    const dir = tempDir('ddl-catalogue');
    // Shadow table names match the pattern on purpose: they must be ignored anyway.
    const tables = `${SRC}\\.(t|k|nt|nl|r1|r2|out1|inn|g|p|trunc|dropme|_g_gho|_g_ghc|_g_del|_p_new|_p_old)`;
    const myFile = writePipelineFile(dir, { name: 'cat-my', tables, sink: 'mysql', parallelism: 2, route: `  - source-table: ${SRC}\\..*\n    sink-table: ${MY}.<>\n    replace-symbol: <>` });
    const pgFile = writePipelineFile(dir, { name: 'cat-pg', tables, sink: 'postgres', pgDatabase: PGDB, parallelism: 2 });
    const fm = startFerry(['run', myFile]);
    const fp = startFerry(['run', pgFile]);
    try {
      await waitFor('both streaming', async () => (await ferryStatus(myFile)).phase === 'stream' && (await ferryStatus(pgFile)).phase === 'stream', 60_000, 300);
      await waitEqual('snapshot landed', async () => Promise.all(['t', 'g'].flatMap((t) => [compareToMySql(SRC, t, MY), compareToPostgres(SRC, t, PGDB)])));

      // Columns: each change followed by rows in the new shape.
      await s(`ALTER TABLE S.t ADD COLUMN d VARCHAR(10) NOT NULL DEFAULT 'x' AFTER a; INSERT INTO S.t (id, a, b, c, d) VALUES (3, 30, 'three', 3, 'd3');
        ALTER TABLE S.t DROP COLUMN b; INSERT INTO S.t (id, a, c, d) VALUES (4, 40, 4, 'd4'); UPDATE S.t SET a = 11 WHERE id = 1;
        ALTER TABLE S.t CHANGE c c2 BIGINT NOT NULL DEFAULT 0; INSERT INTO S.t (id, a, c2, d) VALUES (5, 50, 5000000000, 'd5');
        ALTER TABLE S.t MODIFY a VARCHAR(30) NULL; INSERT INTO S.t (id, a, c2, d) VALUES (6, 'sixty', 6, 'd6');
        ALTER TABLE S.t RENAME COLUMN d TO d2; ALTER TABLE S.t ALTER COLUMN d2 SET DEFAULT 'y'; INSERT INTO S.t (id, a, c2) VALUES (7, 'seventy', 7);
        ALTER TABLE S.t MODIFY c2 BIGINT NOT NULL DEFAULT 0 AFTER id, ADD INDEX ix_a (a), ENGINE=InnoDB; INSERT INTO S.t (id, c2, a) VALUES (8, 8, 'eighty');
        ALTER TABLE S.t MODIFY d2 VARCHAR(10) NOT NULL DEFAULT 'y' FIRST; UPDATE S.t SET d2 = 'last' WHERE id = 8`);
      // Keys: changed; lost (rows meanwhile are not delivered); added back (copied again).
      await s(`ALTER TABLE S.k DROP PRIMARY KEY, ADD PRIMARY KEY (id, x); INSERT INTO S.k VALUES (1, 2, 'c');
        ALTER TABLE S.k DROP PRIMARY KEY; INSERT INTO S.k VALUES (3, 3, 'frozen'); DELETE FROM S.k WHERE id = 2;
        ALTER TABLE S.k ADD PRIMARY KEY (x, id); INSERT INTO S.k VALUES (4, 4, 'back')`);
      // Tables.
      await s(`CREATE TABLE S.nt (id BIGINT UNSIGNED PRIMARY KEY, s VARCHAR(5) CHARACTER SET latin1); INSERT INTO S.nt VALUES (18446744073709551615, 'é€');
        CREATE TABLE S.nl LIKE S.t; INSERT INTO S.nl (id, c2, a, d2) VALUES (1, 1, 'like', 'z');
        RENAME TABLE S.r1 TO S.r2; INSERT INTO S.r2 VALUES (2, 2);
        RENAME TABLE S.out1 TO S.archived_out1; INSERT INTO S.archived_out1 VALUES (2, 2);
        RENAME TABLE S.staging_inn TO S.inn; INSERT INTO S.inn VALUES (3, 'z');
        TRUNCATE TABLE S.trunc; INSERT INTO S.trunc VALUES (9);
        DROP TABLE S.dropme`);
      // gh-ost: ghost table created, altered, filled; changes on g meanwhile; the swap.
      await s(`CREATE TABLE S._g_ghc (id BIGINT PRIMARY KEY, hint VARCHAR(64));
        CREATE TABLE S._g_gho LIKE S.g;
        ALTER TABLE S._g_gho ADD COLUMN z INT NOT NULL DEFAULT 7, DROP COLUMN w, MODIFY v BIGINT;
        INSERT INTO S._g_gho (id, v) SELECT id, v FROM S.g;
        UPDATE S.g SET v = 20 WHERE id = 2; UPDATE S._g_gho SET v = 20 WHERE id = 2;
        DELETE FROM S.g WHERE id = 3; DELETE FROM S._g_gho WHERE id = 3;
        INSERT INTO S._g_ghc VALUES (1, 'cut-over');
        RENAME TABLE S.g TO S._g_del, S._g_gho TO S.g;
        DROP TABLE S._g_del; DROP TABLE S._g_ghc;
        INSERT INTO S.g (id, v, z) VALUES (4, 4000000000, 8)`);
      // pt-online-schema-change: _p_new filled (triggers would copy changes), swap, old dropped.
      await s(`CREATE TABLE S._p_new LIKE S.p; ALTER TABLE S._p_new ADD COLUMN note VARCHAR(10) NULL FIRST;
        INSERT INTO S._p_new (id, v) SELECT id, v FROM S.p;
        RENAME TABLE S.p TO S._p_old, S._p_new TO S.p; DROP TABLE IF EXISTS S._p_old;
        UPDATE S.p SET note = 'pt' WHERE id = 1`);

      await waitEqual('MariaDB target equal', async () => Promise.all(CAPTURED.map((t) => compareToMySql(SRC, t, MY))), 90_000);
      await waitEqual('PostgreSQL target equal', async () => Promise.all(CAPTURED.map((t) => compareToPostgres(SRC, t, PGDB))), 90_000);

      // MariaDB mirrors column order; PostgreSQL has the same columns by name.
      for (const t of ['t', 'g', 'p', 'k']) assert.deepEqual(await myColumns(MY, t), await myColumns(SRC, t), t);
      const pgCols = (await pgQuery<{ n: string }>('SELECT column_name AS n FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2', [SRC, 't'])).map((r) => r.n).sort();
      assert.deepEqual(pgCols, (await myColumns(SRC, 't')).sort());
      // Keys follow.
      const [pk] = (await c.query(`SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS k FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'k' AND INDEX_NAME = 'PRIMARY'`, [MY])) as unknown as [{ k: string }[]];
      assert.equal(pk[0]?.k, 'x,id');
      const pgPk = await pgQuery<{ a: string }>(`SELECT a.attname AS a FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n WHERE c.conrelid = to_regclass($1) AND c.contype = 'p' ORDER BY k.o`, [`"${SRC}"."k"`]);
      assert.deepEqual(pgPk.map((r) => r.a), ['x', 'id']);
      // Shadow tables never reach the target; renamed-away and dropped tables are kept there.
      const myT = await myTables(MY);
      const pgT = (await pgQuery<{ n: string }>('SELECT table_name AS n FROM information_schema.tables WHERE table_schema = $1', [SRC])).map((r) => r.n);
      for (const list of [myT, pgT]) {
        for (const shadow of ['_g_gho', '_g_ghc', '_g_del', '_p_new', '_p_old', 'archived_out1', 'staging_inn', 'r1']) assert.ok(!list.includes(shadow), `${shadow} in target: ${list.join(',')}`);
        for (const kept of ['out1', 'dropme', 'r2', 'inn', 'nt', 'nl']) assert.ok(list.includes(kept), `${kept} missing in target: ${list.join(',')}`);
      }
      assert.match(fm.output(), /FERRY_NO_PRIMARY_KEY/);
    } finally {
      fm.child.kill('SIGTERM');
      fp.child.kill('SIGTERM');
      await Promise.all([fm.exited, fp.exited]);
    }
    assert.equal((await fm.exited).code, 0, fm.output().slice(-3000));
    assert.equal((await fp.exited).code, 0, fp.output().slice(-3000));
  });
});

describe('pipeline.schema-change on DROP COLUMN', () => {
  test('lenient keeps the column (nullable, old values); ignore applies nothing; fail stops first', { timeout: 90_000 }, async () => {
    const dir = tempDir('ddl-policies');
    const files: Record<string, string> = {};
    for (const p of ['lenient', 'ignore', 'fail'] as const) {
      await c.query(`CREATE TABLE \`${SRC}\`.pol_${p} (id INT PRIMARY KEY, a INT NOT NULL, b VARCHAR(10) ${p === 'ignore' ? 'NULL' : 'NOT NULL'}, n SMALLINT); INSERT INTO \`${SRC}\`.pol_${p} VALUES (1, 1, 'keep', 1)`);
      files[p] = writePipelineFile(dir, {
        name: `pol-${p}`,
        tables: `${SRC}\\.pol_${p}`,
        sink: p === 'lenient' ? 'postgres' : 'mysql',
        pgDatabase: PGDB,
        parallelism: 1,
        route: p === 'lenient' ? undefined : `  - source-table: ${SRC}\\..*\n    sink-table: ${MY}.<>\n    replace-symbol: <>`,
        extraPipeline: `  schema-change: ${p}\n`,
      });
    }
    // The same statements under lenient into MariaDB too.
    files['lenient-my'] = writePipelineFile(dir, { name: 'pol-lenient-my', tables: `${SRC}\\.pol_lenient`, sink: 'mysql', parallelism: 1, route: `  - source-table: ${SRC}\\..*\n    sink-table: ${MY}.<>\n    replace-symbol: <>`, extraPipeline: '  schema-change: lenient\n' });
    const runs = Object.fromEntries(Object.entries(files).map(([k, f]) => [k, startFerry(['run', f])]));
    try {
      for (const f of Object.values(files)) await waitFor('streaming', async () => (await ferryStatus(f)).phase === 'stream', 60_000, 300);
      await waitFor('snapshots landed', async () => {
        const [r] = (await c.query(`SELECT (SELECT COUNT(*) FROM \`${MY}\`.pol_ignore) + (SELECT COUNT(*) FROM \`${MY}\`.pol_fail) + (SELECT COUNT(*) FROM \`${MY}\`.pol_lenient) AS n`).catch(() => [[{ n: 0 }]])) as unknown as [{ n: number | string }[]];
        return Number(r[0]?.n) === 3 && (await pgQuery<{ n: number }>(`SELECT count(*)::int AS n FROM "${SRC}".pol_lenient`).catch(() => [{ n: 0 }]))[0]?.n === 1;
      }, 30_000, 300);
      for (const p of ['lenient', 'ignore', 'fail']) {
        await c.query(`ALTER TABLE \`${SRC}\`.pol_${p} DROP COLUMN b; INSERT INTO \`${SRC}\`.pol_${p} (id, a, n) VALUES (2, 2, 2)`);
      }
      // lenient extras: a narrowing type change is not applied, a renamed column is added and the old one kept.
      await c.query(`ALTER TABLE \`${SRC}\`.pol_lenient MODIFY n TINYINT, RENAME COLUMN a TO a2; INSERT INTO \`${SRC}\`.pol_lenient (id, a2, n) VALUES (3, 3, 3)`);

      const exit = await runs.fail!.exited;
      assert.notEqual(exit.code, 0);
      assert.match(runs.fail!.output(), /FERRY_DDL_UNSUPPORTED/);
      assert.deepEqual(await myColumns(MY, 'pol_fail'), ['id', 'a', 'b', 'n']);

      await waitEqual('lenient and ignore converge', async () =>
        Promise.all([compareToMySql(SRC, 'pol_lenient', MY), compareToPostgres(SRC, 'pol_lenient', PGDB), compareToMySql(SRC, 'pol_ignore', MY)]));
      // ignore: the target still has b, as it was.
      assert.deepEqual(await myColumns(MY, 'pol_ignore'), ['id', 'a', 'b', 'n']);
      // lenient (MariaDB): b kept and nullable with its old value; a kept next to a2; n still SMALLINT.
      assert.deepEqual(await myColumns(MY, 'pol_lenient'), ['id', 'a', 'a2', 'b', 'n']);
      const [rows] = (await c.query(`SELECT id, a, a2, b FROM \`${MY}\`.pol_lenient ORDER BY id`)) as unknown as [{ id: number; a: number | null; a2: number; b: string | null }[]];
      assert.deepEqual(rows.map((r) => [r.id, r.a, r.a2, r.b]), [[1, 1, 1, 'keep'], [2, 2, 2, null], [3, null, 3, null]]);
      const [nt] = (await c.query(`SELECT DATA_TYPE AS t, IS_NULLABLE AS nl FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'pol_lenient' AND COLUMN_NAME IN ('n', 'b') ORDER BY COLUMN_NAME`, [MY])) as unknown as [{ t: string; nl: string }[]];
      assert.deepEqual(nt.map((r) => [r.t, r.nl]), [['varchar', 'YES'], ['smallint', 'YES']]);
      // lenient (PostgreSQL): the same.
      const pgRows = await pgQuery<{ id: number; a: number | null; b: string | null }>(`SELECT id, a, b FROM "${SRC}".pol_lenient ORDER BY id`);
      assert.deepEqual(pgRows.map((r) => [r.id, r.a, r.b]), [[1, 1, 'keep'], [2, 2, null], [3, null, null]]);
    } finally {
      for (const r of Object.values(runs)) r.child.kill('SIGTERM');
      await Promise.all(Object.values(runs).map((r) => r.exited));
    }
  });
});

describe('kill -9 between a DDL and the rows after it', () => {
  test('restart decodes later rows with the new schema, converges, and sends no DDL twice', { timeout: 90_000 }, async () => {
    await c.query(`CREATE TABLE \`${SRC}\`.cr (id INT PRIMARY KEY, a INT, b VARCHAR(10)); INSERT INTO \`${SRC}\`.cr VALUES (1, 1, 'one'), (2, 2, 'two')`);
    const dir = tempDir('ddl-crash');
    const route = `  - source-table: ${SRC}\\..*\n    sink-table: ${MY}.<>\n    replace-symbol: <>`;
    const file = writePipelineFile(dir, { name: 'cr-my', tables: `${SRC}\\.cr`, sink: 'mysql', parallelism: 2, route });
    const pgFile = writePipelineFile(dir, { name: 'cr-pg', tables: `${SRC}\\.cr`, sink: 'postgres', pgDatabase: PGDB, parallelism: 2 });
    let fm = startFerry(['run', file]);
    let fp = startFerry(['run', pgFile]);
    try {
      await waitFor('streaming', async () => (await ferryStatus(file)).phase === 'stream' && (await ferryStatus(pgFile)).phase === 'stream', 60_000, 300);
      await waitEqual('snapshot', async () => Promise.all([compareToMySql(SRC, 'cr', MY), compareToPostgres(SRC, 'cr', PGDB)]));
      await c.query(`INSERT INTO \`${SRC}\`.cr VALUES (3, 3, 'three'); ALTER TABLE \`${SRC}\`.cr DROP COLUMN a, ADD COLUMN c INT NOT NULL DEFAULT 5 FIRST`);
      await waitFor('DDL applied to both targets', async () => {
        const my = await myColumns(MY, 'cr');
        const pgc = (await pgQuery<{ n: string }>(`SELECT column_name AS n FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'cr'`, [SRC])).map((r) => r.n);
        return my.join(',') === 'c,id,b' && pgc.sort().join(',') === 'b,c,id';
      }, 30_000, 100);
      fm.child.kill('SIGKILL');
      fp.child.kill('SIGKILL');
      await Promise.all([fm.exited, fp.exited]);
      // Rows in the new shape (one column fewer, one more, in another order) while Ferry is down.
      await c.query(`INSERT INTO \`${SRC}\`.cr (id, b, c) VALUES (4, 'four', 40); UPDATE \`${SRC}\`.cr SET c = 10 WHERE id = 1; ALTER TABLE \`${SRC}\`.cr RENAME COLUMN b TO b2; INSERT INTO \`${SRC}\`.cr VALUES (50, 5, 'five')`);
      const [ms] = (await c.query('SHOW MASTER STATUS')) as unknown as [{ File: string; Position: number }[]];
      const from = ms[0];
      fm = startFerry(['run', file]);
      fp = startFerry(['run', pgFile]);
      await waitEqual('converged after restart', async () => Promise.all([compareToMySql(SRC, 'cr', MY), compareToPostgres(SRC, 'cr', PGDB)]));
      assert.deepEqual(await myColumns(MY, 'cr'), ['c', 'id', 'b2']);
      // The target is on this server: its binlog shows every DDL the sink sent after the restart.
      assert.ok(from);
      const [logs] = (await c.query('SHOW BINARY LOGS')) as unknown as [{ Log_name: string }[]];
      const ddl: string[] = [];
      for (const l of logs.filter((x) => x.Log_name >= from.File)) {
        const [events] = (await c.query(`SHOW BINLOG EVENTS IN '${l.Log_name}'${l.Log_name === from.File ? ` FROM ${from.Position}` : ''}`)) as unknown as [{ Event_type: string; Info: string }[]];
        for (const e of events) if (e.Event_type === 'Query' && /ALTER TABLE/i.test(e.Info) && e.Info.includes(MY) && /`cr`/.test(e.Info)) ddl.push(e.Info);
      }
      assert.equal(ddl.length, 1, `DDL sent to the target after the restart:\n${ddl.join('\n')}`);
      assert.match(ddl[0] ?? '', /RENAME COLUMN `b` TO `b2`/);
    } finally {
      fm.child.kill('SIGTERM');
      fp.child.kill('SIGTERM');
      await Promise.all([fm.exited, fp.exited]);
    }
  });
});
