import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { isFerryError } from '../../src/core/errors.js';
import type { PendingRow, Value } from '../../src/core/change.js';
import type { ColumnSchema, LogicalType } from '../../src/core/schema.js';
import { ColumnType as T, EventCode as E } from '../../src/connectors/mysql/binlog/constants.js';
import { crc32 } from '../../src/connectors/mysql/binlog/crc32.js';
import { buildBinlogDump, buildBinlogDumpGtid, encodeGtidSet } from '../../src/connectors/mysql/binlog/dump-command.js';
import { BinlogEventParser, decodeGtidSet } from '../../src/connectors/mysql/binlog/events.js';
import { binaryJsonToText } from '../../src/connectors/mysql/binlog/json-binary.js';
import type { BinlogEvent, RowsEvent, TableMapEvent } from '../../src/connectors/mysql/binlog/types.js';
import { PendingImage } from '../../src/connectors/mysql/binlog/rows.js';
import { pendingBulkWriter } from '../../src/connectors/mysql/pending-bulk.js';
import { copyBinaryValuesEncoder } from '../../src/connectors/postgres/copy-binary.js';
import { pendingCopyWriters } from '../../src/connectors/postgres/pending-copy.js';
import { MySqlStatementBuffer, STATEMENT_HEADER_BYTES } from '../../src/connectors/mysql/quote.js';

// ---------- builders for hand-made events ----------

function header(code: number, size: number, o: { logPos?: number; serverId?: number; timestamp?: number; flags?: number }): Buffer {
  const h = Buffer.alloc(19);
  h.writeUInt32LE(o.timestamp ?? 1700000000, 0);
  h[4] = code;
  h.writeUInt32LE(o.serverId ?? 1, 5);
  h.writeUInt32LE(size, 9);
  h.writeUInt32LE(o.logPos ?? 0, 13);
  h.writeUInt16LE(o.flags ?? 0, 17);
  return h;
}

function event(code: number, body: Buffer, o: { logPos?: number; serverId?: number; checksum?: boolean; flags?: number } = {}): Buffer {
  const withCrc = o.checksum ?? true;
  const size = 19 + body.length + (withCrc ? 4 : 0);
  const b = Buffer.concat([header(code, size, o), body, Buffer.alloc(withCrc ? 4 : 0)]);
  if (withCrc) b.writeUInt32LE(crc32(b, 0, size - 4), size - 4);
  return b;
}

function u8(...v: number[]): Buffer {
  return Buffer.from(v);
}
function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}
function u48(v: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntLE(v, 0, 6);
  return b;
}
function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}
function lenenc(n: number): Buffer {
  if (n < 251) return u8(n);
  if (n < 65536) return Buffer.concat([u8(252), u16(n)]);
  const b = Buffer.alloc(4);
  b[0] = 253;
  b.writeUIntLE(n, 1, 3);
  return b;
}
function lstr(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([lenenc(b.length), b]);
}
/** A value after a little-endian length prefix of `len` bytes (VARCHAR: 1–2, BLOB/TEXT: 1–4). */
function str(len: 1 | 2 | 3, b: Buffer): Buffer {
  return Buffer.concat([len === 1 ? u8(b.length) : len === 2 ? u16(b.length) : Buffer.from([b.length & 255, (b.length >> 8) & 255, b.length >> 16]), b]);
}

/** DATE: 3 bytes little-endian, day | month << 5 | year << 9. */
function date(y: number, m: number, d: number): Buffer {
  const v = d | (m << 5) | (y << 9);
  return Buffer.from([v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff]);
}

function be(v: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  b.writeUIntBE(v, 0, bytes);
  return b;
}

/** Post-header lengths as MariaDB 10.11 announces them (types 1..171; only the used ones matter). */
function postHeaders(): Buffer {
  const ph = Buffer.alloc(171);
  ph[E.QUERY - 1] = 13;
  ph[E.ROTATE - 1] = 8;
  ph[E.TABLE_MAP - 1] = 8;
  for (const c of [E.WRITE_ROWS_V1, E.UPDATE_ROWS_V1, E.DELETE_ROWS_V1]) ph[c - 1] = 8;
  for (const c of [E.WRITE_ROWS_V2, E.UPDATE_ROWS_V2, E.DELETE_ROWS_V2]) ph[c - 1] = 10;
  for (const c of [166, 167, 168]) ph[c - 1] = 8;
  ph[E.MARIADB_GTID - 1] = 19;
  return ph;
}

function fde(alg: 0 | 1, version = '10.11.19-MariaDB-log'): Buffer {
  const v = Buffer.alloc(50);
  v.write(version, 'latin1');
  const body = Buffer.concat([u16(4), v, u32(0), u8(19), postHeaders(), u8(alg)]);
  // The FDE always carries 4 checksum bytes after the algorithm byte (zeros when OFF).
  const size = 19 + body.length + 4;
  const b = Buffer.concat([header(E.FORMAT_DESCRIPTION, size, { logPos: 256 }), body, Buffer.alloc(4)]);
  if (alg === 1) b.writeUInt32LE(crc32(b, 0, size - 4), size - 4);
  return b;
}

function parserWithFde(): BinlogEventParser {
  const p = new BinlogEventParser({ file: 'binlog.000007', pos: 4, checksum: 'crc32' });
  p.parse(fde(1));
  return p;
}

interface ColSpec {
  type: number;
  meta?: Buffer;
  nullable?: boolean;
}

function tableMapBody(tableId: number, schema: string, table: string, cols: ColSpec[], optional: Buffer = Buffer.alloc(0)): Buffer {
  const meta = Buffer.concat(cols.map((c) => c.meta ?? Buffer.alloc(0)));
  const nulls = Buffer.alloc((cols.length + 7) >> 3);
  cols.forEach((c, i) => {
    if (c.nullable ?? true) nulls[i >> 3] = (nulls[i >> 3] as number) | (1 << (i & 7));
  });
  return Buffer.concat([
    u48(tableId),
    u16(1),
    u8(schema.length),
    Buffer.from(schema),
    u8(0),
    u8(table.length),
    Buffer.from(table),
    u8(0),
    lenenc(cols.length),
    Buffer.from(cols.map((c) => c.type)),
    lenenc(meta.length),
    meta,
    nulls,
    optional,
  ]);
}

function bits(n: number, set: (i: number) => boolean): Buffer {
  const b = Buffer.alloc((n + 7) >> 3);
  for (let i = 0; i < n; i++) if (set(i)) b[i >> 3] = (b[i >> 3] as number) | (1 << (i & 7));
  return b;
}

/** One row image: null bitmap over present columns, then the values (null → no bytes). */
function image(values: (Buffer | null)[]): Buffer {
  return Buffer.concat([bits(values.length, (i) => values[i] === null), ...values.filter((v): v is Buffer => v !== null)]);
}

function rowsBody(version: 1 | 2, tableId: number, n: number, images: Buffer[], update = false): Buffer {
  const all = bits(n, () => true);
  return Buffer.concat([
    u48(tableId),
    u16(1),
    version === 2 ? u16(2) : Buffer.alloc(0),
    lenenc(n),
    all,
    update ? all : Buffer.alloc(0),
    ...images,
  ]);
}

function col(name: string, type: LogicalType): ColumnSchema {
  return { name, type, sourceType: '', nullable: true, defaultValue: null, generated: false };
}

function asRows(ev: BinlogEvent): RowsEvent {
  assert.equal(ev.type, 'rows');
  return ev as RowsEvent;
}

/** Binary DECIMAL encoder (test side) following the layout: 9-digit groups, sign in the top bit. */
function encDecimal(text: string, precision: number, scale: number): Buffer {
  const neg = text.startsWith('-');
  const [ip = '', fp = ''] = text.replace('-', '').split('.');
  const intg = precision - scale;
  const intDigits = ip.padStart(intg, '0');
  const fracDigits = fp.padEnd(scale, '0');
  const d2b = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
  const parts: Buffer[] = [];
  const lead = intg % 9;
  if (lead) parts.push(be(Number(intDigits.slice(0, lead)), d2b[lead] as number));
  for (let i = lead; i < intg; i += 9) parts.push(be(Number(intDigits.slice(i, i + 9)), 4));
  for (let i = 0; i + 9 <= scale; i += 9) parts.push(be(Number(fracDigits.slice(i, i + 9)), 4));
  const tail = scale % 9;
  if (tail) parts.push(be(Number(fracDigits.slice(scale - tail)), d2b[tail] as number));
  const b = Buffer.concat(parts);
  b[0] = (b[0] as number) ^ 0x80;
  if (neg) for (let i = 0; i < b.length; i++) b[i] = (b[i] as number) ^ 0xff;
  return b;
}

function encDatetime2(y: number, mo: number, d: number, h: number, mi: number, s: number, micros: number, fsp: number): Buffer {
  const ymd = (y * 13 + mo) * 32 + d;
  const hms = (h << 12) | (mi << 6) | s;
  const intpart = ymd * 131072 + hms + 0x8000000000;
  return Buffer.concat([be(intpart, 5), encFrac(micros, fsp)]);
}
function encFrac(micros: number, fsp: number): Buffer {
  const n = (fsp + 1) >> 1;
  if (n === 0) return Buffer.alloc(0);
  return be(n === 1 ? micros / 10000 : n === 2 ? micros / 100 : micros, n);
}
/** TIME2 encoder using MySQL's packed-time arithmetic (C `>>` floors, `%` truncates). */
function encTime2(negative: boolean, h: number, mi: number, s: number, micros: number, fsp: number): Buffer {
  const hms = (h << 12) | (mi << 6) | s;
  let nr = hms * 16777216 + micros;
  if (negative) nr = -nr;
  const n = (fsp + 1) >> 1;
  if (n === 0) return be(Math.floor(nr / 16777216) + 0x800000, 3);
  if (n === 3) return be(nr + 0x800000000000, 6);
  const intPart = Math.floor(nr / 16777216);
  const frac = nr - Math.trunc(nr / 16777216) * 16777216; // C remainder
  // C: nr >> 24 floors, nr % 2^24 truncates; when they disagree MySQL's pair still decodes right
  const ip = frac !== 0 && nr < 0 ? intPart : Math.trunc(nr / 16777216);
  const fb = n === 1 ? (frac / 10000) & 0xff : (frac / 100) & 0xffff;
  return Buffer.concat([be(ip + 0x800000, 3), be(fb, n)]);
}

// ---------- tests ----------

describe('binlog: crc32 and header', () => {
  it('computes the standard CRC-32 check value', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(crc32(Buffer.alloc(0)), 0);
  });

  it('parses a checksummed FDE and switches the parser to its algorithm', () => {
    const p = new BinlogEventParser({ file: 'binlog.000001', checksum: 'none' });
    const ev = p.parse(fde(1));
    assert.equal(ev.type, 'format-description');
    if (ev.type !== 'format-description') return;
    assert.equal(ev.checksum, 'crc32');
    assert.equal(ev.serverVersion, '10.11.19-MariaDB-log');
    assert.equal(ev.headerLength, 19);
    assert.equal(ev.postHeaderLengths[E.TABLE_MAP - 1], 8);
    assert.equal(p.checksum, 'crc32');
    assert.equal(ev.nextPos, 256);
  });

  it('rejects an event whose CRC32 does not match, with FERRY_BINLOG_PROTOCOL', () => {
    const p = parserWithFde();
    const x = event(E.XID, u64(42n), { logPos: 300 });
    x[20] = (x[20] as number) ^ 1;
    assert.throws(() => p.parse(x), (e) => isFerryError(e, 'FERRY_BINLOG_PROTOCOL') && /checksum/.test(e.message));
  });

  it('rejects an FDE with a bad checksum', () => {
    const f = fde(1);
    f[30] = (f[30] as number) ^ 0xff;
    assert.throws(() => new BinlogEventParser().parse(f), (e) => isFerryError(e, 'FERRY_BINLOG_PROTOCOL'));
  });

  it('rejects a truncated event and a size that disagrees with the header', () => {
    const p = parserWithFde();
    assert.throws(() => p.parse(Buffer.alloc(10)), (e) => isFerryError(e, 'FERRY_BINLOG_PROTOCOL'));
    const x = event(E.XID, u64(1n), { logPos: 10 });
    assert.throws(() => p.parse(x, 0, x.length - 1), (e) => isFerryError(e, 'FERRY_BINLOG_PROTOCOL'));
  });

  it('parses events without checksum when the FDE says OFF', () => {
    const p = new BinlogEventParser({ checksum: 'crc32' });
    p.parse(fde(0));
    assert.equal(p.checksum, 'none');
    const ev = p.parse(event(E.XID, u64(7n), { logPos: 500, checksum: false }));
    assert.equal(ev.type === 'xid' && ev.xid, 7n);
  });
});

describe('binlog: rotate, positions, control events', () => {
  it('follows an artificial rotate (timestamp 0, end_log_pos 0) and a real one', () => {
    const p = new BinlogEventParser({ file: '', pos: 4, checksum: 'crc32' });
    const art = p.parse(event(E.ROTATE, Buffer.concat([u64(4n), Buffer.from('binlog.000003')]), { logPos: 0, flags: 0x20 }));
    assert.equal(art.type, 'rotate');
    if (art.type !== 'rotate') return;
    assert.equal(art.artificial, true);
    assert.equal(art.nextFile, 'binlog.000003');
    assert.deepEqual([art.file, art.nextPos], ['binlog.000003', 4]);
    assert.deepEqual([p.file, p.pos], ['binlog.000003', 4]);
    p.parse(fde(1));
    const x = p.parse(event(E.XID, u64(9n), { logPos: 1234 }));
    assert.deepEqual([x.file, x.nextPos], ['binlog.000003', 1234]);
    const r = p.parse(event(E.ROTATE, Buffer.concat([u64(4n), Buffer.from('binlog.000004')]), { logPos: 1300 }));
    assert.equal(r.artificial, false);
    assert.deepEqual([p.file, p.pos], ['binlog.000004', 4]);
  });

  it('keeps the last good position when end_log_pos is 0', () => {
    const p = parserWithFde();
    p.parse(event(E.XID, u64(1n), { logPos: 900 }));
    const q = p.parse(event(E.XID, u64(2n), { logPos: 0 }));
    assert.equal(q.nextPos, 900);
    assert.equal(p.pos, 900);
  });

  it('parses QUERY (schema, SQL) and XID', () => {
    const p = parserWithFde();
    const status = Buffer.from([0x00, 0, 0, 0, 0]); // Q_FLAGS2_CODE + 4 bytes, skipped
    const body = Buffer.concat([u32(77), u32(3), u8(4), u16(0), u16(status.length), status, Buffer.from('shop'), u8(0), Buffer.from('BEGIN')]);
    const q = p.parse(event(E.QUERY, body, { logPos: 400 }));
    assert.equal(q.type, 'query');
    if (q.type !== 'query') return;
    assert.deepEqual([q.schema, q.sql, q.threadId, q.executionTime], ['shop', 'BEGIN', 77, 3]);
    const x = p.parse(event(E.XID, u64(123456789012345n), { logPos: 431 }));
    assert.equal(x.type === 'xid' && x.xid, 123456789012345n);
  });

  it('parses a MariaDB compressed QUERY event', () => {
    const p = parserWithFde();
    const sql = 'INSERT INTO t VALUES ' + '(1),'.repeat(50) + '(2)';
    const z = deflateSync(Buffer.from(sql));
    const comp = Buffer.concat([u8(0x80 | 2), be(Buffer.byteLength(sql), 2), z]);
    const body = Buffer.concat([u32(1), u32(0), u8(1), u16(0), u16(0), Buffer.from('d'), u8(0), comp]);
    const q = p.parse(event(E.MARIADB_QUERY_COMPRESSED, body, { logPos: 999 }));
    assert.equal(q.type === 'query' && q.sql, sql);
  });

  it('parses a MariaDB GTID event (standalone and transactional) and GTID list', () => {
    const p = parserWithFde();
    const g = p.parse(event(E.MARIADB_GTID, Buffer.concat([u64(2027n), u32(0), u8(0x0c), Buffer.alloc(6)]), { logPos: 500, serverId: 3 }));
    assert.equal(g.type, 'mariadb-gtid');
    if (g.type !== 'mariadb-gtid') return;
    assert.deepEqual([g.gtid, g.domainId, g.serverId, g.seqNo, g.standalone, g.startsTransaction], ['0-3-2027', 0, 3, 2027n, false, true]);
    const s = p.parse(event(E.MARIADB_GTID, Buffer.concat([u64(5n), u32(2), u8(0x01 | 0x02), u64(99n)]), { logPos: 600, serverId: 1 }));
    if (s.type !== 'mariadb-gtid') return assert.fail('not a gtid');
    assert.deepEqual([s.gtid, s.standalone, s.startsTransaction, s.commitId], ['2-1-5', true, false, 99n]);
    const big = 2n ** 60n + 3n;
    const l = p.parse(event(E.MARIADB_GTID_LIST, Buffer.concat([u32(2), u32(0), u32(1), u64(10n), u32(1), u32(2), u64(big)]), { logPos: 0 }));
    assert.equal(l.type === 'mariadb-gtid-list' && l.text, `0-1-10,1-2-${big}`);
  });

  it('parses MySQL GTID, anonymous GTID and PREVIOUS_GTIDS', () => {
    const p = parserWithFde();
    const uuid = Buffer.from('3E11FA4771CA11E19E33C80AA9429562', 'hex');
    const g = p.parse(event(E.GTID, Buffer.concat([u8(1), uuid, u64(23n), u8(2), u64(0n), u64(0n)]), { logPos: 700 }));
    assert.equal(g.type === 'gtid' && g.gtid, '3e11fa47-71ca-11e1-9e33-c80aa9429562:23');
    const a = p.parse(event(E.ANONYMOUS_GTID, Buffer.concat([u8(1), Buffer.alloc(16), u64(0n)]), { logPos: 800 }));
    assert.equal(a.type === 'gtid' && a.anonymous, true);
    const set = '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7:9-9223372036854775806';
    const prev = p.parse(event(E.PREVIOUS_GTIDS, encodeGtidSet(set), { logPos: 900 }));
    assert.equal(prev.type === 'previous-gtids' && prev.text, set);
  });

  it('parses heartbeat, annotate rows, stop, and passes unknown events through', () => {
    const p = parserWithFde();
    p.parse(event(E.XID, u64(1n), { logPos: 1000 }));
    const hb = p.parse(event(E.HEARTBEAT, Buffer.from('binlog.000007'), { logPos: 5000 }));
    assert.equal(hb.type, 'heartbeat');
    if (hb.type !== 'heartbeat') return;
    assert.deepEqual([hb.logFile, hb.logPosition, hb.nextPos], ['binlog.000007', 5000, 1000]);
    const an = p.parse(event(E.MARIADB_ANNOTATE_ROWS, Buffer.from('INSERT INTO t VALUES (1)'), { logPos: 1100 }));
    assert.equal(an.type === 'annotate-rows' && an.sql, 'INSERT INTO t VALUES (1)');
    assert.equal(p.parse(event(E.STOP, Buffer.alloc(0), { logPos: 1200 })).type, 'stop');
    const o = p.parse(event(E.INTVAR, Buffer.alloc(9), { logPos: 1300 }));
    assert.deepEqual([o.type, o.code], ['other', E.INTVAR]);
  });

  it('refuses zstd transaction payloads with FERRY_BINLOG_UNSUPPORTED', () => {
    const p = parserWithFde();
    assert.throws(() => p.parse(event(E.TRANSACTION_PAYLOAD, Buffer.alloc(8), { logPos: 10 })), (e) => isFerryError(e, 'FERRY_BINLOG_UNSUPPORTED'));
  });
});

describe('binlog: table map', () => {
  const cols: ColSpec[] = [
    { type: T.LONG, nullable: false },
    { type: T.VARCHAR, meta: u16(400) },
    { type: T.STRING, meta: u8(T.ENUM, 1) },
    { type: T.STRING, meta: u8(T.SET, 1) },
    { type: T.NEWDECIMAL, meta: u8(10, 2) },
    { type: T.BLOB, meta: u8(2) },
    { type: T.STRING, meta: u8(0xde, 0x58) }, // CHAR(200) utf8mb4 = 600 bytes: length bits hidden in the type byte
    { type: T.TIMESTAMP2, meta: u8(3) },
    { type: T.BIT, meta: u8(3, 1) },
  ];

  it('parses column types, per-type metadata and the null bitmap', () => {
    const p = parserWithFde();
    const tm = p.parse(event(E.TABLE_MAP, tableMapBody(42, 'shop', 'orders', cols), { logPos: 300 })) as TableMapEvent;
    assert.equal(tm.type, 'table-map');
    assert.deepEqual([tm.tableId, tm.schema, tm.table, tm.columnCount], [42, 'shop', 'orders', 9]);
    assert.deepEqual([...tm.realTypes], [T.LONG, T.VARCHAR, T.ENUM, T.SET, T.NEWDECIMAL, T.BLOB, T.STRING, T.TIMESTAMP2, T.BIT]);
    assert.deepEqual([...tm.meta1], [0, 400, 1, 1, 10, 2, 600, 3, 11]);
    assert.equal(tm.meta2[4], 2);
    assert.deepEqual(tm.nullable, [false, true, true, true, true, true, true, true, true]);
    assert.deepEqual(tm.metadata, {});
    assert.equal(p.tableMap(42), tm);
  });

  it('parses FULL optional metadata: signedness, charsets, names, enum/set labels, primary key', () => {
    const names = ['id', 'name', 'status', 'tags', 'amount', 'note', 'code', 'ts', 'flags'];
    const tlv = (type: number, v: Buffer): Buffer => Buffer.concat([u8(type), lenenc(v.length), v]);
    const optional = Buffer.concat([
      tlv(1, u8(0b10000000)), // numeric columns: id (unsigned), amount (signed)
      tlv(2, Buffer.concat([lenenc(45), lenenc(1), lenenc(8)])), // default utf8mb4; 2nd character column (note) latin1
      tlv(4, Buffer.concat(names.map(lstr))),
      tlv(5, Buffer.concat([lenenc(2), lstr('a'), lstr('b,c')])),
      tlv(6, Buffer.concat([lenenc(2), lstr('new'), lstr('paid')])),
      tlv(8, Buffer.concat([lenenc(0)])),
      tlv(10, lenenc(45)),
    ]);
    const p = parserWithFde();
    const tm = p.parse(event(E.TABLE_MAP, tableMapBody(43, 'shop', 'orders', cols, optional), { logPos: 300 })) as TableMapEvent;
    const md = tm.metadata;
    assert.deepEqual(md.columnNames, names);
    assert.equal(md.unsigned?.[0], true);
    assert.equal(md.unsigned?.[4], false);
    assert.equal(md.unsigned?.[1], undefined);
    assert.deepEqual(md.collations, [undefined, 45, 45, 45, undefined, 8, 45, undefined, undefined]);
    assert.deepEqual(md.enumValues?.[2], ['new', 'paid']);
    assert.deepEqual(md.setValues?.[3], ['a', 'b,c']);
    assert.deepEqual(md.primaryKey, [0]);
  });
});

describe('binlog: rows decoding', () => {
  function decodeOne(spec: ColSpec, value: Buffer | null, schema?: ColumnSchema, version: 1 | 2 = 2): unknown {
    const p = parserWithFde();
    p.parse(event(E.TABLE_MAP, tableMapBody(7, 'd', 't', [spec]), { logPos: 100 }));
    const code = version === 2 ? E.WRITE_ROWS_V2 : E.WRITE_ROWS_V1;
    const ev = asRows(p.parse(event(code, rowsBody(version, 7, 1, [image([value])]), { logPos: 200 })));
    const out = ev.decodeRows(schema ? [schema] : undefined);
    return out.after?.[0]?.[0];
  }
  const intT = (bits: 8 | 16 | 24 | 32 | 64, unsigned: boolean): ColumnSchema => col('c', { kind: 'int', bits, unsigned });

  it('integers: signed and unsigned, 64-bit as number when safe, else bigint', () => {
    assert.equal(decodeOne({ type: T.TINY }, u8(0xff)), -1);
    assert.equal(decodeOne({ type: T.TINY }, u8(0xff), intT(8, true)), 255);
    assert.equal(decodeOne({ type: T.SHORT }, u16(0x8000)), -32768);
    assert.equal(decodeOne({ type: T.INT24 }, Buffer.from([0xff, 0xff, 0xff]), intT(24, true)), 16777215);
    assert.equal(decodeOne({ type: T.INT24 }, Buffer.from([0xff, 0xff, 0xff])), -1);
    assert.equal(decodeOne({ type: T.LONG }, u32(0xffffffff), intT(32, true)), 4294967295);
    assert.equal(decodeOne({ type: T.LONG }, u32(0x80000000)), -2147483648);
    assert.equal(decodeOne({ type: T.LONGLONG }, u64(2n ** 64n - 1n), intT(64, true)), 18446744073709551615n);
    assert.equal(decodeOne({ type: T.LONGLONG }, u64(2n ** 63n)), -9223372036854775808n);
    assert.equal(decodeOne({ type: T.LONGLONG }, u64(2n ** 53n - 1n)), 9007199254740991);
    assert.equal(decodeOne({ type: T.LONGLONG }, u64(2n ** 53n)), 9007199254740992n);
    assert.equal(decodeOne({ type: T.LONGLONG }, u64(2n ** 64n - 5n)), -5);
    assert.equal(decodeOne({ type: T.LONGLONG }, u64(2n ** 64n - 2n ** 53n + 1n)), -9007199254740991);
    assert.equal(decodeOne({ type: T.LONGLONG }, u64(2n ** 64n - 2n ** 53n)), -9007199254740992n);
  });

  it('DECIMAL: exact text, sign, scale digits kept, (65,30)', () => {
    // Vector from MySQL's decimal2bin comment: 1234567890.1234 as DECIMAL(14,4).
    assert.equal(decodeOne({ type: T.NEWDECIMAL, meta: u8(14, 4) }, Buffer.from('810DFB38D204D2', 'hex')), '1234567890.1234');
    assert.equal(decodeOne({ type: T.NEWDECIMAL, meta: u8(14, 4) }, Buffer.from('7EF204C72DFB2D', 'hex')), '-1234567890.1234');
    const cases: [string, number, number][] = [
      ['-12.340', 10, 3],
      ['0.00', 5, 2],
      ['-0.01', 5, 2],
      ['7', 3, 0],
      ['-999', 3, 0],
      ['12345678901234567890123456789012345.123456789012345678901234567890', 65, 30],
      ['-99999999999999999999999999999999999.999999999999999999999999999999', 65, 30],
      ['0.000000000000000000000000000001', 65, 30],
    ];
    for (const [text, prec, scale] of cases) {
      assert.equal(decodeOne({ type: T.NEWDECIMAL, meta: u8(prec, scale) }, encDecimal(text, prec, scale)), text, text);
    }
  });

  it('FLOAT widens exactly, DOUBLE round-trips', () => {
    const f = Buffer.alloc(4);
    f.writeFloatLE(0.1);
    assert.equal(decodeOne({ type: T.FLOAT, meta: u8(4) }, f), Math.fround(0.1));
    const d = Buffer.alloc(8);
    d.writeDoubleLE(-1.2345678901234567e-300);
    assert.equal(decodeOne({ type: T.DOUBLE, meta: u8(8) }, d), -1.2345678901234567e-300);
  });

  it('BIT → Buffer; YEAR → number; DATE incl. zero dates', () => {
    assert.deepEqual(decodeOne({ type: T.BIT, meta: u8(3, 1) }, u8(0x05, 0xff)), Buffer.from([0x05, 0xff]));
    assert.equal(decodeOne({ type: T.YEAR }, u8(124)), 2024);
    assert.equal(decodeOne({ type: T.YEAR }, u8(0)), 0);
    assert.equal(decodeOne({ type: T.DATE }, date(2024, 2, 29)), '2024-02-29');
    assert.equal(decodeOne({ type: T.DATE }, date(0, 0, 0)), '0000-00-00');
    assert.equal(decodeOne({ type: T.DATE }, date(2024, 0, 0)), '2024-00-00');
  });

  it('DATETIME2 / TIMESTAMP2 with every fsp, TIMESTAMP in UTC', () => {
    const micros = [0, 100000, 120000, 123000, 123400, 123450, 123456];
    const want = ['', '.1', '.12', '.123', '.1234', '.12345', '.123456'];
    for (let fsp = 0; fsp <= 6; fsp++) {
      const m = micros[fsp] as number;
      assert.equal(decodeOne({ type: T.DATETIME2, meta: u8(fsp) }, encDatetime2(2024, 1, 2, 3, 4, 5, m, fsp)), `2024-01-02 03:04:05${want[fsp]}`);
      assert.equal(
        decodeOne({ type: T.TIMESTAMP2, meta: u8(fsp) }, Buffer.concat([be(1709164800, 4), encFrac(m, fsp)])),
        `2024-02-29 00:00:00${want[fsp]}`,
      );
    }
    assert.equal(decodeOne({ type: T.DATETIME2, meta: u8(0) }, encDatetime2(0, 0, 0, 0, 0, 0, 0, 0)), '0000-00-00 00:00:00');
    assert.equal(decodeOne({ type: T.TIMESTAMP2, meta: u8(2) }, Buffer.concat([be(0, 4), u8(0)])), '0000-00-00 00:00:00.00');
    assert.equal(decodeOne({ type: T.TIMESTAMP2, meta: u8(0) }, be(2147483647, 4)), '2038-01-19 03:14:07');
  });

  it('TIME2: negative, fractional, up to 838:59:59', () => {
    assert.equal(decodeOne({ type: T.TIME2, meta: u8(0) }, encTime2(false, 838, 59, 59, 0, 0)), '838:59:59');
    assert.equal(decodeOne({ type: T.TIME2, meta: u8(0) }, encTime2(true, 838, 59, 59, 0, 0)), '-838:59:59');
    assert.equal(decodeOne({ type: T.TIME2, meta: u8(0) }, encTime2(false, 0, 0, 0, 0, 0)), '00:00:00');
    assert.equal(decodeOne({ type: T.TIME2, meta: u8(6) }, encTime2(true, 0, 0, 1, 1, 6)), '-00:00:01.000001');
    assert.equal(decodeOne({ type: T.TIME2, meta: u8(2) }, encTime2(true, 1, 2, 3, 500000, 2)), '-01:02:03.50');
    assert.equal(decodeOne({ type: T.TIME2, meta: u8(4) }, encTime2(true, 12, 0, 0, 123400, 4)), '-12:00:00.1234');
    assert.equal(decodeOne({ type: T.TIME2, meta: u8(1) }, encTime2(false, 10, 11, 12, 900000, 1)), '10:11:12.9');
  });

  it('old TIME, DATETIME and TIMESTAMP', () => {
    const t = Buffer.alloc(3);
    t.writeIntLE(-1234556, 0, 3);
    assert.equal(decodeOne({ type: T.TIME }, t), '-123:45:56');
    const dt = Buffer.alloc(8);
    dt.writeBigUInt64LE(20240102030405n);
    assert.equal(decodeOne({ type: T.DATETIME }, dt), '2024-01-02 03:04:05');
    assert.equal(decodeOne({ type: T.TIMESTAMP }, u32(86400)), '1970-01-02 00:00:00');
  });

  it('strings by charset: utf8mb4, latin1 as Windows-1252, ucs2/utf16/utf32 big-endian, binary', () => {
    const s = (cs: string): ColumnSchema => col('c', { kind: 'string', maxChars: 20, fixed: false, charset: cs, collation: null, lob: false });
    const vs = (b: Buffer): Buffer => Buffer.concat([u8(b.length), b]);
    assert.equal(decodeOne({ type: T.VARCHAR, meta: u16(80) }, vs(Buffer.from('héllo €')), s('utf8mb4')), 'héllo €');
    assert.equal(decodeOne({ type: T.VARCHAR, meta: u16(20) }, vs(Buffer.from([0x80, 0x41, 0xe9, 0x9f, 0x81])), s('latin1')), '€AéŸ\u0081');
    assert.equal(decodeOne({ type: T.VARCHAR, meta: u16(40) }, vs(Buffer.from([0x00, 0x41, 0x20, 0xac])), s('ucs2')), 'A€');
    assert.equal(decodeOne({ type: T.VARCHAR, meta: u16(40) }, vs(Buffer.from([0xd8, 0x3d, 0xde, 0x00])), s('utf16')), '😀');
    assert.equal(decodeOne({ type: T.VARCHAR, meta: u16(80) }, vs(Buffer.from([0, 1, 0xf6, 0x00, 0, 0, 0, 0x41])), s('utf32')), '😀A');
    assert.equal(decodeOne({ type: T.VARCHAR, meta: u16(20) }, vs(Buffer.from('abc')), s('ascii')), 'abc');
    assert.equal(decodeOne({ type: T.VARCHAR, meta: u16(20) }, vs(Buffer.from([0xe0])), s('cp1251')), 'а');
    const bin = col('c', { kind: 'binary', maxBytes: 20, fixed: false, lob: false });
    assert.deepEqual(decodeOne({ type: T.VARCHAR, meta: u16(20) }, vs(Buffer.from([0, 1, 2])), bin), Buffer.from([0, 1, 2]));
    // Without a schema or FULL metadata the charset is unknown: raw bytes, no guessing.
    assert.deepEqual(decodeOne({ type: T.VARCHAR, meta: u16(20) }, vs(Buffer.from('x'))), Buffer.from('x'));
    // VARCHAR longer than 255 bytes has a 2-byte length.
    const long = 'ü'.repeat(200);
    assert.equal(decodeOne({ type: T.VARCHAR, meta: u16(1000) }, Buffer.concat([u16(400), Buffer.from(long)]), s('utf8mb4')), long);
  });

  it('CHAR (STRING real type), BINARY(n) padded back to n bytes, CHAR > 255 bytes', () => {
    const s = col('c', { kind: 'string', maxChars: 10, fixed: true, charset: 'utf8mb4', collation: null, lob: false });
    assert.equal(decodeOne({ type: T.STRING, meta: u8(T.STRING, 40) }, Buffer.concat([u8(2), Buffer.from('ab')]), s), 'ab');
    const bin = col('c', { kind: 'binary', maxBytes: 4, fixed: true, lob: false });
    assert.deepEqual(decodeOne({ type: T.STRING, meta: u8(T.STRING, 4) }, Buffer.concat([u8(1), u8(7)]), bin), Buffer.from([7, 0, 0, 0]));
    const text = 'x'.repeat(300);
    assert.equal(decodeOne({ type: T.STRING, meta: u8(0xde, 0x58) }, Buffer.concat([u16(300), Buffer.from(text)]), s), text);
  });

  it('BLOB/TEXT by length bytes; JSON stored as text (MariaDB)', () => {
    const text = col('c', { kind: 'string', maxChars: null, fixed: false, charset: 'utf8mb4', collation: null, lob: true });
    const blob = col('c', { kind: 'binary', maxBytes: null, fixed: false, lob: true });
    const json = col('c', { kind: 'json' });
    assert.equal(decodeOne({ type: T.BLOB, meta: u8(2) }, Buffer.concat([u16(3), Buffer.from('añ')]), text), 'añ');
    assert.deepEqual(decodeOne({ type: T.BLOB, meta: u8(4) }, Buffer.concat([u32(2), u8(0, 255)]), blob), Buffer.from([0, 255]));
    assert.equal(decodeOne({ type: T.BLOB, meta: u8(4) }, Buffer.concat([u32(8), Buffer.from('{"a": 1}')]), json), '{"a": 1}');
    assert.deepEqual(decodeOne({ type: T.GEOMETRY, meta: u8(4) }, Buffer.concat([u32(3), u8(1, 2, 3)])), Buffer.from([1, 2, 3]));
    // Every length around the four-byte steps of the short copy (≤ 128 bytes) and the view above
    // it, through the generated decoder: equal bytes, and a copy (overwriting the event's buffer
    // afterwards does not change the value).
    for (let n = 0; n <= 140; n++) {
      const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff));
      const p = parserWithFde();
      p.parse(event(E.TABLE_MAP, tableMapBody(7, 'd', 't', [{ type: T.LONG }, { type: T.BLOB, meta: u8(4) }]), { logPos: 100 }));
      const raw = event(E.WRITE_ROWS_V2, rowsBody(2, 7, 2, [image([u32(n), Buffer.concat([u32(n), bytes])])]), { logPos: 200 });
      const rows = asRows(p.parse(raw)).decodeRows([col('id', { kind: 'int', bits: 32, unsigned: false }), blob]).after ?? [];
      assert.deepEqual(rows[0], [n, bytes], `${n} bytes`);
      raw.fill(0xee);
      assert.deepEqual(rows[0], [n, bytes], `${n} bytes, after the event's buffer changed`);
    }
  });

  it('ENUM and SET from schema labels; index 0 is the empty string', () => {
    const e = col('c', { kind: 'enum', values: ['new', 'paid', 'a,b'] });
    const s = col('c', { kind: 'set', values: ['x', 'y', 'z', 'a', 'b', 'c', 'd', 'e', 'nine'] });
    assert.equal(decodeOne({ type: T.STRING, meta: u8(T.ENUM, 1) }, u8(2), e), 'paid');
    assert.equal(decodeOne({ type: T.STRING, meta: u8(T.ENUM, 1) }, u8(3), e), 'a,b');
    assert.equal(decodeOne({ type: T.STRING, meta: u8(T.ENUM, 1) }, u8(0), e), '');
    assert.equal(decodeOne({ type: T.STRING, meta: u8(T.SET, 2) }, u16(0b100000101), s), 'x,z,nine');
    assert.equal(decodeOne({ type: T.STRING, meta: u8(T.SET, 2) }, u16(0), s), '');
    assert.equal(decodeOne({ type: T.STRING, meta: u8(T.ENUM, 2) }, u16(1), e), 'new');
  });

  it('UUID / INET6 / INET4 from their binary forms when the schema says so', () => {
    const raw = Buffer.from('6ccd780cbaba102695645b8c656024db', 'hex');
    const fixed = (n: number): ColSpec => ({ type: T.STRING, meta: u8(T.STRING, n) });
    assert.equal(decodeOne(fixed(16), Buffer.concat([u8(16), raw]), col('c', { kind: 'uuid' })), '6ccd780c-baba-1026-9564-5b8c656024db');
    const v6 = Buffer.from('20010db8000000000000000000000001', 'hex');
    assert.equal(decodeOne(fixed(16), Buffer.concat([u8(16), v6]), col('c', { kind: 'inet6' })), '2001:db8::1');
    const mapped = Buffer.from('00000000000000000000ffff01020304', 'hex');
    assert.equal(decodeOne(fixed(16), Buffer.concat([u8(16), mapped]), col('c', { kind: 'inet6' })), '::ffff:1.2.3.4');
    assert.equal(decodeOne(fixed(4), Buffer.concat([u8(4), u8(10, 0, 0, 1)]), col('c', { kind: 'inet4' })), '10.0.0.1');
  });

  it('rows v1 and v2, nulls, update before/after, delete, columns absent from an image', () => {
    const p = parserWithFde();
    const specs: ColSpec[] = [{ type: T.LONG }, { type: T.VARCHAR, meta: u16(40) }, { type: T.LONGLONG }];
    p.parse(event(E.TABLE_MAP, tableMapBody(9, 'd', 't', specs), { logPos: 100 }));
    const schema = [
      col('id', { kind: 'int', bits: 32, unsigned: false }),
      col('name', { kind: 'string', maxChars: 10, fixed: false, charset: 'utf8mb4', collation: null, lob: false }),
      col('n', { kind: 'int', bits: 64, unsigned: true }),
    ];
    const vs = (s: string): Buffer => Buffer.concat([u8(Buffer.byteLength(s)), Buffer.from(s)]);
    const r1 = image([u32(1), vs('a'), u64(5n)]);
    const r2 = image([u32(2), null, null]);
    for (const [version, code] of [
      [1, E.WRITE_ROWS_V1],
      [2, E.WRITE_ROWS_V2],
    ] as const) {
      const ev = asRows(p.parse(event(code, rowsBody(version, 9, 3, [r1, r2]), { logPos: 200 })));
      assert.equal(ev.kind, 'insert');
      assert.equal(ev.version, version);
      assert.deepEqual(ev.decodeRows(schema), { before: null, after: [[1, 'a', 5], [2, null, null]] });
    }
    const up = asRows(p.parse(event(E.UPDATE_ROWS_V1, rowsBody(1, 9, 3, [r1, r2, r2, r1], true), { logPos: 300 })));
    assert.deepEqual(up.decodeRows(schema), { before: [[1, 'a', 5], [2, null, null]], after: [[2, null, null], [1, 'a', 5]] });
    const del = asRows(p.parse(event(E.DELETE_ROWS_V2, rowsBody(2, 9, 3, [r2]), { logPos: 400 })));
    assert.deepEqual(del.decodeRows(schema), { before: [[2, null, null]], after: null });
    // Partial image (binlog_row_image=MINIMAL): only column 0 present in the before image.
    const partial = Buffer.concat([u48(9), u16(1), lenenc(3), bits(3, (i) => i === 0), bits(3, () => true), image([u32(1)]), r2]);
    const pe = asRows(p.parse(event(E.UPDATE_ROWS_V1, partial, { logPos: 500 })));
    assert.deepEqual(pe.decodeRows(schema), { before: [[1, undefined, undefined]], after: [[2, null, null]] });
    assert.equal(pe.statementEnd, true);
  });

  it('v2 rows with extra data, MariaDB compressed rows', () => {
    const p = parserWithFde();
    p.parse(event(E.TABLE_MAP, tableMapBody(9, 'd', 't', [{ type: T.LONG }]), { logPos: 100 }));
    const extra = Buffer.concat([u48(9), u16(1), u16(2 + 3), u8(0, 1, 0), lenenc(1), bits(1, () => true), image([u32(77)])]);
    assert.deepEqual(asRows(p.parse(event(E.WRITE_ROWS_V2, extra, { logPos: 200 }))).decodeRows().after, [[77]]);
    const rows = Buffer.concat([image([u32(1)]), image([u32(2)])]);
    const z = Buffer.concat([u8(0x80 | 1), u8(rows.length), deflateSync(rows)]);
    const comp = Buffer.concat([u48(9), u16(1), lenenc(1), bits(1, () => true), z]);
    assert.deepEqual(asRows(p.parse(event(E.MARIADB_WRITE_ROWS_COMPRESSED_V1, comp, { logPos: 300 }))).decodeRows().after, [[1], [2]]);
  });

  it('uses FULL metadata (signedness, charset, enum labels) when there is no schema', () => {
    const tlv = (type: number, v: Buffer): Buffer => Buffer.concat([u8(type), lenenc(v.length), v]);
    const specs: ColSpec[] = [{ type: T.TINY }, { type: T.VARCHAR, meta: u16(20) }, { type: T.STRING, meta: u8(T.ENUM, 1) }];
    const optional = Buffer.concat([tlv(1, u8(0x80)), tlv(3, lenenc(8)), tlv(6, Buffer.concat([lenenc(1), lstr('on')]))]);
    const p = parserWithFde();
    p.parse(event(E.TABLE_MAP, tableMapBody(9, 'd', 't', specs, optional), { logPos: 100 }));
    const ev = asRows(p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 9, 3, [image([u8(200), Buffer.from([1, 0x80]), u8(1)])]), { logPos: 200 })));
    assert.deepEqual(ev.decodeRows().after, [[200, '€', 'on']]);
  });

  it('a text or blob length that runs past the event is a truncated rows event, not a short value', () => {
    const p = parserWithFde();
    p.parse(event(E.TABLE_MAP, tableMapBody(9, 'd', 't', [{ type: T.LONG }, { type: T.VARCHAR, meta: u16(300) }, { type: T.BLOB, meta: u8(2) }]), { logPos: 100 }));
    const schema = [col('id', { kind: 'int', bits: 32, unsigned: false }), col('s', { kind: 'string', maxChars: 300, fixed: false, charset: 'utf8mb4', collation: null, lob: false }), col('b', { kind: 'binary', maxBytes: 65535, fixed: false, lob: true })];
    // VARCHAR says 200 bytes, 3 follow.
    const shortText = asRows(p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 9, 3, [image([u32(1), Buffer.concat([u16(200), Buffer.from('abc')]), null])]), { logPos: 200 })));
    assert.throws(() => shortText.decodeRows(schema), (e) => isFerryError(e, 'FERRY_BINLOG_PROTOCOL') && /truncated/.test(e.message));
    // BLOB says 60000 bytes, 2 follow.
    const shortBlob = asRows(p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 9, 3, [image([u32(1), null, Buffer.concat([u16(60000), u8(1, 2)])])]), { logPos: 300 })));
    assert.throws(() => shortBlob.decodeRows(schema), (e) => isFerryError(e, 'FERRY_BINLOG_PROTOCOL') && /truncated/.test(e.message));
    // The same values, complete, decode.
    const ok = asRows(p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 9, 3, [image([u32(1), Buffer.concat([u16(3), Buffer.from('abc')]), Buffer.concat([u16(2), u8(1, 2)])])]), { logPos: 400 })));
    assert.deepEqual(ok.decodeRows(schema).after, [[1, 'abc', Buffer.from([1, 2])]]);
  });

  it('column-present bitmaps over more than 8 columns: full images and partial ones decode independently', () => {
    const n = 11;
    const p = parserWithFde();
    p.parse(event(E.TABLE_MAP, tableMapBody(9, 'd', 't', Array.from({ length: n }, () => ({ type: T.LONG }))), { logPos: 100 }));
    const values = (base: number): Buffer[] => Array.from({ length: n }, (_, i) => u32(base + i));
    const full = asRows(p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 9, n, [image(values(0)), image(values(100))]), { logPos: 200 })));
    const want = (base: number): number[] => Array.from({ length: n }, (_, i) => base + i);
    assert.deepEqual(full.decodeRows().after, [want(0), want(100)]);
    // Before image without column 9 (second byte of the bitmap), after image full.
    const missing = 9;
    const before = image(values(0).filter((_, i) => i !== missing));
    const partial = Buffer.concat([u48(9), u16(1), lenenc(n), bits(n, (i) => i !== missing), bits(n, () => true), before, image(values(200))]);
    const up = asRows(p.parse(event(E.UPDATE_ROWS_V1, partial, { logPos: 300 })));
    const wantBefore: (number | undefined)[] = want(0);
    wantBefore[missing] = undefined;
    assert.deepEqual(up.decodeRows(), { before: [wantBefore], after: [want(200)] });
    // A later full image is unaffected by the partial one.
    const again = asRows(p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 9, n, [image(values(300))]), { logPos: 400 })));
    assert.deepEqual(again.decodeRows().after, [want(300)]);
  });

  it('refuses a schema whose column count differs (FERRY_SCHEMA_MISMATCH) and truncated rows (FERRY_BINLOG_PROTOCOL)', () => {
    const p = parserWithFde();
    p.parse(event(E.TABLE_MAP, tableMapBody(9, 'd', 't', [{ type: T.LONG }, { type: T.LONG }]), { logPos: 100 }));
    const ev = asRows(p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 9, 2, [image([u32(1), u32(2)])]), { logPos: 200 })));
    assert.throws(() => ev.decodeRows([col('a', { kind: 'int', bits: 32, unsigned: false })]), (e) => isFerryError(e, 'FERRY_SCHEMA_MISMATCH'));
    const bad = asRows(p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 9, 2, [image([u32(1), u32(2)]).subarray(0, 6)]), { logPos: 200 })));
    assert.throws(() => bad.decodeRows(), (e) => isFerryError(e, 'FERRY_BINLOG_PROTOCOL'));
    assert.throws(
      () => p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 1234, 2, [image([u32(1), u32(2)])]), { logPos: 200 })),
      (e) => isFerryError(e, 'FERRY_BINLOG_PROTOCOL'),
    );
  });
});

describe('binlog: MySQL binary JSON', () => {
  /** Builds a small (2-byte offset) object or array from already-encoded entries. */
  type J = { t: number; inline?: Buffer; data?: Buffer };
  const jint16 = (v: number): J => {
    const b = Buffer.alloc(2);
    b.writeInt16LE(v);
    return { t: 0x05, inline: b };
  };
  const jlit = (v: 0 | 1 | 2): J => ({ t: 0x04, inline: Buffer.from([v, 0]) });
  const jstr = (s: string): J => ({ t: 0x0c, data: Buffer.concat([u8(Buffer.byteLength(s)), Buffer.from(s)]) });
  const jint64 = (v: bigint): J => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(v);
    return { t: 0x09, data: b };
  };
  const juint64 = (v: bigint): J => ({ t: 0x0a, data: u64(v) });
  const jdouble = (v: number): J => {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    return { t: 0x0b, data: b };
  };
  function small(entries: J[], keys?: string[]): J {
    const n = entries.length;
    const keyBytes = keys ? keys.map((k) => Buffer.from(k)) : [];
    const headerLen = 4 + (keys ? n * 4 : 0) + n * 3;
    let off = headerLen + keyBytes.reduce((a, k) => a + k.length, 0);
    const keyEntries: Buffer[] = [];
    let koff = headerLen;
    for (const k of keyBytes) {
      keyEntries.push(Buffer.concat([u16(koff), u16(k.length)]));
      koff += k.length;
    }
    const valueEntries: Buffer[] = [];
    const datas: Buffer[] = [];
    for (const e of entries) {
      if (e.inline) valueEntries.push(Buffer.concat([u8(e.t), e.inline]));
      else {
        const d = e.data as Buffer;
        valueEntries.push(Buffer.concat([u8(e.t), u16(off)]));
        datas.push(d);
        off += d.length;
      }
    }
    const body = Buffer.concat([...keyEntries, ...valueEntries, ...keyBytes, ...datas]);
    return { t: keys ? 0x00 : 0x02, data: Buffer.concat([u16(n), u16(4 + body.length), body]) };
  }
  const doc = (j: J): Buffer => Buffer.concat([u8(j.t), j.data ?? j.inline ?? Buffer.alloc(0)]);
  const text = (b: Buffer): string => binaryJsonToText(b, 0, b.length);

  it('nested objects and arrays, literals, exact int64/uint64, shortest doubles', () => {
    const arr = small([jlit(1), jlit(0), jint16(-3), jstr('x"y')]);
    const obj = small([jint16(1), arr, jint64(2n ** 60n + 1n), juint64(2n ** 64n - 1n), jdouble(0.1), jdouble(3)], ['a', 'b', 'big', 'max', 'd', 'n']);
    assert.equal(
      text(doc(obj)),
      '{"a": 1, "b": [true, null, -3, "x\\"y"], "big": 1152921504606846977, "max": 18446744073709551615, "d": 0.1, "n": 3.0}',
    );
    assert.equal(text(doc(jlit(2))), 'false');
    assert.equal(text(doc(jstr('plain'))), '"plain"');
    assert.equal(text(Buffer.alloc(0)), 'null');
  });

  it('decimal opaque values print exactly; large containers work', () => {
    const dec = Buffer.concat([u8(246), u8(9), u8(14, 4), Buffer.from('810DFB38D204D2', 'hex')]);
    assert.equal(text(Buffer.concat([u8(0x0f), dec.subarray(0, 2), dec.subarray(2)])), '1234567890.1234');
    // large array [1] with 4-byte offsets and an inlined int32
    const large = Buffer.concat([u8(0x03), u32(1), u32(8 + 5), u8(0x07), u32(123456789)]);
    assert.equal(text(large), '[123456789]');
  });

  it('decodes a JSON column (type 245) inside a rows event', () => {
    const p = parserWithFde();
    p.parse(event(E.TABLE_MAP, tableMapBody(9, 'd', 't', [{ type: T.JSON, meta: u8(4) }]), { logPos: 100 }));
    const d = doc(small([juint64(2n ** 64n - 1n)]));
    const ev = asRows(p.parse(event(E.WRITE_ROWS_V2, rowsBody(2, 9, 1, [image([Buffer.concat([u32(d.length), d])])]), { logPos: 200 })));
    assert.deepEqual(ev.decodeRows().after, [['[18446744073709551615]']]);
  });
});

describe('binlog: dump command packets', () => {
  it('COM_BINLOG_DUMP bytes', () => {
    const b = buildBinlogDump({ file: 'binlog.000002', pos: 1234, serverId: 4242, flags: 2 });
    assert.equal(b.toString('hex'), '12' + 'd2040000' + '0200' + '92100000' + Buffer.from('binlog.000002').toString('hex'));
  });

  it('COM_BINLOG_DUMP_GTID bytes for a GTID set', () => {
    const set = '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7, 00000000-0000-0000-0000-000000000001:10';
    const b = buildBinlogDumpGtid({ gtidSet: set, serverId: 1, flags: 0 });
    const data =
      '0200000000000000' +
      '3e11fa4771ca11e19e33c80aa9429562' +
      '0200000000000000' +
      '0100000000000000' +
      '0600000000000000' +
      '0700000000000000' +
      '0800000000000000' +
      '00000000000000000000000000000001' +
      '0100000000000000' +
      '0a00000000000000' +
      '0b00000000000000';
    const want = '1e' + '0400' + '01000000' + '00000000' + '0400000000000000' + (data.length / 2).toString(16).padStart(2, '0') + '000000' + data;
    assert.equal(b.toString('hex'), want);
    assert.equal(decodeGtidSet(encodeGtidSet(set), 0, data.length / 2), '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,00000000-0000-0000-0000-000000000001:10');
  });

  it('refuses malformed GTID sets with FERRY_POSITION_INVALID', () => {
    assert.throws(() => encodeGtidSet('nope:1'), (e) => isFerryError(e, 'FERRY_POSITION_INVALID'));
    assert.throws(() => encodeGtidSet('3e11fa47-71ca-11e1-9e33-c80aa9429562:5-2'), (e) => isFerryError(e, 'FERRY_POSITION_INVALID'));
    assert.throws(() => encodeGtidSet('3e11fa47-71ca-11e1-9e33-c80aa9429562:tag:1'), (e) => isFerryError(e, 'FERRY_POSITION_INVALID'));
  });
});

it('crc32: the native and the table implementation agree', async () => {
  const { crc32, crc32Tables } = await import('../../src/connectors/mysql/binlog/crc32.js');
  const buf = Buffer.alloc(1000);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 131 + 7) & 0xff;
  // Both sides of the length where crc32 switches from the tables to zlib.
  for (const [s, e] of [[0, 1000], [3, 997], [10, 11], [0, 0], [5, 324], [5, 325], [7, 326]] as const) assert.equal(crc32(buf, s, e), crc32Tables(buf, s, e));
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
});

describe('binlog: compiled decoder for full row images', () => {
  /** One column of each common binlog type (the two tests below add one more of their own). */
  const EVERY_TYPE_SPECS: ColSpec[] = [
    { type: T.TINY },
    { type: T.SHORT },
    { type: T.INT24 },
    { type: T.LONG },
    { type: T.LONGLONG },
    { type: T.FLOAT, meta: u8(4) },
    { type: T.DOUBLE, meta: u8(8) },
    { type: T.NEWDECIMAL, meta: u8(12, 2) },
    { type: T.DATE },
    { type: T.DATETIME2, meta: u8(6) },
    { type: T.VARCHAR, meta: u16(400) },
    { type: T.BLOB, meta: u8(2) },
    { type: T.BLOB, meta: u8(2) },
    { type: T.STRING, meta: u8(T.ENUM, 1) },
    { type: T.YEAR },
  ];
  const everyTypeSchema = (): ReturnType<typeof col>[] => [
    col('a', { kind: 'int', bits: 8, unsigned: false }),
    col('b', { kind: 'int', bits: 16, unsigned: true }),
    col('c', { kind: 'int', bits: 24, unsigned: false }),
    col('d', { kind: 'int', bits: 32, unsigned: true }),
    col('e', { kind: 'int', bits: 64, unsigned: false }),
    col('f', { kind: 'float' }),
    col('g', { kind: 'double' }),
    col('h', { kind: 'decimal', precision: 12, scale: 2, unsigned: false }),
    col('i', { kind: 'date' }),
    col('j', { kind: 'datetime', fsp: 6 }),
    col('k', { kind: 'string', maxChars: 100, fixed: false, charset: 'utf8mb4', collation: null, lob: false }),
    col('l', { kind: 'string', maxChars: null, fixed: false, charset: 'utf8mb4', collation: null, lob: true }),
    col('m', { kind: 'binary', maxBytes: null, fixed: false, lob: true }),
    col('n', { kind: 'enum', values: ['new', 'paid'] }),
    col('o', { kind: 'year' }),
  ];

  /**
   * The every-type table of the key-only and pending-image tests (plus a latin1 VARCHAR), its table
   * map parsed by `p`; `values(k)`: the column bytes of row k (key column 4 is k, column 11 NULL for even k).
   */
  function keyedTable(p: BinlogEventParser): { n: number; schema: ReturnType<typeof everyTypeSchema>; values: (k: number) => (Buffer | null)[] } {
    const specs: ColSpec[] = [...EVERY_TYPE_SPECS, { type: T.VARCHAR, meta: u16(20) }];
    p.parse(event(E.TABLE_MAP, tableMapBody(9, 'd', 't', specs), { logPos: 100 }));
    const schema = [...everyTypeSchema(), col('p', { kind: 'string', maxChars: 20, fixed: false, charset: 'latin1', collation: null, lob: false })];
    const values = (k: number): (Buffer | null)[] => [
      u8(0xfe),
      u16(65535 - k),
      Buffer.from([0xff, 0xff, 0xff]),
      u32(4294967295),
      u64(BigInt(k)),
      Buffer.from(new Float32Array([1.5]).buffer),
      Buffer.from(new Float64Array([-2.25]).buffer),
      encDecimal('-1234.50', 12, 2),
      Buffer.from([(2024 << 9 | 2 << 5 | 29) & 0xff, ((2024 << 9 | 2 << 5 | 29) >> 8) & 0xff, (2024 << 9 | 2 << 5 | 29) >> 16]),
      encDatetime2(2024, 2, 29, 23, 59, 58, 123456, 6),
      Buffer.concat([u16(Buffer.byteLength('žluťoučký')), Buffer.from('žluťoučký')]),
      k % 2 === 0 ? null : Buffer.concat([u16(4), Buffer.from('text')]),
      Buffer.concat([u16(3), u8(0, 1, 255)]),
      u8(2),
      u8(124),
      Buffer.concat([u8(2), Buffer.from('ab')]),
    ];
    return { n: specs.length, schema, values };
  }

  it('full images (compiled decoder) and partial images (per-column path) give the same values for every type', () => {
    const p = parserWithFde();
    const specs: ColSpec[] = [
      ...EVERY_TYPE_SPECS,
      { type: T.STRING, meta: u8(T.STRING, 16) },
    ];
    const n = specs.length;
    p.parse(event(E.TABLE_MAP, tableMapBody(9, 'd', 't', specs), { logPos: 100 }));
    const schema = [
      ...everyTypeSchema(),
      col('p', { kind: 'uuid' }),
    ];
    const uuid = Buffer.from('6ccd780cbaba102695645b8c656024db', 'hex');
    const values: (Buffer | null)[] = [
      u8(0xfe),
      u16(65535),
      Buffer.from([0xff, 0xff, 0xff]),
      u32(4294967295),
      u64(-5n & 0xffffffffffffffffn),
      Buffer.from(new Float32Array([1.5]).buffer),
      Buffer.from(new Float64Array([-2.25]).buffer),
      encDecimal('-1234.50', 12, 2),
      Buffer.from([(2024 << 9 | 2 << 5 | 29) & 0xff, ((2024 << 9 | 2 << 5 | 29) >> 8) & 0xff, (2024 << 9 | 2 << 5 | 29) >> 16]),
      encDatetime2(2024, 2, 29, 23, 59, 58, 123456, 6),
      Buffer.concat([u16(Buffer.byteLength('žluťoučký')), Buffer.from('žluťoučký')]),
      null,
      Buffer.concat([u16(3), u8(0, 1, 255)]),
      u8(2),
      u8(124),
      Buffer.concat([u8(16), uuid]),
    ];
    const want = [-2, 65535, -1, 4294967295, -5, 1.5, -2.25, '-1234.50', '2024-02-29', '2024-02-29 23:59:58.123456', 'žluťoučký', null, Buffer.from([0, 1, 255]), 'paid', 2024, '6ccd780c-baba-1026-9564-5b8c656024db'];
    const full = asRows(p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 9, n, [image(values), image(values)]), { logPos: 200 })));
    assert.deepEqual(full.decodeRows(schema).after, [want, want]);
    // The same values with column 0 absent from the before image: decoded by the per-column path.
    const before = image(values.slice(1));
    const body = Buffer.concat([u48(9), u16(1), lenenc(n), bits(n, (i) => i !== 0), bits(n, () => true), before, image(values)]);
    const up = asRows(p.parse(event(E.UPDATE_ROWS_V1, body, { logPos: 300 })));
    assert.deepEqual(up.decodeRows(schema), { before: [[undefined, ...want.slice(1)]], after: [want] });
    // A truncated full image is a coded error, not a wrong row.
    const cut = asRows(p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 9, n, [image(values).subarray(0, 40)]), { logPos: 400 })));
    assert.throws(() => cut.decodeRows(schema), (e) => isFerryError(e, 'FERRY_BINLOG_PROTOCOL'));
  });

  it('key-only before images: skipped columns of every type leave the key and the after image intact', () => {
    const p = parserWithFde();
    const { n, schema, values } = keyedTable(p);
    const want = (k: number): unknown[] => [-2, 65535 - k, -1, 4294967295, k, 1.5, -2.25, '-1234.50', '2024-02-29', '2024-02-29 23:59:58.123456', 'žluťoučký', k % 2 === 0 ? null : 'text', Buffer.from([0, 1, 255]), 'paid', 2024, 'ab'];
    const keyOnly = (row: unknown[], key: readonly number[]): unknown[] => row.map((v, i) => (key.includes(i) ? v : undefined));
    // Two rows per event, so a wrong skip length would garble the second row's images.
    const upBody = Buffer.concat([u48(9), u16(1), lenenc(n), bits(n, () => true), bits(n, () => true), image(values(1)), image(values(2)), image(values(3)), image(values(4))]);
    const delBody = rowsBody(1, 9, n, [image(values(5)), image(values(6))]);
    for (const key of [[4], [0, 10], [15], [11, 12], ...Array.from({ length: n }, (_, i) => [i])]) {
      const up = asRows(p.parse(event(E.UPDATE_ROWS_V1, upBody, { logPos: 300 })));
      assert.deepEqual(up.decodeRows(schema, { beforeKeyOnly: key }), { before: [keyOnly(want(1), key), keyOnly(want(3), key)], after: [want(2), want(4)] }, `key ${key.join(',')}`);
      const del = asRows(p.parse(event(E.DELETE_ROWS_V1, delBody, { logPos: 400 })));
      assert.deepEqual(del.decodeRows(schema, { beforeKeyOnly: key }), { before: [keyOnly(want(5), key), keyOnly(want(6), key)], after: null }, `key ${key.join(',')}`);
    }
    // Inserts have no before image: the option changes nothing.
    const ins = asRows(p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 9, n, [image(values(7))]), { logPos: 500 })));
    assert.deepEqual(ins.decodeRows(schema, { beforeKeyOnly: [0] }).after, [want(7)]);
    // Without the option the same events decode in full again (the plan keeps both decoders).
    const up = asRows(p.parse(event(E.UPDATE_ROWS_V1, upBody, { logPos: 600 })));
    assert.deepEqual(up.decodeRows(schema), { before: [want(1), want(3)], after: [want(2), want(4)] });
    // A truncated skipped value is still a coded error.
    const cut = asRows(p.parse(event(E.DELETE_ROWS_V1, rowsBody(1, 9, n, [image(values(8)).subarray(0, 60)]), { logPos: 700 })));
    assert.throws(() => cut.decodeRows(schema, { beforeKeyOnly: [0] }), (e) => isFerryError(e, 'FERRY_BINLOG_PROTOCOL'));
  });

  it('pending after images: the key decoded, the full image on each materialize, equal to a full decode', () => {
    const p = parserWithFde();
    const { n, schema, values } = keyedTable(p);
    const keyOnly = (row: unknown[], key: readonly number[]): unknown[] => row.map((v, i) => (key.includes(i) ? v : undefined));
    const upBody = Buffer.concat([u48(9), u16(1), lenenc(n), bits(n, () => true), bits(n, () => true), image(values(1)), image(values(2)), image(values(3)), image(values(4))]);
    const insBody = rowsBody(1, 9, n, [image(values(5)), image(values(6)), image(values(7))]);
    for (const key of [[4], [0, 10], [15], [11, 12]]) {
      const up = asRows(p.parse(event(E.UPDATE_ROWS_V1, upBody, { logPos: 300 })));
      const fullUp = up.decodeRows(schema);
      const lazyUp = up.decodeRows(schema, { beforeKeyOnly: key, afterPending: key });
      assert.deepEqual(lazyUp.before, (fullUp.before ?? []).map((r) => keyOnly(r, key)), `key ${key.join(',')}`);
      assert.equal(lazyUp.after, null);
      assert.equal(lazyUp.afterPending?.length, 2);
      for (let i = 0; i < 2; i++) {
        const pr: PendingRow | undefined = lazyUp.afterPending?.[i];
        assert.deepEqual(pr?.key, key.map((c) => fullUp.after?.[i]?.[c]));
        assert.deepEqual(pr?.materialize(), fullUp.after?.[i]);
        // A new row on every call (nothing cached), the same values.
        assert.notEqual(pr?.materialize(), pr?.materialize());
        assert.deepEqual(pr?.materialize(), fullUp.after?.[i]);
      }
      const ins = asRows(p.parse(event(E.WRITE_ROWS_V1, insBody, { logPos: 400 })));
      const fullIns = ins.decodeRows(schema);
      const lazyIns = ins.decodeRows(schema, { beforeKeyOnly: key, afterPending: key });
      assert.equal(lazyIns.before, null);
      assert.equal(lazyIns.after, null);
      assert.deepEqual(lazyIns.afterPending?.map((r) => r.key), (fullIns.after ?? []).map((r) => key.map((c) => r[c])));
      assert.deepEqual(lazyIns.afterPending?.map((r) => r.materialize()), fullIns.after);
      assert.ok((lazyIns.afterPending?.[0]?.bytes ?? 0) > 0);
    }
    // Deletes have no after image; an update whose key columns differ from the before images'
    // key-only columns, and partial images, are decoded as before (no pending rows).
    const del = asRows(p.parse(event(E.DELETE_ROWS_V1, rowsBody(1, 9, n, [image(values(8))]), { logPos: 500 })));
    assert.equal(del.decodeRows(schema, { beforeKeyOnly: [4], afterPending: [4] }).afterPending, undefined);
    const up = asRows(p.parse(event(E.UPDATE_ROWS_V1, upBody, { logPos: 600 })));
    assert.equal(up.decodeRows(schema, { beforeKeyOnly: [0], afterPending: [4] }).afterPending, undefined);
    const partial = Buffer.concat([u48(9), u16(1), lenenc(n), bits(n, () => true), bits(n, (i) => i !== 1), image(values(1)), image(values(2).filter((_, i) => i !== 1))]);
    const pu = asRows(p.parse(event(E.UPDATE_ROWS_V1, partial, { logPos: 700 })));
    const pimg = pu.decodeRows(schema, { beforeKeyOnly: [4], afterPending: [4] });
    assert.equal(pimg.afterPending, undefined);
    assert.equal(pimg.after?.[0]?.[1], undefined);
    assert.equal(pimg.after?.[0]?.[2], -1);
    // A truncated image is a coded error when the keys are read, before any row is pending.
    const cut = asRows(p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 9, n, [image(values(9)).subarray(0, 60)]), { logPos: 800 })));
    assert.throws(() => cut.decodeRows(schema, { beforeKeyOnly: [4], afterPending: [4] }), (e) => isFerryError(e, 'FERRY_BINLOG_PROTOCOL'));
  });

  it('pending images written as bulk parameters from their bytes: what param() writes for the decoded row', () => {
    const p = parserWithFde();
    const specs: ColSpec[] = [
      { type: T.LONGLONG },
      { type: T.TINY },
      { type: T.SHORT },
      { type: T.INT24 },
      { type: T.LONG },
      { type: T.LONGLONG },
      { type: T.TINY },
      { type: T.FLOAT, meta: u8(4) },
      { type: T.DOUBLE, meta: u8(8) },
      { type: T.NEWDECIMAL, meta: u8(30, 10) },
      { type: T.DATE },
      { type: T.DATETIME2, meta: u8(6) },
      { type: T.TIMESTAMP2, meta: u8(3) },
      { type: T.TIME2, meta: u8(0) },
      { type: T.VARCHAR, meta: u16(400) },
      { type: T.BLOB, meta: u8(2) },
      { type: T.BLOB, meta: u8(3) },
      { type: T.BLOB, meta: u8(2) },
      { type: T.STRING, meta: u8(T.ENUM, 1) },
      { type: T.YEAR },
      { type: T.VARCHAR, meta: u16(20) },
    ];
    const n = specs.length;
    const tm = p.parse(event(E.TABLE_MAP, tableMapBody(9, 'd', 't', specs), { logPos: 100 }));
    assert.equal(tm.type, 'table-map');
    const text = (maxChars: number | null): LogicalType => ({ kind: 'string', maxChars, fixed: false, charset: 'utf8mb4', collation: null, lob: maxChars === null });
    const schema = [
      col('id', { kind: 'int', bits: 64, unsigned: false }),
      col('a', { kind: 'int', bits: 8, unsigned: false }),
      col('b', { kind: 'int', bits: 16, unsigned: true }),
      col('c', { kind: 'int', bits: 24, unsigned: false }),
      col('d', { kind: 'int', bits: 32, unsigned: true }),
      col('e', { kind: 'int', bits: 64, unsigned: true }),
      col('e2', { kind: 'int', bits: 8, unsigned: true }),
      col('f', { kind: 'float' }),
      col('g', { kind: 'double' }),
      col('h', { kind: 'decimal', precision: 30, scale: 10, unsigned: false }),
      col('i', { kind: 'date' }),
      col('j', { kind: 'datetime', fsp: 6 }),
      col('k', { kind: 'timestamp', fsp: 3 }),
      col('l', { kind: 'time', fsp: 0 }),
      col('m', text(100)),
      col('n', text(null)),
      col('o', text(null)),
      col('q', { kind: 'binary', maxBytes: null, fixed: false, lob: true }),
      col('r', { kind: 'enum', values: ['new', 'paid', 'žluťoučký'] }),
      col('s', { kind: 'year' }),
      col('t', { kind: 'string', maxChars: 20, fixed: false, charset: 'latin1', collation: null, lob: false }),
    ];
    // The sink's kinds (sink.ts bulkKindOf): integers and the year as 8 bytes, floats as doubles, BLOB as bytes, the rest as text.
    const kinds = Uint8Array.from([1, 1, 1, 1, 1, 2, 1, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 4, 5, 1, 5]);
    const ENUM_COL = 18;
    const values = (k: number): (Buffer | null)[] => [
      u64(BigInt(k) * -1000n & 0xffffffffffffffffn),
      u8(k % 2 === 0 ? 0x80 : 0x7f),
      u16(65535 - k),
      Buffer.from([0x00, 0x00, k % 2 === 0 ? 0x80 : 0x7f]),
      u32(4294967295 - k),
      u64(18446744073709551615n - BigInt(k)),
      u8(200 + k),
      Buffer.from(new Float32Array([k + 0.25]).buffer),
      Buffer.from(new Float64Array([-k / 3]).buffer),
      encDecimal(k % 2 === 0 ? '-12345678901234567890.0123456789' : '0.5', 30, 10),
      k === 3 ? date(0, 0, 0) : date(2024, 2, 29),
      encDatetime2(2024, 2, 29, 23, 59, 58, 123456 + k, 6),
      Buffer.concat([be(1709164800 + k, 4), encFrac(123000, 3)]),
      encTime2(k % 2 === 0, 838, 59, 59, 0, 0),
      // 21 (k = 1) and 111 bytes (k = 3): the JS check, four ASCII bytes a step where it can.
      k === 2 ? null : str(2, Buffer.from(`žluťoučký kůň ${k}${'x'.repeat(45 * (k - 1))}`)),
      str(2, Buffer.from('a'.repeat(300 * k))),
      str(3, Buffer.from('€'.repeat(30000 * k))),
      str(2, Buffer.from(Array.from({ length: 40 * k }, (_, i) => (i * 7 + k) & 0xff))),
      u8(k === 3 ? 0 : k === 2 ? 3 : 1),
      u8(k === 1 ? 0 : 124),
      str(1, Buffer.from([0x41, 0xe9, 0x80 + k])),
    ];
    const pendingOf = (images: Buffer[]): PendingImage[] => {
      const ev = asRows(p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 9, n, images), { logPos: 200 })));
      return (ev.decodeRows(schema, { afterPending: [0] }).afterPending ?? []) as PendingImage[];
    };
    /** The parameters of a bulk packet's rows: null, or the value's bytes (length prefixes aside). */
    const params = (sb: MySqlStatementBuffer): (string | null)[] => {
      const b = sb.packet();
      let o = STATEMENT_HEADER_BYTES + 6 + 2 * kinds.length;
      const out: (string | null)[] = [];
      while (o < b.length) {
        for (const kind of kinds) {
          const ind = b[o++] as number;
          if (ind === 1) {
            out.push(null);
            continue;
          }
          assert.equal(ind, 0);
          let len = 8;
          if (kind === 4 || kind === 5) {
            const f = b[o++] as number;
            if (f < 251) len = f;
            else if (f === 0xfc) (len = b.readUInt16LE(o)), (o += 2);
            else if (f === 0xfd) (len = b.readUIntLE(o, 3)), (o += 3);
            else (len = b.readUInt32LE(o)), (o += 8);
          }
          out.push(b.toString('hex', o, o + len));
          o += len;
        }
      }
      assert.equal(o, b.length);
      return out;
    };
    const pending = pendingOf([1, 2, 3].map((k) => image(values(k))));
    assert.equal(pending.length, 3);
    const writer = pendingBulkWriter((pending[0] as PendingImage).plan, kinds, [ENUM_COL]);
    assert.ok(writer !== null);
    const fromBytes = new MySqlStatementBuffer(64).bulk(1, kinds);
    const decoded = new MySqlStatementBuffer(64).bulk(1, kinds);
    const zeros: boolean[] = [];
    for (const img of pending) {
      assert.ok(writer.write(img, fromBytes));
      zeros.push(writer.enumZero);
      const row = img.materialize();
      for (let j = 0; j < n; j++) assert.ok(decoded.param(row[j] as Value, kinds[j] as number), `column ${j}`);
    }
    assert.deepEqual(params(fromBytes), params(decoded));
    // ENUM index 0 ('', which strict mode refuses) is reported for the row that has it.
    assert.deepEqual(zeros, [false, false, true]);

    // Text that is not valid UTF-8 (decoded, it would hold U+FFFD): refused, nothing written.
    const bad = values(1);
    bad[14] = str(2, Buffer.from([0x61, 0xc3, 0x28]));
    const [badImg] = pendingOf([image(bad)]);
    const before = fromBytes.mark();
    assert.equal(writer.write(badImg as PendingImage, fromBytes), false);
    assert.equal(fromBytes.mark(), before);
    // The same after 100 ASCII bytes the JS check reads four at a time.
    const bad1 = values(1);
    bad1[14] = str(2, Buffer.concat([Buffer.from('a'.repeat(100)), u8(0xe0, 0x80, 0x80), Buffer.from('abcd')]));
    const [badImg1] = pendingOf([image(bad1)]);
    assert.equal(writer.write(badImg1 as PendingImage, fromBytes), false);
    assert.equal(fromBytes.mark(), before);
    // The same past the JS check's length (isUtf8): a surrogate after 300 ASCII bytes.
    const bad2 = values(1);
    bad2[15] = str(2, Buffer.concat([Buffer.from('a'.repeat(300)), u8(0xed, 0xb0, 0x80)]));
    const [badImg2] = pendingOf([image(bad2)]);
    assert.equal(writer.write(badImg2 as PendingImage, fromBytes), false);
    assert.equal(fromBytes.mark(), before);
    // A truncated image: refused, nothing written (materialize() reports it as the coded error).
    const cutImg = new PendingImage(pending[0]?.key ?? [], (pending[0] as PendingImage).buf, (pending[0] as PendingImage).start, (pending[0] as PendingImage).end - 2, (pending[0] as PendingImage).plan, tm as TableMapEvent);
    assert.equal(writer.write(cutImg, fromBytes), false);
    assert.equal(fromBytes.mark(), before);
    assert.throws(() => cutImg.materialize(), (e) => isFerryError(e, 'FERRY_BINLOG_PROTOCOL'));

    // A column whose kind is not its natural one (BIGINT UNSIGNED as signed) goes through param:
    // a value it refuses refuses the row, as param would have.
    const signedKinds = Uint8Array.from(kinds, (k, i) => (i === 5 ? 1 : k));
    const w2 = pendingBulkWriter((pending[0] as PendingImage).plan, signedKinds, []);
    assert.ok(w2 !== null && w2 !== writer);
    const sb2 = new MySqlStatementBuffer(64).bulk(1, signedKinds);
    assert.equal(w2.write(pending[0] as PendingImage, sb2), false);
    assert.equal(sb2.mark(), STATEMENT_HEADER_BYTES + 6 + 2 * kinds.length);
    // Writers are per plan and signature.
    assert.equal(pendingBulkWriter((pending[0] as PendingImage).plan, kinds, [ENUM_COL]), writer);
    assert.equal(pendingBulkWriter((pending[0] as PendingImage).plan, kinds.subarray(1), []), null);
  });

  it('pending images written as COPY binary fields from their bytes: the stream their decoded values give', () => {
    const p = parserWithFde();
    const specs: ColSpec[] = [
      { type: T.LONGLONG },
      { type: T.TINY },
      { type: T.SHORT },
      { type: T.INT24 },
      { type: T.LONG },
      { type: T.LONG },
      { type: T.DOUBLE, meta: u8(8) },
      { type: T.NEWDECIMAL, meta: u8(30, 10) },
      { type: T.DATE },
      { type: T.DATETIME2, meta: u8(6) },
      { type: T.TIMESTAMP2, meta: u8(3) },
      { type: T.TIME2, meta: u8(0) },
      { type: T.VARCHAR, meta: u16(400) },
      { type: T.BLOB, meta: u8(3) },
      { type: T.BLOB, meta: u8(2) },
      { type: T.BLOB, meta: u8(2) },
      { type: T.STRING, meta: u8(T.ENUM, 1) },
    ];
    const n = specs.length;
    p.parse(event(E.TABLE_MAP, tableMapBody(9, 'd', 't', specs), { logPos: 100 }));
    const text = (maxChars: number | null): LogicalType => ({ kind: 'string', maxChars, fixed: false, charset: 'utf8mb4', collation: null, lob: maxChars === null });
    const schema = [
      col('id', { kind: 'int', bits: 64, unsigned: false }),
      col('a', { kind: 'int', bits: 8, unsigned: false }),
      col('b', { kind: 'int', bits: 16, unsigned: true }),
      col('c', { kind: 'int', bits: 24, unsigned: false }),
      col('d', { kind: 'int', bits: 32, unsigned: false }),
      col('e', { kind: 'int', bits: 32, unsigned: true }),
      col('g', { kind: 'double' }),
      col('h', { kind: 'decimal', precision: 30, scale: 10, unsigned: false }),
      col('i', { kind: 'date' }),
      col('j', { kind: 'datetime', fsp: 6 }),
      col('k', { kind: 'timestamp', fsp: 3 }),
      col('l', { kind: 'time', fsp: 0 }),
      col('m', text(100)),
      col('n', text(null)),
      col('o', { kind: 'json' }),
      col('q', { kind: 'binary', maxBytes: null, fixed: false, lob: true }),
      col('r', { kind: 'enum', values: ['new', 'paid', 'žluťoučký'] }),
    ];
    const values = (k: number): (Buffer | null)[] => [
      u64(BigInt(k) * -1000n & 0xffffffffffffffffn),
      u8(k % 2 === 0 ? 0x80 : 0x7f),
      u16(65535 - k),
      Buffer.from([0x00, 0x00, k % 2 === 0 ? 0x80 : 0x7f]),
      u32((k % 2 === 0 ? -5 - k : 5 + k) >>> 0),
      u32(4294967295 - k),
      Buffer.from(new Float64Array([-k / 3]).buffer),
      encDecimal(k % 2 === 0 ? '-12345678901234567890.0123456789' : '0.5', 30, 10),
      date(2024, 2, 29 - k),
      encDatetime2(2024, 2, 29, 23, 59, 58, 123456 + k, 6),
      Buffer.concat([be(1709164800 + k, 4), encFrac(123000, 3)]),
      encTime2(k % 2 === 0, 838, 59, 59, 0, 0),
      k === 2 ? null : str(2, Buffer.from(`žluťoučký kůň ${k}`)),
      str(3, Buffer.from('€'.repeat(30000 * k))),
      str(2, Buffer.from(JSON.stringify({ k, s: 'ž'.repeat(k * 40), q: 'a"b' }))),
      str(2, Buffer.from(Array.from({ length: 40 * k }, (_, i) => (i * 7 + k) & 0xff))),
      u8(k === 3 ? 0 : k === 2 ? 3 : 1),
    ];
    const rowsEvent = (images: Buffer[]): RowsEvent => asRows(p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 9, n, images), { logPos: 200 })));
    // Rows the text path changes or counts: U+0000 in text, \u0000 in JSON, zero dates, invalid UTF-8.
    const special = [
      values(4).map((v, i) => (i === 12 ? str(2, Buffer.from('a\0b')) : v)),
      values(5).map((v, i) => (i === 14 ? str(2, Buffer.from('{"a": "x\\u0000y"}')) : v)),
      values(6).map((v, i) => (i === 8 ? date(0, 0, 0) : v)),
      values(7).map((v, i) => (i === 9 ? encDatetime2(2024, 0, 0, 1, 2, 3, 0, 6) : v)),
      values(8).map((v, i) => (i === 13 ? str(3, Buffer.from([0x61, 0xc3, 0x28])) : v)),
      values(9).map((v, i) => (i === 14 ? str(2, Buffer.from([0x7b, 0xff, 0x7d])) : v)),
      // The same in values long enough for the native checks (a view's indexOf, a Buffer's, isUtf8).
      values(10).map((v, i) => (i === 12 ? str(2, Buffer.from(`${'x'.repeat(200)}\0`)) : v)),
      values(11).map((v, i) => (i === 13 ? str(3, Buffer.from(`${'y'.repeat(1000)}\0`)) : v)),
      values(12).map((v, i) => (i === 14 ? str(2, Buffer.from(`{"a": "${'z'.repeat(200)}\\u0000"}`)) : v)),
      values(13).map((v, i) => (i === 13 ? str(3, Buffer.concat([Buffer.from('w'.repeat(1000)), u8(0xed, 0xa0, 0x80)])) : v)),
      values(14).map((v, i) => (i === 12 ? str(2, Buffer.concat([Buffer.from('v'.repeat(200)), u8(0xc0, 0x80)])) : v)),
      // And in values the JS check reads four ASCII bytes a step (up to SHORT_VALUE_BYTES).
      values(15).map((v, i) => (i === 12 ? str(2, Buffer.from(`${'x'.repeat(101)}\0xyz`)) : i === 13 ? str(3, Buffer.from('€')) : v)),
      values(16).map((v, i) => (i === 14 ? str(2, Buffer.from(`{"a": "${'z'.repeat(90)}\\u0000"}`)) : i === 13 ? str(3, Buffer.from('€')) : v)),
      values(17).map((v, i) => (i === 12 ? str(2, Buffer.concat([Buffer.from('v'.repeat(100)), u8(0xc0, 0x80), Buffer.from('abc')])) : i === 13 ? str(3, Buffer.from('€')) : v)),
    ];
    const images = [...[1, 2, 3].map((k) => image(values(k))), ...special.map((v) => image(v))];
    const pending = (rowsEvent(images).decodeRows(schema, { afterPending: [0] }).afterPending ?? []) as PendingImage[];
    const decoded = rowsEvent(images).decodeRows(schema).after ?? [];
    assert.equal(pending.length, 17);
    const writers = pendingCopyWriters(schema);
    const w = writers(pending[0] as PendingImage);
    assert.ok(w !== null, 'a writer for every column type of the table');
    // The plain rows are written from bytes, the special ones refused.
    const b = Buffer.alloc(1 << 20);
    const dv = new DataView(b.buffer);
    assert.deepEqual(pending.map((r) => w.write(r, b, dv, 0) >= 0), [true, true, true, ...special.map(() => false)]);
    for (const policy of ['null', '-infinity'] as const) {
      const enc = copyBinaryValuesEncoder(schema, policy, [0], 4096, writers);
      const present = schema.map((_, i) => i);
      const statsA = { nulCharsStripped: 0, zeroDatesReplaced: 0 };
      const statsB = { nulCharsStripped: 0, zeroDatesReplaced: 0 };
      const fromBytes = enc.encode(pending, present, statsA);
      const fromValues = enc.encode(decoded, present, statsB);
      assert.ok(fromBytes !== null && fromValues !== null);
      assert.ok(Buffer.concat(fromBytes).equals(Buffer.concat(fromValues)), `policy ${policy}: the streams differ`);
      assert.deepEqual(statsA, statsB);
      // U+0000 in text and \u0000 in JSON are both counted as removed NULs.
      assert.deepEqual(statsA, { nulCharsStripped: 7, zeroDatesReplaced: 2 });
      // Only the plain rows: the same stream again.
      const a = enc.encode(pending.slice(0, 3), present, statsA);
      const v = enc.encode(decoded.slice(0, 3), present, statsB);
      assert.ok(a !== null && v !== null && Buffer.concat(a).equals(Buffer.concat(v)));
    }
    // DATETIME2 is written without its text: calendar edges, fractions of every width (the text
    // keeps fsp digits of what is stored), and dates the calendar lacks (the stream goes as text).
    p.parse(event(E.TABLE_MAP, tableMapBody(11, 'd', 'w', [{ type: T.LONGLONG }, { type: T.DATETIME2, meta: u8(5) }, { type: T.DATETIME2, meta: u8(1) }, { type: T.DATETIME2, meta: u8(0) }]), { logPos: 500 }));
    const wschema = [col('id', { kind: 'int', bits: 64, unsigned: false }), col('a', { kind: 'datetime', fsp: 5 }), col('b', { kind: 'datetime', fsp: 1 }), col('c', { kind: 'datetime', fsp: 0 })];
    const dt = (y: number, mo: number, d: number, h: number, mi: number, sec: number, frac: Buffer): Buffer => Buffer.concat([encDatetime2(y, mo, d, h, mi, sec, 0, 0), frac]);
    // Variants of the third row: plain; a fraction past 999999 (corrupt: its text keeps the first
    // digits); February 30th; hour 24 (the last two have no timestamp: text either way).
    const third = [
      dt(2023, 2, 28, 1, 2, 3, Buffer.from([0, 0, 7])),
      dt(2023, 2, 28, 1, 2, 3, Buffer.from([0x0f, 0x42, 0x41])),
      dt(2023, 2, 30, 1, 2, 3, Buffer.from([0, 0, 7])),
      dt(2023, 2, 28, 24, 2, 3, Buffer.from([0, 0, 7])),
    ];
    const wimages = (k: number): Buffer[] => [
      image([u64(1n), dt(9999, 12, 31, 23, 59, 59, Buffer.from([0x01, 0xe2, 0x3f])), dt(1, 1, 1, 0, 0, 0, u8(99)), dt(2000, 1, 1, 0, 0, 0, Buffer.alloc(0))]),
      image([u64(2n), dt(2024, 2, 29, 12, 0, 1, Buffer.from([0x01, 0xe2, 0x40])), dt(1969, 12, 31, 23, 59, 59, u8(45)), dt(2024, 0, 0, 0, 0, 0, Buffer.alloc(0))]),
      image([u64(3n), third[k] as Buffer, dt(1900, 3, 1, 1, 2, 3, u8(0)), null]),
    ];
    for (let k = 0; k < third.length; k++) {
      const feb30 = k >= 2;
      const wev = (): RowsEvent => asRows(p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 11, 4, wimages(k)), { logPos: 600 })));
      const wpending = (wev().decodeRows(wschema, { afterPending: [0] }).afterPending ?? []) as PendingImage[];
      const wdecoded = wev().decodeRows(wschema).after ?? [];
      const wwriters = pendingCopyWriters(wschema);
      assert.ok(wwriters(wpending[0] as PendingImage) !== null);
      const enc = copyBinaryValuesEncoder(wschema, 'null', [0], 4096, wwriters);
      const sA = { nulCharsStripped: 0, zeroDatesReplaced: 0 };
      const sB = { nulCharsStripped: 0, zeroDatesReplaced: 0 };
      const a = enc.encode(wpending, [0, 1, 2, 3], sA);
      const v = enc.encode(wdecoded, [0, 1, 2, 3], sB);
      if (feb30) assert.deepEqual([a, v], [null, null], `variant ${k}: a value without a timestamp sends the rows as text either way`);
      else assert.ok(a !== null && v !== null && Buffer.concat(a).equals(Buffer.concat(v)) && sA.zeroDatesReplaced === 1 && sB.zeroDatesReplaced === 1);
    }
    // A table with a column type it does not write (FLOAT, kept in text by PostgreSQL too here: YEAR) has none.
    p.parse(event(E.TABLE_MAP, tableMapBody(10, 'd', 'u', [{ type: T.LONGLONG }, { type: T.YEAR }]), { logPos: 300 }));
    const yschema = [col('id', { kind: 'int', bits: 64, unsigned: false }), col('y', { kind: 'year' })];
    const yev = asRows(p.parse(event(E.WRITE_ROWS_V1, rowsBody(1, 10, 2, [image([u64(1n), u8(124)])]), { logPos: 400 })));
    const [ypending] = (yev.decodeRows(yschema, { afterPending: [0] }).afterPending ?? []) as PendingImage[];
    assert.equal(pendingCopyWriters(yschema)(ypending as PendingImage), null);
  });
});
