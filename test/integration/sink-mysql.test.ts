import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import { createMySqlSink } from '../../src/connectors/mysql/sink.js';
import { MySqlStatementBuffer, mysqlStringLiteral, quoteMySqlIdent, quoteMySqlTable } from '../../src/connectors/mysql/quote.js';
import { sendRawStatement, statementsWrittenAhead } from '../../src/connectors/mysql/raw-query.js';
import type { Row } from '../../src/core/change.js';
import type { KeyAction, Sink, TargetTable } from '../../src/core/contracts.js';
import { Secret } from '../../src/core/config-types.js';
import { isFerryError } from '../../src/core/errors.js';
import type { TableSchema } from '../../src/core/schema.js';
import { mysqlOptions } from '../helpers/env.js';
import { CountingPending, pendingUpsert } from '../helpers/pending.js';
import { ALL_TYPES_ROWS, allTypesTable, col, never, sinkConfig, utf8 } from './sink-fixture.js';

const DB = 'sink_it_my';
const CK = 'sink_it_my_ck';
const HOSTILE_DB = "sink_it_my_h`'\"; DROP DATABASE x; -- .%";
const PIPELINE = "pipe'line`1";

let admin: mysql.Connection;
let sink: Sink;

function target(source: TableSchema, schema = DB, name = source.name): TargetTable {
  return { schema, name, source };
}

const allTypes = target(allTypesTable('src', 'all_types'));
const small: TargetTable = target({
  schema: 'src',
  name: 'small',
  columns: [
    col('id', { kind: 'int', bits: 32, unsigned: false }, 'int(11)', false),
    col('v', utf8(20), 'varchar(20)', false),
    col('w', { kind: 'int', bits: 32, unsigned: false }, 'int(11)'),
  ],
  primaryKey: [0],
});
const other: TargetTable = target({ ...small.source, name: 'other' });

async function dropAll(): Promise<void> {
  for (const d of [DB, CK, HOSTILE_DB]) await admin.query(`DROP DATABASE IF EXISTS ${quoteMySqlIdent(d)}`);
}

before(async () => {
  admin = await mysql.createConnection(mysqlOptions);
  // Read TIMESTAMP columns in UTC, the form the canonical values have.
  await admin.query("SET time_zone = '+00:00'");
  await dropAll();
  sink = createMySqlSink(sinkConfig('mysql', CK), PIPELINE);
  await sink.prepare([allTypes, small, other], never);
});

after(async () => {
  await sink.close();
  await dropAll();
  await admin.end();
});

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  const [r] = await admin.query(sql);
  return r as Record<string, unknown>[];
}

/** FLOAT/DOUBLE come back as text; compare them as numbers (the text form is the server's). */
async function readAllTypes(): Promise<Record<string, unknown>[]> {
  return (await rows(READBACK)).map((r) => ({ ...r, f: Number(r.f), d: Number(r.d) }));
}

test('prepare creates the table with the source types, charset, nullability and key order', async () => {
  const cols = await rows(
    `SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '${DB}' AND TABLE_NAME = 'all_types' ORDER BY ORDINAL_POSITION`,
  );
  const byName = Object.fromEntries(cols.map((c) => [c.COLUMN_NAME, c]));
  assert.equal(cols.length, allTypes.source.columns.length);
  assert.equal(byName.id?.COLUMN_TYPE, 'int(10) unsigned');
  assert.equal(byName.id?.IS_NULLABLE, 'NO');
  assert.equal(byName.u64?.COLUMN_TYPE, 'bigint(20) unsigned');
  assert.equal(byName.dec?.COLUMN_TYPE, 'decimal(65,30)');
  assert.equal(byName.dtm?.COLUMN_TYPE, 'datetime(6)');
  assert.equal(byName.en?.COLUMN_TYPE, "enum('a','b''q','c,d')");
  assert.equal(byName.lat?.CHARACTER_SET_NAME, 'latin1');
  assert.equal(byName.emoji?.CHARACTER_SET_NAME, 'utf8mb4');
  assert.equal(byName.nul?.IS_NULLABLE, 'YES');
  const pk = await rows(
    `SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = '${DB}' AND TABLE_NAME = 'all_types' AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`,
  );
  assert.deepEqual(pk.map((r) => r.COLUMN_NAME), ['code', 'id']);
  const ck = await rows(`SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '${CK}' AND TABLE_NAME = '_ferry_checkpoint' ORDER BY ORDINAL_POSITION`);
  assert.deepEqual(ck.map((r) => r.COLUMN_NAME), ['pipeline', 'lane', 'position', 'updated_at']);
  // Idempotent.
  await sink.prepare([allTypes, small, other], never);
});

const READBACK =
  'SELECT CAST(id AS CHAR) id, code, CAST(i8 AS CHAR) i8, CAST(u64 AS CHAR) u64, CAST(s64 AS CHAR) s64, CAST(`dec` AS CHAR) `dec`,' +
  ' CAST(CAST(f AS DOUBLE) AS CHAR) f, CAST(d AS CHAR) d, emoji, HEX(emoji) emoji_hex, lat, HEX(lat) lat_hex, HEX(bin) bin, CAST(dt AS CHAR) dt, CAST(dtm AS CHAR) dtm,' +
  ' CAST(ts AS CHAR) ts, CAST(tm AS CHAR) tm, CAST(js AS CHAR) js, en, st, CAST(bits + 0 AS CHAR) bits, CAST(yr AS CHAR) yr, txt, nul FROM `sink_it_my`.`all_types` ORDER BY code';

function expected(r: Row): Record<string, unknown> {
  const bits = r[18] as Buffer;
  return {
    id: String(r[0]),
    code: r[1],
    i8: String(r[2]),
    u64: String(r[3]),
    s64: String(r[4]),
    dec: r[5],
    f: r[6],
    d: r[7],
    emoji: r[8],
    emoji_hex: Buffer.from(r[8] as string, 'utf8').toString('hex').toUpperCase(),
    lat: r[9],
    lat_hex: Buffer.from(r[9] as string, 'latin1').toString('hex').toUpperCase(),
    bin: (r[10] as Buffer).toString('hex').toUpperCase(),
    dt: r[11],
    dtm: r[12],
    ts: r[13],
    tm: r[14],
    js: r[15],
    en: r[16],
    st: r[17],
    bits: String(bits.readUIntBE(0, bits.length)),
    yr: String(r[19]),
    txt: r[20],
    nul: r[21],
  };
}

test('snapshot rows round trip exactly for every common type, and a second write changes nothing', async () => {
  await sink.writeSnapshotRows(allTypes, ALL_TYPES_ROWS, never);
  const first = await readAllTypes();
  const want = [...ALL_TYPES_ROWS].sort((a, b) => String(a[1]).localeCompare(String(b[1]))).map(expected);
  assert.deepEqual(first, want);
  await sink.writeSnapshotRows(allTypes, ALL_TYPES_ROWS, never);
  assert.deepEqual(await readAllTypes(), want);
});

test('snapshot rows: many rows are split into several statements and upserted', async () => {
  const many: Row[] = [];
  for (let i = 0; i < 20000; i++) many.push([i, 'v'.repeat(20), i % 7 === 0 ? null : i]);
  await sink.writeSnapshotRows(small, many, never);
  many[5] = [5, 'changed', 55];
  await sink.writeSnapshotRows(small, many, never);
  const [r] = await rows(`SELECT COUNT(*) n, SUM(w) s FROM ${DB}.small`);
  assert.equal(Number(r?.n), 20000);
  const [c] = await rows(`SELECT v, w FROM ${DB}.small WHERE id = 5`);
  assert.deepEqual(c, { v: 'changed', w: 55 });
  await admin.query(`TRUNCATE ${DB}.small`);
});

async function state(): Promise<{ small: unknown[]; other: unknown[]; ck: unknown[] }> {
  return {
    small: await rows(`SELECT id, v, w FROM ${DB}.small ORDER BY id`),
    other: await rows(`SELECT id, v, w FROM ${DB}.other ORDER BY id`),
    ck: (await sink.readLaneCheckpoints(never)).map((c) => ({ ...c })),
  };
}

test('lane write applies deletes, inserts, updates on several tables and the checkpoint in one transaction', async () => {
  await sink.resetLaneCheckpoints(never);
  assert.deepEqual(await sink.readLaneCheckpoints(never), []);
  const lane = await sink.openLane(1);
  try {
    await lane.write(
      {
        actions: [
          { kind: 'upsert', table: small, row: [1, 'a', 10] },
          { kind: 'upsert', table: small, row: [2, 'b', 20] },
          { kind: 'upsert', table: small, row: [3, 'c', 30] },
          { kind: 'upsert', table: other, row: [1, 'o', null] },
        ],
        checkpoint: 'pos-1',
      },
      never,
    );
    await lane.write(
      {
        actions: [
          { kind: 'delete', table: small, key: [1] },
          { kind: 'delete', table: other, key: [1] },
          { kind: 'delete', table: small, key: [99] },
          // Partial image: w is not present and must keep its value.
          { kind: 'upsert', table: small, row: [2, 'B', undefined] },
          { kind: 'upsert', table: small, row: [3, 'C', 33] },
          { kind: 'upsert', table: small, row: [4, 'd', null] },
        ],
        checkpoint: 'pos-2',
      },
      never,
    );
    assert.deepEqual(await state(), {
      small: [
        { id: 2, v: 'B', w: 20 },
        { id: 3, v: 'C', w: 33 },
        { id: 4, v: 'd', w: null },
      ],
      other: [],
      ck: [{ lane: 1, position: 'pos-2' }],
    });
  } finally {
    await lane.close();
  }
});

test('a failing lane batch (NOT NULL violated) leaves neither data nor checkpoint, and names the table and key', async () => {
  const lane = await sink.openLane(1);
  try {
    const before = await state();
    const actions: KeyAction[] = [
      { kind: 'delete', table: small, key: [2] },
      { kind: 'upsert', table: other, row: [7, 'fine', 7] },
      { kind: 'upsert', table: small, row: [5, 'ok', 5] },
      { kind: 'upsert', table: small, row: [6, null, 6] },
    ];
    await assert.rejects(lane.write({ actions, checkpoint: 'pos-3' }, never), (e) => {
      assert.ok(isFerryError(e, 'FERRY_SINK_WRITE'));
      assert.match(e.message, /sink_it_my\.small/);
      assert.match(e.message, /key \(6\)/);
      assert.doesNotMatch(e.message, /ferry'?@.*password/i);
      return true;
    });
    assert.deepEqual(await state(), before);
    // The lane still works after the failure.
    await lane.write({ actions: [{ kind: 'upsert', table: small, row: [5, 'ok', 5] }], checkpoint: 'pos-4' }, never);
    assert.deepEqual((await state()).ck, [{ lane: 1, position: 'pos-4' }]);
  } finally {
    await lane.close();
  }
});

test('lane checkpoints: one row per lane, reset removes only this pipeline', async () => {
  const l2 = await sink.openLane(2);
  await l2.write({ actions: [], checkpoint: 'lane2-pos' }, never);
  await l2.close();
  const otherSink = createMySqlSink(sinkConfig('mysql', CK), 'another');
  try {
    await otherSink.openLane(1).then(async (l) => {
      await l.write({ actions: [], checkpoint: 'x' }, never);
      await l.close();
    });
    assert.deepEqual(await sink.readLaneCheckpoints(never), [
      { lane: 1, position: 'pos-4' },
      { lane: 2, position: 'lane2-pos' },
    ]);
    await sink.resetLaneCheckpoints(never);
    assert.deepEqual(await sink.readLaneCheckpoints(never), []);
    assert.deepEqual(await otherSink.readLaneCheckpoints(never), [{ lane: 1, position: 'x' }]);
  } finally {
    await otherSink.close();
  }
});

test('readLaneCheckpoints returns [] when the checkpoint table does not exist', async () => {
  const s = createMySqlSink(sinkConfig('mysql', 'sink_it_my_absent'), PIPELINE);
  try {
    assert.deepEqual(await s.readLaneCheckpoints(never), []);
    await s.resetLaneCheckpoints(never);
  } finally {
    await s.close();
  }
});

test('hostile identifiers end to end (database, table, columns)', async () => {
  const names = ['a`b', "o'neil", 'say "hi"', 'd.o.t', '100%', 'ünïcødé', 'select', '-- x', 'back\\slash'];
  const source: TableSchema = {
    schema: 'src',
    name: 'x',
    columns: names.map((n, i) => col(n, i === 0 ? { kind: 'int', bits: 32, unsigned: false } : utf8(40), i === 0 ? 'int(11)' : 'varchar(40)', i !== 0)),
    primaryKey: [0, 1],
  };
  const t: TargetTable = { schema: HOSTILE_DB, name: "t`a'b\"c.d; DROP TABLE x", source };
  await sink.prepare([t], never);
  const row: Row = [1, ...names.slice(1).map((n) => `${n} ' \\ \` "`)];
  await sink.writeSnapshotRows(t, [row], never);
  const lane = await sink.openLane(3);
  await lane.write({ actions: [{ kind: 'upsert', table: t, row: [2, 'k', ...names.slice(2).map(() => "'; --")] }, { kind: 'delete', table: t, key: [9, 'z'] }], checkpoint: 'h' }, never);
  await lane.close();
  const got = await rows(`SELECT * FROM ${quoteMySqlTable(t.schema, t.name)} ORDER BY ${quoteMySqlIdent('a`b')}`);
  assert.equal(got.length, 2);
  assert.deepEqual(Object.keys(got[0] ?? {}), names);
  assert.deepEqual(Object.values(got[0] ?? {}), row);
  await sink.applySchemaChange(
    { kind: 'add-column', table: { ...source, columns: [...source.columns, col('new`col', utf8(5), 'varchar(5)')] }, columns: ['new`col'], ddl: '' },
    t,
    never,
  );
  // Twice: idempotent.
  await sink.applySchemaChange(
    { kind: 'add-column', table: { ...source, columns: [...source.columns, col('new`col', utf8(5), 'varchar(5)')] }, columns: ['new`col'], ddl: '' },
    t,
    never,
  );
  const c = await rows(
    `SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${mysqlStringLiteral(t.schema)} AND TABLE_NAME = ${mysqlStringLiteral(t.name)} AND COLUMN_NAME = 'new\`col'`,
  );
  assert.deepEqual(c, [{ COLUMN_TYPE: 'varchar(5)' }]);
  await sink.applySchemaChange({ kind: 'truncate-table', table: source, ddl: '' }, t, never);
  assert.equal((await rows(`SELECT * FROM ${quoteMySqlTable(t.schema, t.name)}`)).length, 0);
});

test('hostile string values survive the literal encoder (server decodes them back unchanged)', async () => {
  const hostile = ["' OR 1=1 -- ", "\\' OR 1=1 -- ", '\\', "\\\\'", 'a\u0000b', 'line\nbreak\r\n', '\u001a', "''", '😀', '\\N', '%_'];
  const [r] = await admin.query(`SELECT ${hostile.map((s, i) => `${mysqlStringLiteral(s)} AS c${i}`).join(', ')}`).catch(async () => {
    throw new Error('the literal broke the statement');
  });
  // Our admin connection has the server's sql_mode, which has no NO_BACKSLASH_ESCAPES either.
  assert.deepEqual(Object.values((r as Record<string, unknown>[])[0] ?? {}), hostile);
});

test('zero dates land unchanged in MySQL', async () => {
  const z: TargetTable = target({
    schema: 'src',
    name: 'zero_dates',
    columns: [
      col('id', { kind: 'int', bits: 32, unsigned: false }, 'int(11)', false),
      col('d', { kind: 'date' }, 'date', false),
      col('dt', { kind: 'datetime', fsp: 0 }, 'datetime', false),
      col('ts', { kind: 'timestamp', fsp: 0 }, 'timestamp', false),
      col('y', { kind: 'year' }, 'year(4)', false),
    ],
    primaryKey: [0],
  });
  await sink.prepare([z], never);
  await sink.writeSnapshotRows(z, [[1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', 0], [2, '2020-00-00', '2020-01-00 10:00:00', '1999-12-31 23:00:00', 1999]], never);
  assert.deepEqual(await rows(`SELECT id, CAST(d AS CHAR) d, CAST(dt AS CHAR) dt, CAST(ts AS CHAR) ts, CAST(y AS CHAR) y FROM ${DB}.zero_dates ORDER BY id`), [
    { id: 1, d: '0000-00-00', dt: '0000-00-00 00:00:00', ts: '0000-00-00 00:00:00', y: '0000' },
    { id: 2, d: '2020-00-00', dt: '2020-01-00 10:00:00', ts: '1999-12-31 23:00:00', y: '1999' },
  ]);
});

test('unsupported schema changes are refused with FERRY_DDL_UNSUPPORTED', async () => {
  await assert.rejects(
    sink.applySchemaChange({ kind: 'drop-table', schema: 'src', name: 'small', ddl: 'DROP TABLE small' }, small, never),
    (e) => isFerryError(e, 'FERRY_DDL_UNSUPPORTED') && e.fix !== undefined,
  );
});

test('a wrong password fails with FERRY_SINK_UNREACHABLE and never shows the password', async () => {
  const cfg = sinkConfig('mysql', CK);
  const s = createMySqlSink({ ...cfg, password: new Secret('s3cr3t-Pw') }, PIPELINE);
  try {
    await assert.rejects(s.readLaneCheckpoints(never), (e) => {
      assert.ok(isFerryError(e, 'FERRY_SINK_UNREACHABLE'));
      assert.doesNotMatch(e.message + (e.fix ?? ''), /s3cr3t-Pw/);
      return true;
    });
  } finally {
    await s.close();
  }
});

test('an aborted signal stops a lane write with FERRY_ABORTED and writes nothing', async () => {
  const lane = await sink.openLane(9);
  try {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(lane.write({ actions: [{ kind: 'upsert', table: small, row: [77, 'x', 1] }], checkpoint: 'abort' }, ac.signal), (e) => isFerryError(e, 'FERRY_ABORTED'));
    assert.equal((await sink.readLaneCheckpoints(never)).find((c) => c.lane === 9), undefined);
  } finally {
    await lane.close();
  }
});

/** Statements the server has prepared so far (all sessions). */
async function preparedCount(): Promise<number> {
  const [r] = await rows("SHOW GLOBAL STATUS LIKE 'Com_stmt_prepare'");
  return Number(r?.Value ?? 0);
}

async function globalStatus(name: string): Promise<number> {
  const [r] = await rows(`SHOW GLOBAL STATUS LIKE '${name}'`);
  return Number(r?.Value ?? 0);
}

test('pending row images (kept as source bytes) are decoded where encoded and go as bulk packets like decoded rows', async () => {
  const images = Array.from({ length: 40 }, (_, i) => new CountingPending([500 + i, `p${500 + i}`, (500 + i) * 2]));
  const actions = images.map((p) => pendingUpsert(small, p));
  const lane = await sink.openLane(3);
  try {
    // The lane's first write probes bulk support (statements of its own): counted apart.
    await lane.write({ actions: [{ kind: 'upsert', table: small, row: [499, 'warm', 0] }], checkpoint: 'pending-0' }, never);
    const counts = async (): Promise<[number, number]> => [await globalStatus('Com_stmt_execute'), await globalStatus('Com_insert')];
    const c0 = await counts();
    await lane.write({ actions, checkpoint: 'pending-1' }, never);
    const c1 = await counts();
    // The same write with the rows decoded: the statements must be the same kinds and numbers
    // (bulk packets count as executions of the prepared upsert, text upserts as Com_insert).
    const plain: KeyAction[] = Array.from({ length: 40 }, (_, i) => ({ kind: 'upsert', table: small, row: [600 + i, `p${600 + i}`, (600 + i) * 2] }));
    await lane.write({ actions: plain, checkpoint: 'pending-2' }, never);
    const c2 = await counts();
    assert.ok(c2[0] - c1[0] > 0, 'decoded rows did not go as bulk packets');
    assert.deepEqual([c1[0] - c0[0], c1[1] - c0[1]], [c2[0] - c1[0], c2[1] - c1[1]], 'pending rows went otherwise than decoded rows ([executions, INSERTs])');
    assert.deepEqual(images.map((p) => p.decoded), images.map(() => 1), 'each pending image decoded once, where it was encoded');
  } finally {
    await lane.close();
  }
  assert.deepEqual(
    await rows(`SELECT id, v, w FROM ${DB}.small WHERE id >= 500 AND id < 540 ORDER BY id`),
    Array.from({ length: 40 }, (_, i) => ({ id: 500 + i, v: `p${500 + i}`, w: (500 + i) * 2 })),
  );
  await admin.query(`DELETE FROM ${DB}.small WHERE id >= 499 AND id < 640`);
});

test('MariaDB targets take upserts as bulk packets; text statements (FERRY_MYSQL_BULK=off) land the same rows', async () => {
  // Values at the edges of the bulk encodings: length prefixes of 1, 3 and 9 bytes (text sized
  // by its longest UTF-8 encoding, bytes by their length), 64-bit integers of both signs and
  // unsigned, doubles, the zero year, NULLs.
  const edges = target({
    schema: 'src',
    name: 'bulk_edges',
    columns: [
      col('id', { kind: 'int', bits: 32, unsigned: false }, 'int(11)', false),
      col('t', { kind: 'string', maxChars: null, fixed: false, charset: 'utf8mb4', collation: 'utf8mb4_bin', lob: true }, 'mediumtext'),
      col('b', { kind: 'binary', maxBytes: null, fixed: false, lob: true }, 'mediumblob'),
      col('i', { kind: 'int', bits: 64, unsigned: false }, 'bigint(20)'),
      col('u', { kind: 'int', bits: 64, unsigned: true }, 'bigint(20) unsigned'),
      col('d', { kind: 'double' }, 'double'),
      col('y', { kind: 'year' }, 'year(4)'),
    ],
    primaryKey: [0],
  });
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff));
  const data: Row[] = [
    [1, 'é'.repeat(83), bytes(250), -1, 0, -0, 0],
    [2, 'é'.repeat(84), bytes(251), -4294967296, 4294967296, 5e-324, 1901],
    [3, 'x'.repeat(21845), bytes(65535), -9007199254740991, 9007199254740991, 1.7976931348623157e308, 2155],
    [4, '😀'.repeat(30000), bytes(65536), -9223372036854775808n, 18446744073709551615n, -123.456, null],
    [5, '', Buffer.alloc(0), 9223372036854775807n, 9223372036854775808n, 0.1, 2000],
    [6, null, null, null, null, null, null],
  ];
  const read = async (db: string): Promise<Record<string, unknown>[]> =>
    rows(`SELECT id, t, HEX(b) b, CAST(i AS CHAR) i, CAST(u AS CHAR) u, d, CAST(y AS CHAR) y FROM ${quoteMySqlTable(db, 'bulk_edges')} ORDER BY id`);
  const prepared0 = await preparedCount();
  await sink.prepare([edges], never);
  await sink.writeSnapshotRows(edges, data, never);
  assert.ok((await preparedCount()) > prepared0, 'the MariaDB sink prepared no statement: bulk packets were not used');
  const viaBulk = await read(DB);
  assert.deepEqual(
    viaBulk.map((r) => [r.id, r.i, r.u, r.y]),
    data.map((r) => [r[0], r[3] === null ? null : String(r[3]), r[4] === null ? null : String(r[4]), r[6] === null ? null : String(r[6]).padStart(4, '0')]),
  );
  assert.deepEqual(viaBulk.map((r) => r.b), data.map((r) => (r[2] === null ? null : (r[2] as Buffer).toString('hex').toUpperCase())));
  assert.deepEqual(viaBulk.map((r) => r.t), data.map((r) => r[1]));
  assert.ok(Object.is(Number(viaBulk[0]?.d), -0) || Number(viaBulk[0]?.d) === 0);

  const TEXT_DB = `${DB}_text`;
  process.env.FERRY_MYSQL_BULK = 'off';
  let textSink: Sink;
  try {
    textSink = createMySqlSink(sinkConfig('mysql', CK), PIPELINE);
  } finally {
    delete process.env.FERRY_MYSQL_BULK;
  }
  try {
    const t = target(edges.source, TEXT_DB);
    await textSink.prepare([t], never);
    const prepared1 = await preparedCount();
    await textSink.writeSnapshotRows(t, data, never);
    assert.equal(await preparedCount(), prepared1, 'FERRY_MYSQL_BULK=off still prepared statements');
    assert.deepEqual(await read(TEXT_DB), viaBulk);
  } finally {
    await textSink.close();
    await admin.query(`DROP DATABASE IF EXISTS ${quoteMySqlIdent(TEXT_DB)}`);
  }
});

test('raw statements written ahead run in order behind the one executing; one failing does not stop the next', async () => {
  const conn = await mysql.createConnection(mysqlOptions);
  const raw = (sql: string, ahead: boolean): Promise<unknown> => sendRawStatement(conn, new MySqlStatementBuffer().text(sql).packet(), ahead);
  try {
    await admin.query(`CREATE DATABASE IF NOT EXISTS ${quoteMySqlIdent(DB)}`);
    await admin.query(`CREATE TABLE ${quoteMySqlTable(DB, 'ahead')} (id INT PRIMARY KEY, n INT NOT NULL)`);
    await conn.query('SET SESSION autocommit = 0');
    const t = quoteMySqlTable(DB, 'ahead');
    const first = raw('DO SLEEP(0.3)', true); // nothing ahead of it: written when it starts, as always
    const later = [raw(`INSERT INTO ${t} VALUES (1, 1)`, true), raw(`INSERT INTO ${t} VALUES (1, 2)`, true), raw(`INSERT INTO ${t} VALUES (3, 3)`, true)];
    // All three are on the wire while the server sleeps.
    assert.equal(statementsWrittenAhead(conn), 3);
    const outcomes = await Promise.allSettled([first, ...later]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
    );
    assert.equal(((outcomes[2] as PromiseRejectedResult).reason as { code?: string }).code, 'ER_DUP_ENTRY');
    assert.equal(statementsWrittenAhead(conn), 0);
    const [inTxn] = await conn.query(`SELECT id, n FROM ${t} ORDER BY id`);
    assert.deepEqual(inTxn, [{ id: 1, n: 1 }, { id: 3, n: 3 }]);
    await conn.query('ROLLBACK');
    assert.deepEqual(await rows(`SELECT id FROM ${t}`), []);
    // Behind a driver query (which writes its packet only when it starts) nothing goes ahead.
    const q = conn.query('DO SLEEP(0.1)');
    const behind = raw(`INSERT INTO ${t} VALUES (4, 4)`, true);
    assert.equal(statementsWrittenAhead(conn), 0);
    await Promise.all([q, behind]);
    await conn.query('COMMIT');
    assert.deepEqual(await rows(`SELECT id FROM ${t}`), [{ id: 4 }]);
  } finally {
    await conn.end();
    await admin.query(`DROP TABLE IF EXISTS ${quoteMySqlTable(DB, 'ahead')}`);
  }
});
