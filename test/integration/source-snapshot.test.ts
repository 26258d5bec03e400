/**
 * Snapshot chunks from the running MariaDB: every common type read back in its exact canonical
 * form, keyset pagination over composite keys, resume after a key, and index use.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { binlogPositionCodec } from '../../src/connectors/mysql/position.js';
import { openSourceConnection, readCurrentPosition, readLogEnd, type MySqlConnection } from '../../src/connectors/mysql/connection.js';
import { readTableSchemas } from '../../src/connectors/mysql/schema-reader.js';
import { chunkEnd, chunkSql, estimateRows, readChunk, readRange } from '../../src/connectors/mysql/snapshot-reader.js';
import type { Row, Value } from '../../src/core/change.js';
import type { TableSchema } from '../../src/core/schema.js';

import { adminConnection, reEscape, sourceConfig, uniqueDb } from '../helpers/source-setup.js';

const db = uniqueDb('snap');
let admin: Connection;
let conn: MySqlConnection;

async function schemaOf(table: string): Promise<TableSchema> {
  const [t] = await readTableSchemas(conn, [new RegExp(`^${reEscape(db)}\\.${reEscape(table)}$`)]);
  assert.ok(t, `table ${table} found`);
  return t;
}

async function readAll(table: TableSchema, limit: number, from: Value[] | null = null): Promise<Row[]> {
  const rows: Row[] = [];
  let key = from;
  for (;;) {
    const chunk = await readChunk(conn, table, key, limit);
    if (chunk.lastKey === null) return rows;
    assert.ok(chunk.rows.length <= limit);
    rows.push(...chunk.rows);
    key = chunk.lastKey;
  }
}

before(async () => {
  admin = await adminConnection();
  await admin.query(`CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4`);
  conn = await openSourceConnection(sourceConfig(`${reEscape(db)}\\..*`));
});

after(async () => {
  await conn?.end();
  await admin?.query(`DROP DATABASE IF EXISTS \`${db}\``);
  await admin?.end();
});

describe('readChunk values', () => {
  it('reads every common type in the canonical form of change.ts', async () => {
    await admin.query(`CREATE TABLE \`${db}\`.types (
      id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
      ti TINYINT, su SMALLINT UNSIGNED, mi MEDIUMINT, i INT, iu INT UNSIGNED, bi BIGINT, bs BIGINT,
      d65 DECIMAL(65,30), d10 DECIMAL(10,3), f FLOAT, dbl DOUBLE, bt BIT(12), b1 BIT(1), y YEAR,
      dz DATE, da DATE, dt6 DATETIME(6), dt6z DATETIME(6), dt0 DATETIME, ts3 TIMESTAMP(3) NULL, tm4 TIME(4), tm0 TIME,
      cl CHAR(3) CHARACTER SET latin1, vc VARCHAR(20), tx TEXT, bn BINARY(4), bl BLOB,
      j JSON, e ENUM('a','b,c','it''s'), s SET('x','y','z'), g GEOMETRY, u UUID, i4 INET4, i6 INET6,
      gv BIGINT UNSIGNED AS (id - 1) VIRTUAL, gs VARCHAR(30) AS (CONCAT(vc, '!')) STORED
    )`);
    // The writer session is in +05:00: TIMESTAMP must come back in UTC.
    await admin.query("SET SESSION time_zone = '+05:00', SESSION sql_mode = ''"); // '' into ENUM: the error value
    await admin.query(
      `INSERT INTO \`${db}\`.types (id, ti, su, mi, i, iu, bi, bs, d65, d10, f, dbl, bt, b1, y, dz, da, dt6, dt6z, dt0, ts3, tm4, tm0,
        cl, vc, tx, bn, bl, j, e, s, g, u, i4, i6) VALUES
       (18446744073709551615, -128, 65535, -8388608, -2147483648, 4294967295, -9223372036854775808, 42,
        '-12345678901234567890123456789012345.123456789012345678901234567890', '-12.340', 0.1, 0.1e0 + 0.2e0,
        b'101010101010', b'1', 2024, '0000-00-00', '2024-02-29', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.000000',
        '1999-12-31 23:59:59', '2024-06-01 12:00:00.500', '-838:59:59.0000', '12:00:00',
        _utf8mb4'€ab', _utf8mb4'😀 x', 'line1\\nline2', x'00010000', x'00ff0000', '{"a": 1.10, "b": 12345678901234567890}',
        'b,c', 'x,z', ST_GeomFromText('POINT(1 2)', 4326), '123e4567-e89b-12d3-a456-426614174000', '10.0.0.1', '2001:db8::1'),
       (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, '', NULL, NULL, '', NULL, '', '', NULL, NULL, NULL, NULL)`,
    );
    await admin.query('SET SESSION time_zone = DEFAULT, SESSION sql_mode = DEFAULT');
    const t = await schemaOf('types');
    const chunk = await readChunk(conn, t, null, 10);
    assert.equal(chunk.rows.length, 2);
    const byName = (row: Row): Record<string, unknown> => Object.fromEntries(t.columns.map((c, i) => [c.name, row[i]]));
    const nul = byName(chunk.rows[0] as Row);
    const r = byName(chunk.rows[1] as Row);
    assert.deepEqual(chunk.lastKey, [18446744073709551615n]);
    assert.equal(r.id, 18446744073709551615n);
    assert.equal(r.ti, -128);
    assert.equal(r.su, 65535);
    assert.equal(r.mi, -8388608);
    assert.equal(r.i, -2147483648);
    assert.equal(r.iu, 4294967295);
    assert.equal(r.bi, -9223372036854775808n);
    assert.equal(r.bs, 42);
    assert.equal(r.d65, '-12345678901234567890123456789012345.123456789012345678901234567890');
    assert.equal(r.d10, '-12.340');
    assert.equal(r.f, 0.10000000149011612);
    assert.equal(r.dbl, 0.30000000000000004);
    assert.deepEqual(r.bt, Buffer.from([0x0a, 0xaa]));
    assert.deepEqual(r.b1, Buffer.from([0x01]));
    assert.equal(r.y, 2024);
    assert.equal(r.dz, '0000-00-00');
    assert.equal(r.da, '2024-02-29');
    assert.equal(r.dt6, '2024-01-02 03:04:05.123456');
    assert.equal(r.dt6z, '2024-01-02 03:04:05.000000');
    assert.equal(r.dt0, '1999-12-31 23:59:59');
    assert.equal(r.ts3, '2024-06-01 07:00:00.500');
    assert.equal(r.tm4, '-838:59:59.0000');
    assert.equal(r.tm0, '12:00:00');
    assert.equal(r.cl, '€ab');
    assert.equal(r.vc, '😀 x');
    assert.equal(r.tx, 'line1\nline2');
    assert.deepEqual(r.bn, Buffer.from([0, 1, 0, 0]));
    assert.deepEqual(r.bl, Buffer.from([0, 0xff, 0, 0]));
    assert.equal(r.j, '{"a": 1.10, "b": 12345678901234567890}');
    assert.equal(r.e, 'b,c');
    assert.equal(r.s, 'x,z');
    assert.deepEqual(r.g, Buffer.from('E6100000' + '0101000000' + '000000000000F03F' + '0000000000000040', 'hex'));
    assert.equal(r.u, '123e4567-e89b-12d3-a456-426614174000');
    assert.equal(r.i4, '10.0.0.1');
    assert.equal(r.i6, '2001:db8::1');
    assert.equal(r.gv, 18446744073709551614n);
    assert.equal(r.gs, '😀 x!');
    // The all-NULL row: NULLs stay null, empty strings/blobs stay empty, YEAR 0 is 0.
    assert.equal(nul.id, 1);
    assert.equal(nul.ti, null);
    assert.equal(nul.bi, null);
    assert.equal(nul.f, null);
    assert.equal(nul.g, null);
    assert.equal(nul.y, 0);
    assert.equal(nul.vc, '');
    assert.deepEqual(nul.bl, Buffer.alloc(0));
    assert.equal(nul.e, '');
    assert.equal(nul.s, '');
    assert.equal(nul.gv, 0);
  });

  it('reads FLOAT and DOUBLE exactly (the text protocol must not round them)', async () => {
    await admin.query(`CREATE TABLE \`${db}\`.fl (id INT PRIMARY KEY, f FLOAT, d DOUBLE)`);
    // 910040.7869100955 came back as ...956 when DOUBLE was read as a plain column.
    const values: number[] = [1 / 3, Math.PI, 5e-324, 1.7976931348623157e308, 123456789.12345678, -0, 1e23, 910040.7869100955];
    for (let k = 0; k < 300; k++) values.push(Math.random() * 10 ** (Math.floor(Math.random() * 30) - 10));
    const buf = Buffer.alloc(8);
    for (let k = 0; k < 300; k++) {
      for (let b = 0; b < 8; b++) buf[b] = Math.floor(Math.random() * 256);
      const v = buf.readDoubleLE(0);
      if (Number.isFinite(v)) values.push(v);
    }
    const floatOf = (v: number): number => (Math.abs(v) < 3.4e38 ? Math.fround(v) : 1);
    // Parameters through the binary protocol: the stored values are exactly these doubles.
    for (let k = 0; k < values.length; k++) {
      await admin.execute(`INSERT INTO \`${db}\`.fl VALUES (?, ?, ?)`, [k, floatOf(values[k] as number), values[k] as number]);
    }
    const t = await schemaOf('fl');
    const rows = await readAll(t, 100);
    assert.equal(rows.length, values.length);
    for (const row of rows) {
      const k = row[0] as number;
      assert.equal(row[2], (values[k] as number) === 0 ? row[2] : values[k], `double #${k}`);
      assert.equal(row[1], floatOf(values[k] as number) === 0 ? row[1] : floatOf(values[k] as number), `float #${k}`);
    }
  });
});

describe('readChunk pagination', () => {
  it('pages a composite key (int, varchar, decimal) in key order, resuming after any key', async () => {
    await admin.query(`CREATE TABLE \`${db}\`.ck (a INT, b VARCHAR(10), c DECIMAL(30,10), v INT, PRIMARY KEY (a, b, c))`);
    const vals: string[] = [];
    let n = 0;
    for (const a of [-1, 0, 7])
      for (const b of ['', 'A', 'b', 'é', "o'k"])
        for (const c of ['-0.0000000001', '0.0000000000', '12345678901234567890.0000000001']) vals.push(`(${a}, ${admin.escape(b)}, ${c}, ${n++})`);
    await admin.query(`INSERT INTO \`${db}\`.ck VALUES ${vals.join(',')}`);
    const t = await schemaOf('ck');
    const [expected] = await admin.query<RowDataPacket[]>({ sql: `SELECT v FROM \`${db}\`.ck ORDER BY a, b, c`, rowsAsArray: true });
    const order = (expected as unknown as number[][]).map((r) => r[0]);
    for (const limit of [1, 2, 7, 1000]) {
      const rows = await readAll(t, limit);
      assert.deepEqual(rows.map((r) => r[3]), order, `limit ${limit}`);
    }
    // Resume after the 10th row's key: exactly the rows after it.
    const all = await readAll(t, 1000);
    const mid = all[9] as Row;
    const rest = await readAll(t, 4, [mid[0], mid[1], mid[2]] as Value[]);
    assert.deepEqual(rest.map((r) => r[3]), order.slice(10));
    // A decimal key with 20 integer digits must be compared exactly, not as a double.
    const d = all.find((r) => r[2] === '12345678901234567890.0000000001' && r[0] === 0 && r[1] === '');
    assert.ok(d);
  });

  it('pages ENUM keys in index order (not label order) and bigint keys past 2^53', async () => {
    await admin.query(`CREATE TABLE \`${db}\`.ek (e ENUM('z','a','m') NOT NULL, n BIGINT UNSIGNED NOT NULL, PRIMARY KEY (e, n))`);
    await admin.query(`INSERT INTO \`${db}\`.ek VALUES ('z', 9007199254740993), ('z', 9007199254740992), ('a', 1), ('m', 18446744073709551615), ('m', 2)`);
    const t = await schemaOf('ek');
    const rows = await readAll(t, 1);
    assert.deepEqual(rows, [
      ['z', 9007199254740992n],
      ['z', 9007199254740993n],
      ['a', 1],
      ['m', 2],
      ['m', 18446744073709551615n],
    ]);
  });

  it('splits a table into key ranges (probe + range read) that together hold every row once, for composite, ENUM and bigint keys', async () => {
    for (const table of ['ck', 'ek']) {
      const t = await schemaOf(table);
      const keyed = await readAll(t, 1000);
      for (const n of [1, 2, 3, 7, 1000]) {
        const got: Row[] = [];
        let after: Value[] | null = null;
        for (;;) {
          const end = await chunkEnd(conn, t, after, n);
          if (end === null) {
            got.push(...(await readAll(t, n, after)));
            break;
          }
          const r = await readRange(conn, t, after, end);
          assert.equal(r.rows.length, n, `${table}: a range sized for ${n} rows holds ${n}`);
          assert.deepEqual(r.lastKey, end);
          got.push(...r.rows);
          after = end;
        }
        assert.deepEqual(got, keyed, `${table} in ranges of ${n}`);
      }
    }
  });

  it('sizes ranges by rows, whatever the gaps between keys (sparse and skewed keys)', async () => {
    await admin.query(`CREATE TABLE \`${db}\`.sparse (id BIGINT PRIMARY KEY, v INT)`);
    // 100 keys close together, then 100 spread over 10^15.
    const vals: string[] = [];
    for (let i = 0; i < 100; i++) vals.push(`(${i}, ${i})`);
    for (let i = 0; i < 100; i++) vals.push(`(${1000 + i * 10_000_000_000_000}, ${100 + i})`);
    await admin.query(`INSERT INTO \`${db}\`.sparse VALUES ${vals.join(',')}`);
    const t = await schemaOf('sparse');
    let after: Value[] | null = null;
    const sizes: number[] = [];
    for (;;) {
      const end = await chunkEnd(conn, t, after, 30);
      if (end === null) break;
      sizes.push((await readRange(conn, t, after, end)).rows.length);
      after = end;
    }
    assert.deepEqual(sizes, [30, 30, 30, 30, 30, 30]);
    assert.equal((await readAll(t, 1000, after)).length, 20);
  });

  it('returns an empty chunk with a null lastKey at the end', async () => {
    const t = await schemaOf('ek');
    const c = await readChunk(conn, t, ['m', 18446744073709551615n], 10);
    assert.deepEqual(c, { rows: [], lastKey: null });
  });

  it('reads tables with quoted names containing backticks and spaces', async () => {
    await admin.query(`CREATE TABLE \`${db}\`.\`we\`\`ird t\` (\`k\`\`ey\` INT PRIMARY KEY, \`v a\` TEXT)`);
    await admin.query(`INSERT INTO \`${db}\`.\`we\`\`ird t\` VALUES (1, 'x'), (2, 'y')`);
    const t = await schemaOf('we`ird t');
    assert.deepEqual(await readAll(t, 1), [[1, 'x'], [2, 'y']]);
  });

  it('uses a range scan on the primary key for the composite-key resume query', async () => {
    const t = await schemaOf('ck');
    // k1 >= ?, k1 > ?, (k1 = ?, k2 > ?), (k1 = ?, k2 = ?, k3 > ?), LIMIT ?
    const sql = admin.format(chunkSql(t, true), [0, 0, 0, '', 0, '', '0', 100]);
    const [plan] = await admin.query<RowDataPacket[]>(`EXPLAIN ${sql}`);
    const p = plan[0] as Record<string, unknown>;
    assert.equal(p.key, 'PRIMARY');
    assert.equal(p.type, 'range');
  });

  it('estimates rows and reads a binlog position', async () => {
    const t = await schemaOf('ck');
    const n = await estimateRows(conn, t);
    assert.ok(n >= 0);
    const pos = await readCurrentPosition(conn);
    assert.match(pos.file, /\.\d+$/);
    assert.ok(pos.pos > 0);
    assert.match(pos.gtid, /^(\d+-\d+-\d+)(,\d+-\d+-\d+)*$/);
    // The compare-only end of the log: the same file/offset order, no GTID read.
    const end = await readLogEnd(conn);
    assert.equal(end.gtid, '');
    assert.ok(binlogPositionCodec.compare(end, pos) >= 0);
    assert.ok(binlogPositionCodec.compare(await readCurrentPosition(conn), end) >= 0);
  });

  it('reads a position whose GTID state matches its offset while a writer commits without pause', async () => {
    await admin.query(`CREATE TABLE \`${db}\`.busy (id INT PRIMARY KEY, n INT NOT NULL)`);
    const writer = await adminConnection();
    let stop = false;
    const writing = (async () => {
      for (let i = 0; !stop; i++) await writer.query(`INSERT INTO \`${db}\`.busy VALUES (?, 0) ON DUPLICATE KEY UPDATE n = n + 1`, [i % 50]);
    })();
    const seen: { file: string; pos: number; gtid: string }[] = [];
    try {
      for (let i = 0; i < 40; i++) seen.push(await readCurrentPosition(conn));
    } finally {
      stop = true;
      await writing;
      await writer.end();
    }
    // Independent check: the event group right after each offset is the GTID that follows the
    // state reported with it (domain 0, sequence + 1).
    const [[gtidRow]] = await admin.query<RowDataPacket[]>('SELECT @@server_id AS id');
    const serverId = Number((gtidRow as { id: number }).id);
    let checked = 0;
    for (const p of seen) {
      const [events] = await admin.query<RowDataPacket[]>(`SHOW BINLOG EVENTS IN '${p.file}' FROM ${p.pos} LIMIT 1`);
      const ev = events[0] as { Event_type: string; Info: string } | undefined;
      if (!ev || ev.Event_type !== 'Gtid') continue; // nothing after it yet, or a rotate
      const m = /GTID (\d+)-(\d+)-(\d+)/.exec(ev.Info);
      assert.ok(m, ev.Info);
      const domain = m[1] as string;
      const seq = Number(m[3]);
      const before = p.gtid.split(',').find((g) => g.startsWith(`${domain}-`));
      assert.ok(before, `GTID state ${p.gtid} has domain ${domain}`);
      assert.equal(Number(before.split('-')[2]), seq - 1, `state ${p.gtid} at ${p.file}:${p.pos}, next event ${ev.Info} (server ${serverId})`);
      checked++;
    }
    assert.ok(checked >= 30, `only ${checked} of ${seen.length} positions were followed by a GTID event`);
  });
});
