import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import { isFerryError } from '../../src/core/errors.js';
import type { Value } from '../../src/core/change.js';
import type { ColumnSchema, LogicalType } from '../../src/core/schema.js';
import { openBinlogStream, readServerPosition, type BinlogStream, type BinlogStreamOptions } from '../../src/connectors/mysql/binlog/reader.js';
import type { BinlogEvent, MariadbGtidEvent, RowsEvent, TableMapEvent } from '../../src/connectors/mysql/binlog/types.js';
import { HOST, MYSQL_PORT, mysqlOptions, PASSWORD, USER } from '../helpers/env.js';

const DB = `binlog_it_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
const conn = { host: HOST, port: MYSQL_PORT, user: USER, password: PASSWORD };
const serverId = (): number => 10000 + Math.floor(Math.random() * 50000);

function open(start: BinlogStreamOptions['start'], extra: Partial<BinlogStreamOptions> = {}): BinlogStream {
  return openBinlogStream({ connection: conn, serverId: serverId(), start, heartbeatIntervalMs: 0, ...extra });
}

/** Reads until `stop` holds for an event (inclusive), then closes the stream. */
async function collect(stream: BinlogStream, stop: (ev: BinlogEvent) => boolean, timeoutMs = 30_000): Promise<BinlogEvent[]> {
  const out: BinlogEvent[] = [];
  const timer = setTimeout(() => void stream.close(), timeoutMs);
  try {
    for await (const batch of stream) {
      for (const ev of batch) {
        out.push(ev);
        if (stop(ev)) return out;
      }
    }
  } finally {
    clearTimeout(timer);
    await stream.close();
  }
  throw new Error(`stream ended before the expected event (${out.length} events read)`);
}

/** Stop condition: the commit (XID) of the first transaction that wrote rows into `${DB}.${table}`. */
function commitOf(table: string): (ev: BinlogEvent) => boolean {
  let seen = false;
  return (ev) => {
    if (ev.type === 'rows' && ev.table.schema === DB && ev.table.table === table) seen = true;
    return seen && ev.type === 'xid';
  };
}

function rowsOf(events: BinlogEvent[], table: string): RowsEvent[] {
  return events.filter((e): e is RowsEvent => e.type === 'rows' && e.table.schema === DB && e.table.table === table);
}

const c = (name: string, type: LogicalType): ColumnSchema => ({ name, type, sourceType: '', nullable: true, defaultValue: null, generated: false });
const str = (charset: string, lob = false): LogicalType => ({ kind: 'string', maxChars: null, fixed: false, charset, collation: null, lob });

const TYPES_DDL = `CREATE TABLE types (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT UNSIGNED, i INT, bi BIGINT, biu BIGINT UNSIGNED,
  dec1 DECIMAL(10,3), dec2 DECIMAL(65,30), f FLOAT, d DOUBLE, b BIT(10), y YEAR, dt DATE,
  dtm DATETIME(6), dtm0 DATETIME, ts TIMESTAMP(3) NULL, tm TIME(2), tm0 TIME,
  vc VARCHAR(100) CHARACTER SET utf8mb4, l1 VARCHAR(20) CHARACTER SET latin1, ch CHAR(5) CHARACTER SET utf8mb4,
  bin BINARY(4), vb VARBINARY(10), tx TEXT CHARACTER SET utf8mb4, bl BLOB, j JSON,
  e ENUM('a','b,c','d'), s SET('x','y','z'), u UUID, i6 INET6, g POINT, u2 VARCHAR(10) CHARACTER SET ucs2
)`;

const TYPES_SCHEMA: ColumnSchema[] = [
  c('id', { kind: 'int', bits: 32, unsigned: false }),
  c('ti', { kind: 'int', bits: 8, unsigned: false }),
  c('tiu', { kind: 'int', bits: 8, unsigned: true }),
  c('si', { kind: 'int', bits: 16, unsigned: false }),
  c('mi', { kind: 'int', bits: 24, unsigned: true }),
  c('i', { kind: 'int', bits: 32, unsigned: false }),
  c('bi', { kind: 'int', bits: 64, unsigned: false }),
  c('biu', { kind: 'int', bits: 64, unsigned: true }),
  c('dec1', { kind: 'decimal', precision: 10, scale: 3, unsigned: false }),
  c('dec2', { kind: 'decimal', precision: 65, scale: 30, unsigned: false }),
  c('f', { kind: 'float' }),
  c('d', { kind: 'double' }),
  c('b', { kind: 'bit', bits: 10 }),
  c('y', { kind: 'year' }),
  c('dt', { kind: 'date' }),
  c('dtm', { kind: 'datetime', fsp: 6 }),
  c('dtm0', { kind: 'datetime', fsp: 0 }),
  c('ts', { kind: 'timestamp', fsp: 3 }),
  c('tm', { kind: 'time', fsp: 2 }),
  c('tm0', { kind: 'time', fsp: 0 }),
  c('vc', str('utf8mb4')),
  c('l1', str('latin1')),
  c('ch', { kind: 'string', maxChars: 5, fixed: true, charset: 'utf8mb4', collation: null, lob: false }),
  c('bin', { kind: 'binary', maxBytes: 4, fixed: true, lob: false }),
  c('vb', { kind: 'binary', maxBytes: 10, fixed: false, lob: false }),
  c('tx', str('utf8mb4', true)),
  c('bl', { kind: 'binary', maxBytes: null, fixed: false, lob: true }),
  c('j', { kind: 'json' }),
  c('e', { kind: 'enum', values: ['a', 'b,c', 'd'] }),
  c('s', { kind: 'set', values: ['x', 'y', 'z'] }),
  c('u', { kind: 'uuid' }),
  c('i6', { kind: 'inet6' }),
  c('g', { kind: 'geometry', subtype: 'point' }),
  c('u2', str('ucs2')),
];

let admin: mysql.Connection;

before(async () => {
  admin = await mysql.createConnection({ ...mysqlOptions });
  await admin.query(`SET time_zone = '+00:00', sql_mode = ''`);
  await admin.query(`CREATE DATABASE ${DB}`);
  await admin.query(`USE ${DB}`);
  await admin.query(TYPES_DDL);
  await admin.query('CREATE TABLE big (id INT PRIMARY KEY, payload LONGBLOB)');
  await admin.query('CREATE TABLE seq (id INT PRIMARY KEY, v VARCHAR(20))');
});

after(async () => {
  await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin.end();
});

describe('binlog reader against MariaDB', () => {
  it('decodes every column type of inserted, updated and deleted rows into the canonical forms', async () => {
    const start = await readServerPosition(conn);
    assert.match(start.file, /\.\d+$/);
    await admin.query(
      `INSERT INTO types VALUES
       (1, -128, 255, -32768, 16777215, -2147483648, -9223372036854775808, 18446744073709551615,
        -12.34, -12345678901234567890123456789012345.123456789012345678901234567890, 0.1, 1.7976931348623157e308, b'1010101010', 2024, '2024-02-29',
        '2024-01-02 03:04:05.123456', '1999-12-31 23:59:59', '2038-01-19 03:14:07.999', '-837:00:01.25', '838:59:59',
        'héllo 😀', '€uro', 'ab', 'a', 0x00ff, 'text ü', 0x000102, '{"k": [1, 2.5, "x"]}', 'b,c', 'z,x',
        '6ccd780c-baba-1026-9564-5b8c656024db', '2001:db8::1', ST_GeomFromText('POINT(1 2)'), 'A€'),
       (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
       (3, 0, 0, 0, 0, 0, 9007199254740993, 0, 0, 0, -0.0, 0, b'0', 0, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00',
        '1970-01-01 00:00:01', '00:00:00', '-00:00:01', '', '', '', '', '', '', '', '[]', '', '', '00000000-0000-0000-0000-000000000000', '::', NULL, '')`,
    );
    await admin.query(`UPDATE types SET ti = 1, vc = 'x' WHERE id = 2`);
    await admin.query(`DELETE FROM types WHERE id = 3`);
    await admin.query(`INSERT INTO seq VALUES (0, 'done')`);
    const [geo] = (await admin.query(`SELECT HEX(g) AS h FROM types WHERE id = 1`)) as unknown as [{ h: string }[]];
    const events = await collect(open({ file: start.file, pos: start.pos }), commitOf('seq'));
    const rows = rowsOf(events, 'types');
    assert.deepEqual(rows.map((r) => r.kind), ['insert', 'update', 'delete']);
    const ins = rows[0]?.decodeRows(TYPES_SCHEMA).after ?? [];
    const want1: Value[] = [
      1, -128, 255, -32768, 16777215, -2147483648, -9223372036854775808n, 18446744073709551615n,
      '-12.340', '-12345678901234567890123456789012345.123456789012345678901234567890', Math.fround(0.1), 1.7976931348623157e308,
      Buffer.from([0x02, 0xaa]), 2024, '2024-02-29',
      '2024-01-02 03:04:05.123456', '1999-12-31 23:59:59', '2038-01-19 03:14:07.999', '-837:00:01.25', '838:59:59',
      'héllo 😀', '€uro', 'ab', Buffer.from('a\0\0\0', 'latin1'), Buffer.from([0, 255]), 'text ü', Buffer.from([0, 1, 2]),
      '{"k": [1, 2.5, "x"]}', 'b,c', 'x,z', '6ccd780c-baba-1026-9564-5b8c656024db', '2001:db8::1',
      Buffer.from(geo[0]?.h ?? '', 'hex'), 'A€',
    ];
    assert.deepEqual(ins[0], want1);
    assert.deepEqual(ins[1], [2, ...new Array<null>(33).fill(null)]);
    assert.deepEqual(ins[2], [
      3, 0, 0, 0, 0, 0, 9007199254740993n, 0, '0.000', '0.000000000000000000000000000000', 0, 0, Buffer.from([0, 0]), 0, '0000-00-00',
      '0000-00-00 00:00:00.000000', '0000-00-00 00:00:00', '1970-01-01 00:00:01.000', '00:00:00.00', '-00:00:01', '', '', '',
      Buffer.alloc(4), Buffer.alloc(0), '', Buffer.alloc(0), '[]', '', '', '00000000-0000-0000-0000-000000000000', '::', null, '',
    ]);
    const up = rows[1]?.decodeRows(TYPES_SCHEMA);
    assert.equal(up?.before?.[0]?.[1], null);
    assert.equal(up?.after?.[0]?.[1], 1);
    assert.equal(up?.after?.[0]?.[20], 'x');
    assert.equal(rows[2]?.decodeRows(TYPES_SCHEMA).before?.[0]?.[6], 9007199254740993n);
    // Positions: every event is in a file, positions only grow within it.
    const inFile = events.filter((e) => e.file === start.file && !e.artificial);
    for (let k = 1; k < inFile.length; k++) assert.ok((inFile[k]?.nextPos ?? 0) >= (inFile[k - 1]?.nextPos ?? 0));
  });

  it('reads a 20 MB BLOB row (an event larger than one 16 MB packet)', async () => {
    const start = await readServerPosition(conn);
    const payload = Buffer.alloc(20 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4096) payload[i] = i % 251;
    payload[payload.length - 1] = 0x7f;
    await admin.query('INSERT INTO big VALUES (1, ?)', [payload]);
    const events = await collect(open({ file: start.file, pos: start.pos }), commitOf('big'));
    const [ev] = rowsOf(events, 'big');
    const got = ev?.decodeRows([c('id', { kind: 'int', bits: 32, unsigned: false }), c('payload', { kind: 'binary', maxBytes: null, fixed: false, lob: true })]);
    const v = got?.after?.[0]?.[1];
    assert.ok(Buffer.isBuffer(v));
    assert.equal(v.length, payload.length);
    assert.ok(v.equals(payload));
  });

  it('resumes by file/position and by MariaDB GTID after a transaction', async () => {
    const start = await readServerPosition(conn);
    await admin.query(`INSERT INTO seq VALUES (1, 'one')`);
    await admin.query(`INSERT INTO seq VALUES (2, 'two')`);
    const events = await collect(open({ file: start.file, pos: start.pos }), (() => {
      let n = 0;
      return (ev: BinlogEvent) => {
        if (ev.type === 'rows' && ev.table.schema === DB && ev.table.table === 'seq') n++;
        return n === 2 && ev.type === 'xid';
      };
    })());
    const firstRows = rowsOf(events, 'seq')[0];
    assert.ok(firstRows);
    const idx = events.indexOf(firstRows);
    const xid = events.slice(idx).find((e) => e.type === 'xid');
    const gtid = events.slice(0, idx).reverse().find((e): e is MariadbGtidEvent => e.type === 'mariadb-gtid');
    assert.ok(xid && gtid);
    const schema = [c('id', { kind: 'int', bits: 32, unsigned: false }), c('v', str('utf8mb4'))];

    const byPos = await collect(open({ file: xid.file, pos: xid.nextPos }), commitOf('seq'));
    assert.deepEqual(rowsOf(byPos, 'seq')[0]?.decodeRows(schema).after, [[2, 'two']]);
    assert.equal(byPos[0]?.type, 'rotate');

    const byGtid = await collect(open({ gtid: gtid.gtid }), commitOf('seq'));
    assert.deepEqual(rowsOf(byGtid, 'seq')[0]?.decodeRows(schema).after, [[2, 'two']]);
    const rot = byGtid.find((e) => e.type === 'rotate');
    assert.ok(rot && rot.type === 'rotate' && rot.artificial && rot.nextFile.length > 0);
    // Events after the artificial rotate carry the file name even though the dump started by GTID.
    assert.equal(rowsOf(byGtid, 'seq')[0]?.file, xid.file);
  });

  it('sends heartbeats on an idle stream', async () => {
    const start = await readServerPosition(conn);
    const events = await collect(
      open({ file: start.file, pos: start.pos }, { heartbeatIntervalMs: 300 }),
      (ev) => ev.type === 'heartbeat',
      20_000,
    );
    const hb = events.at(-1);
    assert.ok(hb && hb.type === 'heartbeat');
    assert.equal(hb.logFile, start.file);
    assert.ok(hb.logPosition >= start.pos);
  });

  it('takes column names, signedness and charsets from the table map with binlog_row_metadata=FULL', async () => {
    const root = await mysql.createConnection({ ...mysqlOptions });
    const [[prev]] = (await root.query('SELECT @@global.binlog_row_metadata AS v')) as unknown as [{ v: string }[]];
    try {
      await root.query(`SET GLOBAL binlog_row_metadata = 'FULL'`);
      const w = await mysql.createConnection({ ...mysqlOptions, database: DB });
      const start = await readServerPosition(conn);
      await w.query(`CREATE TABLE meta (id BIGINT UNSIGNED PRIMARY KEY, name VARCHAR(10) CHARACTER SET latin1, e ENUM('on','off'), s SET('p','q'))`);
      await w.query(`INSERT INTO meta VALUES (18446744073709551615, '€', 'off', 'p,q')`);
      await w.end();
      const events = await collect(open({ file: start.file, pos: start.pos }), commitOf('meta'));
      const [ev] = rowsOf(events, 'meta');
      assert.ok(ev);
      const tm: TableMapEvent = ev.table;
      assert.deepEqual(tm.metadata.columnNames, ['id', 'name', 'e', 's']);
      assert.deepEqual(tm.metadata.primaryKey, [0]);
      // No schema given: everything comes from the table map.
      assert.deepEqual(ev.decodeRows().after, [[18446744073709551615n, '€', 'off', 'p,q']]);
    } finally {
      await root.query(`SET GLOBAL binlog_row_metadata = ?`, [prev?.v ?? 'NO_LOG']);
      await root.end();
    }
  });

  it('keeps every event in order when the consumer is slower than the server (backpressure)', async () => {
    const start = await readServerPosition(conn);
    const values = Array.from({ length: 3000 }, (_, k) => `(${1000 + k}, 'v${k}')`).join(',');
    await admin.query(`INSERT INTO seq VALUES ${values}`);
    await admin.query(`INSERT INTO seq VALUES (9999, 'last')`);
    const stream = open({ file: start.file, pos: start.pos }, { highWaterMarkBytes: 1 });
    const ids: number[] = [];
    const schema = [c('id', { kind: 'int', bits: 32, unsigned: false }), c('v', str('utf8mb4'))];
    const events = await collect(
      {
        position: stream.position,
        close: () => stream.close(),
        async *[Symbol.asyncIterator]() {
          for await (const batch of stream) {
            await new Promise((r) => setTimeout(r, 5));
            yield batch;
          }
        },
      },
      (ev) => ev.type === 'rows' && ev.table.schema === DB && ev.table.table === 'seq' && ev.decodeRows(schema).after?.[0]?.[0] === 9999,
    );
    for (const r of rowsOf(events, 'seq')) for (const row of r.decodeRows(schema).after ?? []) ids.push(row[0] as number);
    assert.equal(ids.length, 3001);
    assert.deepEqual(ids.slice(0, 3), [1000, 1001, 1002]);
    assert.equal(ids.at(-1), 9999);
  });

  it('hands events over in batches of at most 1024, parsed when taken, every event in order', async () => {
    const start = await readServerPosition(conn);
    // 1,500 transactions of one row: ~6,000 events (GTID, BEGIN, Table_map, rows, XID).
    for (let k = 0; k < 1500; k++) await admin.query(`INSERT INTO seq VALUES (${90000 + k}, 'b${k}')`);
    const end = await readServerPosition(conn);
    const stream = open({ file: start.file, pos: start.pos }, { nonBlocking: true });
    const schema = [c('id', { kind: 'int', bits: 32, unsigned: false }), c('v', str('utf8mb4'))];
    const ids: number[] = [];
    let largest = 0;
    let lastPos = 0;
    try {
      for await (const batch of stream) {
        largest = Math.max(largest, batch.length);
        // A consumer slower than the server: the received events wait unparsed meanwhile.
        await new Promise((r) => setTimeout(r, 2));
        for (const ev of batch) {
          if (ev.file === end.file && ev.nextPos > 0) {
            assert.ok(ev.nextPos >= lastPos, `positions never move back (${ev.nextPos} after ${lastPos})`);
            lastPos = ev.nextPos;
          }
          if (ev.type === 'rows' && ev.table.schema === DB && ev.table.table === 'seq') for (const row of ev.decodeRows(schema).after ?? []) ids.push(row[0] as number);
        }
      }
    } finally {
      await stream.close();
    }
    assert.ok(largest <= 1024 && largest > 1, `largest batch ${largest}`);
    assert.deepEqual(ids, Array.from({ length: 1500 }, (_, k) => 90000 + k));
    assert.equal(lastPos, end.pos);
  });

  it('a non-blocking dump read by a slow consumer ends after its last event, not with a lost connection', async () => {
    // The server ends a non-blocking dump with EOF and closes the connection. Pausing mysql2's
    // connection (rather than its socket) kept the packets left in the chunk being parsed in
    // mysql2's queue, and the close that followed dropped them: the last events and the EOF were
    // lost and the stream failed with FERRY_SOURCE_UNREACHABLE.
    const start = await readServerPosition(conn);
    const values = Array.from({ length: 2000 }, (_, k) => `(${20000 + k}, 'w${k}')`).join(',');
    for (let i = 0; i < 5; i++) await admin.query(`INSERT INTO seq VALUES ${values.replaceAll('(2', `(${i + 3}`)}`);
    const end = await readServerPosition(conn);
    for (let attempt = 0; attempt < 3; attempt++) {
      const stream = open({ file: start.file, pos: start.pos }, { highWaterMarkBytes: 1, nonBlocking: true });
      let last = 0;
      let events = 0;
      try {
        for await (const batch of stream) {
          await new Promise((r) => setTimeout(r, 2));
          for (const ev of batch) {
            events++;
            if (ev.file === end.file && ev.nextPos > last) last = ev.nextPos;
          }
        }
      } finally {
        await stream.close();
      }
      assert.ok(events > 10, `${events} events`);
      assert.equal(last, end.pos, 'the stream ended at the end of the binlog');
    }
  });

  it('fails with FERRY_HISTORY_LOST for a binlog file the server does not have', async () => {
    const s = open({ file: 'binlog.999999', pos: 4 });
    await assert.rejects(collect(s, () => false, 10_000), (e) => isFerryError(e, 'FERRY_HISTORY_LOST') && typeof e.fix === 'string');
  });

  it('fails with FERRY_SOURCE_UNREACHABLE for a wrong password or a closed port', async () => {
    const bad = openBinlogStream({ connection: { ...conn, password: 'wrong' }, serverId: serverId(), start: { file: 'binlog.000001', pos: 4 }, heartbeatIntervalMs: 0 });
    await assert.rejects(collect(bad, () => false, 10_000), (e) => isFerryError(e, 'FERRY_SOURCE_UNREACHABLE') && !e.message.includes('wrong'));
    const closed = openBinlogStream({ connection: { ...conn, port: 1 }, serverId: serverId(), start: { file: 'binlog.000001', pos: 4 }, heartbeatIntervalMs: 0 });
    await assert.rejects(collect(closed, () => false, 10_000), (e) => isFerryError(e, 'FERRY_SOURCE_UNREACHABLE'));
  });

  it('stops with FERRY_ABORTED when its AbortSignal fires, and ends quietly on close()', async () => {
    const start = await readServerPosition(conn);
    const ac = new AbortController();
    const s = open({ file: start.file, pos: start.pos }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 300);
    await assert.rejects(collect(s, () => false, 10_000), (e) => isFerryError(e, 'FERRY_ABORTED'));
    const s2 = open({ file: start.file, pos: start.pos });
    setTimeout(() => void s2.close(), 300);
    const t0 = Date.now();
    for await (const batch of s2) assert.ok(Array.isArray(batch));
    assert.ok(Date.now() - t0 < 5000);
  });
});
