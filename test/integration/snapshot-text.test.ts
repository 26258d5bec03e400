/**
 * Snapshot chunks in text form (core/text-rows.ts) are the same chunks as rows: for every type
 * of the type catalogue, and for keys of every keyable kind, `readChunkText` returns the rows
 * `readChunk` returns, and the PostgreSQL COPY bytes made from the text (copy-text.ts) are
 * exactly the bytes made from the rows (pgCopyWriter), with the same lossy-case counts, under
 * every zero-date policy. Then `ferry run` in snapshot mode (which takes the text path) lands
 * every catalogue value exactly, also when the target already holds rows of the chunks (the
 * sink hands those chunks back and they are merged as rows).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Connection } from 'mysql2/promise';
import pg from 'pg';
import { openSourceConnection, type MySqlConnection } from '../../src/connectors/mysql/connection.js';
import { readTableSchemas } from '../../src/connectors/mysql/schema-reader.js';
import { readChunk, readChunkText } from '../../src/connectors/mysql/snapshot-reader.js';
import { CopyTextEncoder } from '../../src/connectors/postgres/quote.js';
import { copyTextRowsEncoder } from '../../src/connectors/postgres/copy-text.js';
import { copyBinaryRowsEncoder } from '../../src/connectors/postgres/copy-binary.js';
import { newLossStats, pgCopyWriter } from '../../src/connectors/postgres/type-map.js';
import type { Row, Value } from '../../src/core/change.js';
import type { ZeroDatePolicy } from '../../src/core/config-types.js';
import type { TableSchema } from '../../src/core/schema.js';
import type { TextRows } from '../../src/core/text-rows.js';
import { compareToPostgres, isEqual, summarize } from '../helpers/compare.js';
import { pgOptions } from '../helpers/env.js';
import { startFerry, tempDir, writePipelineFile } from '../helpers/ferry.js';
import { adminConnection, reEscape, sourceConfig, uniqueDb } from '../helpers/source-setup.js';
import { CATALOGUE, WRITER_TIME_ZONE, createTableSql, insertSql } from './type-catalogue.js';

const db = uniqueDb('text');
const pgdb = db;
let admin: Connection;
let conn: MySqlConnection;

/** Keys of every keyable kind, and text that COPY must escape, with NUL and non-ASCII. */
const EXTRA_TABLES = [
  `CREATE TABLE \`${db}\`.k_mixed (
     u BIGINT UNSIGNED NOT NULL, s VARCHAR(20) NOT NULL, b VARBINARY(8) NOT NULL, d DECIMAL(10,3) NOT NULL,
     dt DATETIME(6) NOT NULL, e ENUM('x','y','z') NOT NULL, z INT(6) ZEROFILL NOT NULL, note TEXT NULL,
     PRIMARY KEY (u, s, b, d, dt, e, z)) DEFAULT CHARSET=utf8mb4`,
  `INSERT INTO \`${db}\`.k_mixed VALUES
     (18446744073709551615, 'Zürich\\t1', X'00FF', -1.5, '2024-01-01 00:00:00.000001', 'y', 42, 'tab\\there\\nnew line \\\\ back'),
     (9007199254740993, '東京', X'', 0, '1970-01-01 00:00:00', 'x', 0, ''),
     (1, 'a\\\\b', X'5C09', 12345.678, '2038-01-19 03:14:08', 'z', 7, CONCAT('nul', CHAR(0), 'in', CHAR(0))),
     (0, '', X'0A', -0.001, '9999-12-31 23:59:59.999999', 'x', 123456, '\\r\\n')`,
  `CREATE TABLE \`${db}\`.k_text (k VARCHAR(40) NOT NULL PRIMARY KEY, t TEXT NULL, j JSON NULL, bl BLOB NULL, zd DATE NULL, ts TIMESTAMP(3) NULL) DEFAULT CHARSET=utf8mb4`,
  `INSERT INTO \`${db}\`.k_text VALUES
     ('a', '\\\\N', '{"b": "\\\\\\\\u0000"}', X'0001027F80FF', '0000-00-00', '2024-02-29 12:00:00.123'),
     ('b', '\\\\.', '{"t": "tab\\\\tnew\\\\nline"}', X'', '2024-00-10', '1970-01-01 00:00:01'),
     ('c', 'é😀 ', '[]', NULL, '2024-05-00', NULL),
     ('d', '', NULL, REPEAT(X'AB', 100), '1000-01-01', '2038-01-19 03:14:07.999'),
     ('e', NULL, '"\\\\\\\\"', X'5C', NULL, NULL)`,
  // JSON with U+0000 escapes, which jsonb refuses: stripped (a lossy case of TYPES.md).
  `CREATE TABLE \`${db}\`.k_lossy (k INT NOT NULL PRIMARY KEY, j JSON NULL) DEFAULT CHARSET=utf8mb4`,
  `INSERT INTO \`${db}\`.k_lossy VALUES (1, '{"a": "x\\\\u0000y", "b": "\\\\\\\\u0000", "c": "\\\\\\\\\\\\u0000z"}'), (2, '"\\\\u0000\\\\u0000"')`,
];

async function schemaOf(table: string): Promise<TableSchema> {
  const [t] = await readTableSchemas(conn, [new RegExp(`^${reEscape(db)}\\.${reEscape(table)}$`)]);
  assert.ok(t, `table ${table} found`);
  return t;
}

function rowsToCopy(table: TableSchema, rows: Row[], policy: ZeroDatePolicy): { bytes: Buffer; stats: object } {
  const stats = newLossStats();
  const writers = table.columns.map((c, i) => pgCopyWriter(c, stats, policy, table.primaryKey.includes(i)));
  const out = new CopyTextEncoder(64);
  for (const row of rows) {
    writers.forEach((w, i) => w(out, row[i] as Value));
    out.endRow();
  }
  return { bytes: Buffer.concat(out.finish()), stats };
}

function textToCopy(table: TableSchema, text: TextRows, policy: ZeroDatePolicy): { bytes: Buffer; stats: object } {
  const stats = newLossStats();
  const pieces = copyTextRowsEncoder(table.columns, policy, table.primaryKey, 64).encode(text, stats);
  return { bytes: Buffer.concat(pieces), stats };
}

/** Outcome of encoding: the bytes and counts, or the error code. */
function outcome(f: () => { bytes: Buffer; stats: object }): { bytes?: string; stats?: object; error?: string } {
  try {
    const r = f();
    return { bytes: r.bytes.toString('latin1'), stats: r.stats };
  } catch (e) {
    return { error: (e as { code?: string }).code ?? String(e) };
  }
}

before(async () => {
  admin = await adminConnection();
  await admin.query(`SET SESSION sql_mode = '', time_zone = '${WRITER_TIME_ZONE}'`);
  await admin.query(`CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4`);
  for (const t of CATALOGUE) {
    await admin.query(createTableSql(db, t));
    for (let i = 0; i < t.rows.length; i++) await admin.query(insertSql(db, t, i, i + 1));
  }
  for (const sql of EXTRA_TABLES) await admin.query(sql);
  conn = await openSourceConnection(sourceConfig(`${reEscape(db)}\\..*`));
  const c = new pg.Client(pgOptions);
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS "${pgdb}"`);
  await c.query(`CREATE DATABASE "${pgdb}"`);
  await c.end();
});

after(async () => {
  await conn?.end();
  await admin?.query(`DROP DATABASE IF EXISTS \`${db}\``);
  await admin?.end();
  const c = new pg.Client(pgOptions);
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS "${pgdb}"`).catch(() => undefined);
  await c.end();
});

/** Tables whose every column kind has a COPY binary form (no FLOAT, BIT, UUID, INET). */
const BINARY_TABLES = ['t_int', 't_time', 't_zero', 't_str', 't_bin', 't_enum', 't_json', 't_geo', 'k_mixed', 'k_text', 'k_lossy'];

/** Tables compared end to end (k_lossy's values are changed on purpose, see TYPES.md). */
const TABLES = [...CATALOGUE.map((t) => t.name), 'k_mixed', 'k_text'];

describe('snapshot chunks in text form', () => {
  for (const name of [...TABLES, 'k_lossy']) {
    it(`${name}: the same keys and the same COPY bytes as rows, chunk by chunk, under every zero-date policy`, async () => {
      const table = await schemaOf(name);
      for (const limit of [2, 1000]) {
        let after: Value[] | null = null;
        for (let n = 0; ; n++) {
          const rows = await readChunk(conn, table, after, limit);
          const text = await readChunkText(conn, table, after, limit);
          assert.equal(text.text.rowCount, rows.rows.length, `${name} chunk ${n}: row count`);
          assert.deepEqual(text.lastKey, rows.lastKey, `${name} chunk ${n}: last key`);
          const first = rows.rows[0];
          assert.deepEqual(text.firstKey, first ? table.primaryKey.map((i) => first[i]) : null, `${name} chunk ${n}: first key`);
          for (const policy of ['null', '-infinity', 'fail'] as const) {
            assert.deepEqual(
              outcome(() => textToCopy(table, text.text, policy)),
              outcome(() => rowsToCopy(table, rows.rows, policy)),
              `${name} chunk ${n} (limit ${limit}), zero-date ${policy}`,
            );
          }
          if (rows.lastKey === null || rows.rows.length < limit) break;
          after = rows.lastKey;
        }
      }
    });
  }

  it('a query error rejects with the server error, and the connection stays usable', async () => {
    const table = await schemaOf('k_text');
    await assert.rejects(readChunkText(conn, { ...table, name: 'no_such_table' }, null, 10), (e: { code?: string }) => e.code === 'ER_NO_SUCH_TABLE');
    const text = await readChunkText(conn, table, null, 10);
    assert.equal(text.text.rowCount, 5);
  });

  it('ferry snapshot mode lands every value exactly, also merging chunks whose keys the target holds', async () => {
    const dir = tempDir('snaptext');
    const file = writePipelineFile(dir, { name: 'snaptext', tables: `${reEscape(db)}\\..*`, sink: 'postgres', pgDatabase: pgdb, mode: 'snapshot', chunkSize: 3 });
    const run = async (): Promise<void> => {
      const f = startFerry(['run', file]);
      const r = await f.exited;
      assert.equal(r.code, 0, f.output().slice(-4000));
    };
    await run();
    const diffs = async () => Promise.all(TABLES.map((t) => compareToPostgres(db, t, pgdb)));
    let d = await diffs();
    assert.ok(d.every(isEqual), d.map(summarize).join('\n').slice(0, 6000));

    // Wrong values in the target and a fresh state: every chunk range now holds rows, so each
    // chunk goes back to the rows path and is merged by key.
    const c = new pg.Client({ ...pgOptions, database: pgdb });
    await c.connect();
    await c.query(`UPDATE "${db}".k_text SET t = 'stale'`);
    await c.query(`UPDATE "${db}".t_int SET s_int = 5`);
    // A target whose primary key is not the source's (column order): its chunk ranges are probed
    // before the COPY; emptied, so they are free and COPYed.
    await c.query(`ALTER TABLE "${db}".k_mixed DROP CONSTRAINT k_mixed_pkey, ADD PRIMARY KEY (s, u, b, d, dt, e, z)`);
    await c.query(`TRUNCATE "${db}".k_mixed`);
    await c.end();
    const { rmSync } = await import('node:fs');
    rmSync(`${dir}/state`, { recursive: true, force: true });
    await run();
    d = await diffs();
    assert.ok(d.every(isEqual), d.map(summarize).join('\n').slice(0, 6000));

    // A value the target refuses: the COPY fails, the chunk goes the rows path, and the pipeline
    // stops naming the row's key.
    const c2 = new pg.Client({ ...pgOptions, database: pgdb });
    await c2.connect();
    await c2.query(`TRUNCATE "${db}".k_text`);
    await c2.query(`ALTER TABLE "${db}".k_text ALTER COLUMN t TYPE varchar(1)`);
    await c2.end();
    rmSync(`${dir}/state`, { recursive: true, force: true });
    const f = startFerry(['run', file]);
    const r = await f.exited;
    assert.notEqual(r.code, 0, f.output().slice(-4000));
    assert.match(f.output(), /k_text rejected the row with key \("a"\)/, f.output().slice(-4000));
  });

  it('COPY binary lands exactly the rows COPY text lands, U+0000 and \\u0000 included (those chunks go as text)', async () => {
    // Which tables the binary format can carry at all: most of the catalogue, and the extra tables
    // (whose NUL text and \u0000 JSON the server refuses in binary: the retry in text).
    const binaryTables: string[] = [];
    for (const name of [...TABLES, 'k_lossy']) {
      const t = await schemaOf(name);
      if (copyBinaryRowsEncoder(t.columns, 'null', t.primaryKey) !== null) binaryTables.push(name);
    }
    assert.deepEqual(binaryTables, BINARY_TABLES, 'the tables whose kinds all have a binary form');
    const dir = tempDir('snapbin');
    const into = async (schema: string, env: Record<string, string>): Promise<void> => {
      const file = writePipelineFile(dir, {
        name: schema.replace(/[^a-z0-9_]/gi, '_'),
        tables: `${reEscape(db)}\\..*`,
        sink: 'postgres',
        pgDatabase: pgdb,
        mode: 'snapshot',
        chunkSize: 3,
        route: `  - source-table: ${reEscape(db)}\\..*\n    sink-table: ${schema}.<>\n    replace-symbol: <>`,
      });
      const { rmSync } = await import('node:fs');
      rmSync(`${dir}/state`, { recursive: true, force: true });
      const f = startFerry(['run', file], env);
      const r = await f.exited;
      assert.equal(r.code, 0, f.output().slice(-4000));
    };
    await into(`${db}_bin`, {});
    await into(`${db}_txt`, { FERRY_PG_COPY: 'text' });
    const c = new pg.Client({ ...pgOptions, database: pgdb });
    await c.connect();
    try {
      for (const name of [...TABLES, 'k_lossy']) {
        const rows = async (schema: string): Promise<string[]> =>
          (await c.query<{ r: string }>(`SELECT t::text AS r FROM "${schema}"."${name}" t`)).rows.map((x) => x.r).sort();
        const bin = await rows(`${db}_bin`);
        const txt = await rows(`${db}_txt`);
        assert.ok(txt.length > 0, `${name}: rows landed`);
        assert.deepEqual(bin, txt, `${name}: binary and text COPY differ`);
      }
    } finally {
      await c.end();
    }
  });

  it('chunks of MBs whose keys the target holds: each COPY fails early with a unique violation, the chunk is merged, nothing else breaks', async () => {
    // Big chunks, so the server refuses the COPY while most of it is still being sent.
    await admin.query(`CREATE TABLE \`${db}\`.k_big (id INT NOT NULL PRIMARY KEY, t TEXT NOT NULL, b BLOB NOT NULL) DEFAULT CHARSET=utf8mb4`);
    await admin.query(`INSERT INTO \`${db}\`.k_big SELECT seq, REPEAT(CONCAT('row ', seq, ' '), 200), UNHEX(REPEAT(SHA2(seq, 256), 16)) FROM \`${db}\`.seq_1_to_6000`);
    const dir = tempDir('snaptextbig');
    const file = writePipelineFile(dir, { name: 'snaptextbig', tables: `${reEscape(db)}\\.k_big`, sink: 'postgres', pgDatabase: pgdb, mode: 'snapshot', chunkSize: 3000 });
    const run = async (): Promise<void> => {
      const f = startFerry(['run', file]);
      const r = await f.exited;
      assert.equal(r.code, 0, f.output().slice(-4000));
    };
    await run();
    const c = new pg.Client({ ...pgOptions, database: pgdb });
    await c.connect();
    await c.query(`UPDATE "${db}".k_big SET t = 'stale' WHERE id % 7 = 0`);
    await c.end();
    const { rmSync } = await import('node:fs');
    rmSync(`${dir}/state`, { recursive: true, force: true });
    await run();
    const d = await compareToPostgres(db, 'k_big', pgdb);
    assert.ok(isEqual(d), summarize(d));
  });
});
