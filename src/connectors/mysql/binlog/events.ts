import { inflateSync } from 'node:zlib';
import { FerryError } from '../../../core/errors.js';
import { ColumnType, EventCode, HEADER_LEN, LOG_EVENT_ARTIFICIAL_F, MariadbGtidFlag } from './constants.js';
import { crc32 } from './crc32.js';
import { Cursor } from './cursor.js';
import { createRowsEvent } from './rows.js';
import type { BinlogEvent, EventBase, MariadbGtid, TableMapEvent, TableMapMetadata } from './types.js';

export interface EventHeader {
  timestamp: number;
  code: number;
  serverId: number;
  eventSize: number;
  logPos: number;
  flags: number;
}

/** Unsigned 32-bit little-endian at `p` (the caller has checked the bounds). */
function u32At(buf: Buffer, p: number): number {
  return ((buf[p] as number) | ((buf[p + 1] as number) << 8) | ((buf[p + 2] as number) << 16)) + (buf[p + 3] as number) * 16777216;
}

/** Reads the 19-byte v4 common header at `start`. */
export function readHeader(buf: Buffer, start: number): EventHeader {
  return {
    timestamp: buf.readUInt32LE(start),
    code: buf[start + 4] as number,
    serverId: buf.readUInt32LE(start + 5),
    eventSize: buf.readUInt32LE(start + 9),
    logPos: buf.readUInt32LE(start + 13),
    flags: buf.readUInt16LE(start + 17),
  };
}

export type ChecksumAlg = 'none' | 'crc32';

/** The parsed content of a Table_map, without the header fields of one occurrence. */
type TableMapParts = Omit<TableMapEvent, keyof EventBase | 'type'>;

export interface EventParserOptions {
  /** File of the first event (the dump's start file; '' when starting by GTID until the first Rotate). */
  file?: string;
  pos?: number;
  /**
   * Checksum of events before the first Format_description (the artificial Rotate): what the
   * server announced in `@@global.binlog_checksum`. Later events follow each file's FDE.
   */
  checksum?: ChecksumAlg;
  /** Verify CRC32 checksums (default true); when false they are only stripped. */
  verifyChecksum?: boolean;
}

function protocol(msg: string, details?: Record<string, unknown>): FerryError {
  return new FerryError('FERRY_BINLOG_PROTOCOL', msg, details ? { details } : {});
}

function unsupported(msg: string, fix: string): FerryError {
  return new FerryError('FERRY_BINLOG_UNSUPPORTED', msg, { fix });
}

/** MariaDB compressed payload: 0x80 | alg << 4 | lenlen, then the uncompressed length big-endian, then zlib. */
export function uncompressMariadb(buf: Buffer, start: number, end: number): Buffer {
  const b0 = buf[start] as number;
  if ((b0 & 0x80) === 0 || ((b0 & 0x70) >> 4) !== 0) throw protocol('unknown MariaDB compression header');
  const lenlen = b0 & 0x07;
  if (lenlen < 1 || lenlen > 4) throw protocol('bad MariaDB compressed length');
  const len = buf.readUIntBE(start + 1, lenlen);
  const out = inflateSync(buf.subarray(start + 1 + lenlen, end));
  if (out.length !== len) throw protocol(`MariaDB compressed event inflates to ${out.length} bytes, header says ${len}`);
  return out;
}

/**
 * Turns raw binlog events (one per call, header included) into typed events, keeping the
 * state the format needs: checksum algorithm and post-header lengths from the last
 * Format_description, the Table_map of each table id, and the file/position.
 *
 * Position rule: after an event, the position is its end_log_pos when non-zero, else it is
 * left unchanged (MariaDB and MySQL send end_log_pos=0 on artificial events such as the
 * dump-start Rotate and FDE, and MariaDB in some other cases); a Rotate sets file and position.
 */
export class BinlogEventParser {
  file: string;
  pos: number;
  checksum: ChecksumAlg;
  readonly verifyChecksum: boolean;
  private postHeaderLengths: Uint8Array | null = null;
  private readonly tables = new Map<number, TableMapEvent>();
  /** Raw body and parsed form of the last Table_map per table id (see the TABLE_MAP case). */
  private readonly tableMapCache = new Map<number, { body: Buffer; tm: TableMapEvent }>();

  constructor(opts: EventParserOptions = {}) {
    this.file = opts.file ?? '';
    this.pos = opts.pos ?? 4;
    this.checksum = opts.checksum ?? 'crc32';
    this.verifyChecksum = opts.verifyChecksum ?? true;
  }

  /** Post-header length of an event type from the current FDE, or the v4 default. */
  postHeaderLength(code: number, dflt: number): number {
    const v = this.postHeaderLengths?.[code - 1];
    return v === undefined ? dflt : v;
  }

  /** The Table_map in force for a table id (valid until the next Rotate). */
  tableMap(tableId: number): TableMapEvent | undefined {
    return this.tables.get(tableId);
  }

  /** Parses one event occupying exactly `buf[start, end)`. */
  parse(buf: Buffer, start = 0, end = buf.length): BinlogEvent {
    if (end - start < HEADER_LEN) throw protocol(`truncated event: ${end - start} bytes, fewer than the 19-byte header`);
    // The header goes into one reused object: no per-event header/base objects and no object
    // spreads on the hot path (they were a large share of the garbage of a busy stream).
    const h = this.header;
    h.timestamp = u32At(buf, start);
    h.code = buf[start + 4] as number;
    h.serverId = u32At(buf, start + 5);
    h.eventSize = u32At(buf, start + 9);
    h.logPos = u32At(buf, start + 13);
    h.flags = (buf[start + 17] as number) | ((buf[start + 18] as number) << 8);
    if (h.eventSize !== end - start) {
      throw protocol(`event size ${h.eventSize} in the header does not match the ${end - start} bytes received`, {
        code: h.code,
        file: this.file,
        pos: this.pos,
      });
    }
    let bodyEnd = end;
    if (h.code === EventCode.FORMAT_DESCRIPTION) {
      // handled in parseFde (its checksum algorithm is inside it)
    } else if (this.checksum === 'crc32') {
      bodyEnd = end - 4;
      if (bodyEnd < start + HEADER_LEN) throw protocol('truncated event: no room for its checksum');
      if (this.verifyChecksum) this.verifyCrc(buf, start, end, h);
    }
    const ev = this.parseBody(buf, start + HEADER_LEN, bodyEnd, end, h);
    if (ev.type !== 'rotate' && ev.type !== 'heartbeat') this.pos = ev.nextPos;
    return ev;
  }

  /** The current event's header (valid during parse() only). */
  private readonly header: EventHeader = { timestamp: 0, code: 0, serverId: 0, eventSize: 0, logPos: 0, flags: 0 };

  /** Position after the event being parsed: its end_log_pos, or the last known position when 0. */
  nextPosOf(h: EventHeader): number {
    return h.logPos !== 0 ? h.logPos : this.pos;
  }

  /** The common fields of the event being parsed (for events that are not on the hot path). */
  baseOf(h: EventHeader): EventBase {
    return {
      code: h.code,
      timestamp: h.timestamp,
      serverId: h.serverId,
      file: this.file,
      nextPos: this.nextPosOf(h),
      logPos: h.logPos,
      artificial: (h.flags & LOG_EVENT_ARTIFICIAL_F) !== 0,
    };
  }

  private verifyCrc(buf: Buffer, start: number, end: number, h: EventHeader): void {
    const want = buf.readUInt32LE(end - 4);
    const got = crc32(buf, start, end - 4);
    if (want !== got) {
      throw protocol(`binlog event checksum mismatch (type ${h.code}, end_log_pos ${h.logPos} in ${this.file})`, {
        code: h.code,
        file: this.file,
        logPos: h.logPos,
      });
    }
  }

  private parseBody(buf: Buffer, b: number, bodyEnd: number, end: number, h: EventHeader): BinlogEvent {
    // Hot events (Table_map, rows, XID, MariaDB GTID) are built field by field; the others from `base`.
    switch (h.code) {
      case EventCode.FORMAT_DESCRIPTION:
        return this.parseFde(buf, b, end, h, this.baseOf(h));
      case EventCode.ROTATE: {
        const base = this.baseOf(h);
        const c = new Cursor(buf, b, bodyEnd, 'Rotate event');
        const position = Number(c.u64());
        const nextFile = c.str(c.remaining);
        this.file = nextFile;
        this.pos = position;
        // Table ids are only meaningful within one binlog file.
        this.tables.clear();
        this.tableMapCache.clear();
        return { ...base, type: 'rotate', file: nextFile, nextPos: position, nextFile, position };
      }
      case EventCode.QUERY:
      case EventCode.MARIADB_QUERY_COMPRESSED: {
        const base = this.baseOf(h);
        const c = new Cursor(buf, b, bodyEnd, 'Query event');
        const ph = this.postHeaderLength(EventCode.QUERY, 13);
        const threadId = c.u32();
        const executionTime = c.u32();
        const schemaLen = c.u8();
        const errorCode = c.u16();
        const statusLen = ph >= 13 ? c.u16() : 0;
        c.pos = b + ph;
        c.skip(statusLen);
        const schema = c.str(schemaLen);
        c.skip(1);
        const sql =
          h.code === EventCode.MARIADB_QUERY_COMPRESSED
            ? uncompressMariadb(buf, c.pos, bodyEnd).toString('utf8')
            : c.str(c.remaining);
        return { ...base, type: 'query', schema, sql, threadId, executionTime, errorCode };
      }
      case EventCode.XID: {
        if (bodyEnd - b < 8) throw protocol('truncated Xid event');
        return {
          type: 'xid',
          code: h.code,
          timestamp: h.timestamp,
          serverId: h.serverId,
          file: this.file,
          nextPos: this.nextPosOf(h),
          logPos: h.logPos,
          artificial: (h.flags & LOG_EVENT_ARTIFICIAL_F) !== 0,
          xid: buf.readBigUInt64LE(b),
        };
      }
      case EventCode.TABLE_MAP: {
        // Every transaction repeats the Table_map of each table it touches. When the bytes are
        // the same as last time for this table id, the parsed map (and the row-decoding plan
        // cached on it) is reused: parsing it anew was the largest cost of streaming small
        // transactions. Comparing the whole body keeps this safe across rotations and id reuse.
        const ph = this.postHeaderLength(EventCode.TABLE_MAP, 8);
        const tid = ph === 6 ? buf.readUInt32LE(b) : buf.readUIntLE(b, 6);
        const cached = this.tableMapCache.get(tid);
        if (cached && cached.body.length === bodyEnd - b && buf.compare(cached.body, 0, cached.body.length, b, bodyEnd) === 0) {
          this.tables.set(tid, cached.tm);
          return this.tableMapEvent(h, cached.tm);
        }
        const tm = this.parseTableMap(buf, b, bodyEnd, h);
        this.tableMapCache.set(tm.tableId, { body: Buffer.from(buf.subarray(b, bodyEnd)), tm });
        this.tables.set(tm.tableId, tm);
        return tm;
      }
      case EventCode.WRITE_ROWS_V1:
      case EventCode.UPDATE_ROWS_V1:
      case EventCode.DELETE_ROWS_V1:
      case EventCode.WRITE_ROWS_V2:
      case EventCode.UPDATE_ROWS_V2:
      case EventCode.DELETE_ROWS_V2:
      case EventCode.MARIADB_WRITE_ROWS_COMPRESSED_V1:
      case EventCode.MARIADB_UPDATE_ROWS_COMPRESSED_V1:
      case EventCode.MARIADB_DELETE_ROWS_COMPRESSED_V1:
      case EventCode.MARIADB_WRITE_ROWS_COMPRESSED:
      case EventCode.MARIADB_UPDATE_ROWS_COMPRESSED:
      case EventCode.MARIADB_DELETE_ROWS_COMPRESSED:
        return createRowsEvent(this, buf, b, bodyEnd, h);
      case EventCode.GTID:
      case EventCode.ANONYMOUS_GTID: {
        const base = this.baseOf(h);
        const c = new Cursor(buf, b, bodyEnd, 'GTID event');
        const commitFlag = c.u8();
        const uuid = formatUuid(c.bytes(16), 0);
        const gno = c.i64();
        const anonymous = h.code === EventCode.ANONYMOUS_GTID;
        return { ...base, type: 'gtid', anonymous, uuid, gno, gtid: anonymous ? '' : `${uuid}:${gno}`, commitFlag };
      }
      case EventCode.MARIADB_GTID: {
        if (bodyEnd - b < 13) throw protocol('truncated MariaDB GTID event');
        const seqNo = buf.readBigUInt64LE(b);
        const domainId = buf.readUInt32LE(b + 8);
        const flags = buf[b + 12] as number;
        const commitId = flags & MariadbGtidFlag.GROUP_COMMIT_ID && bodyEnd - b >= 21 ? buf.readBigUInt64LE(b + 13) : null;
        const standalone = (flags & MariadbGtidFlag.STANDALONE) !== 0;
        return {
          type: 'mariadb-gtid',
          code: h.code,
          timestamp: h.timestamp,
          serverId: h.serverId,
          file: this.file,
          nextPos: this.nextPosOf(h),
          logPos: h.logPos,
          artificial: (h.flags & LOG_EVENT_ARTIFICIAL_F) !== 0,
          domainId,
          seqNo,
          gtid: `${domainId}-${h.serverId}-${seqNo}`,
          flags,
          standalone,
          startsTransaction: !standalone,
          commitId,
        };
      }
      case EventCode.MARIADB_GTID_LIST: {
        const base = this.baseOf(h);
        const c = new Cursor(buf, b, bodyEnd, 'MariaDB GTID list event');
        const count = c.u32() & 0x0fffffff;
        const gtids: MariadbGtid[] = [];
        for (let i = 0; i < count; i++) {
          const domainId = c.u32();
          const serverId = c.u32();
          const seqNo = c.u64();
          gtids.push({ domainId, serverId, seqNo });
        }
        const text = gtids.map((g) => `${g.domainId}-${g.serverId}-${g.seqNo}`).join(',');
        return { ...base, type: 'mariadb-gtid-list', gtids, text };
      }
      case EventCode.PREVIOUS_GTIDS:
        return { ...this.baseOf(h), type: 'previous-gtids', text: decodeGtidSet(buf, b, bodyEnd) };
      case EventCode.HEARTBEAT:
        return { ...this.baseOf(h), type: 'heartbeat', nextPos: this.pos, logFile: buf.toString('utf8', b, bodyEnd), logPosition: h.logPos };
      case EventCode.HEARTBEAT_V2:
        return { ...this.baseOf(h), type: 'heartbeat', nextPos: this.pos, logFile: this.file, logPosition: h.logPos || this.pos };
      case EventCode.MARIADB_ANNOTATE_ROWS:
        return { ...this.baseOf(h), type: 'annotate-rows', sql: buf.toString('utf8', b, bodyEnd) };
      case EventCode.ROWS_QUERY:
        return { ...this.baseOf(h), type: 'rows-query', sql: buf.toString('utf8', Math.min(b + 1, bodyEnd), bodyEnd) };
      case EventCode.STOP:
        return { ...this.baseOf(h), type: 'stop' };
      case EventCode.PARTIAL_UPDATE_ROWS:
        throw unsupported(
          'the binlog contains a partial JSON update (PARTIAL_UPDATE_ROWS_EVENT)',
          "SET GLOBAL binlog_row_value_options='' on the source so JSON updates are logged in full.",
        );
      case EventCode.TRANSACTION_PAYLOAD:
        throw unsupported(
          'the binlog contains a zstd-compressed transaction (binlog_transaction_compression=ON)',
          'SET GLOBAL binlog_transaction_compression=OFF on the source.',
        );
      case EventCode.GTID_TAGGED:
        throw unsupported('the binlog contains a tagged GTID (MySQL 8.3+)', 'Stop assigning GTID tags on the source.');
      case 20:
      case 21:
      case 22:
        throw unsupported('the binlog contains pre-GA (MySQL 5.1 beta) rows events', 'Upgrade the source.');
      default:
        return { ...this.baseOf(h), type: 'other' };
    }
  }

  private parseFde(buf: Buffer, b: number, end: number, h: EventHeader, base: EventBase): BinlogEvent {
    const c = new Cursor(buf, b, end, 'Format_description event');
    const binlogVersion = c.u16();
    const rawVersion = c.bytes(50);
    const nul = rawVersion.indexOf(0);
    const serverVersion = rawVersion.toString('latin1', 0, nul < 0 ? 50 : nul);
    const createTimestamp = c.u32();
    const headerLength = c.u8();
    if (headerLength !== HEADER_LEN) throw unsupported(`binlog header length ${headerLength} (only v4, 19 bytes)`, 'Use a MySQL 5.0+ / MariaDB source.');
    let alg: ChecksumAlg = 'none';
    let phEnd = end;
    if (checksumAware(serverVersion)) {
      const algByte = buf[end - 5] as number;
      phEnd = end - 5;
      if (algByte === 1) {
        alg = 'crc32';
        if (this.verifyChecksum) this.verifyCrc(buf, b - HEADER_LEN, end, h);
      } else if (algByte !== 0 && algByte !== 255) {
        throw unsupported(`binlog checksum algorithm ${algByte}`, 'SET GLOBAL binlog_checksum=CRC32 (or NONE) on the source.');
      }
    }
    const postHeaderLengths = Uint8Array.from(buf.subarray(c.pos, phEnd));
    this.postHeaderLengths = postHeaderLengths;
    this.checksum = alg;
    return { ...base, type: 'format-description', binlogVersion, serverVersion, createTimestamp, headerLength, checksum: alg, postHeaderLengths };
  }

  /** A Table_map event: the header fields of this occurrence, the parsed map of `tm`. */
  private tableMapEvent(h: EventHeader, tm: TableMapParts): TableMapEvent {
    return {
      type: 'table-map',
      code: h.code,
      timestamp: h.timestamp,
      serverId: h.serverId,
      file: this.file,
      nextPos: this.nextPosOf(h),
      logPos: h.logPos,
      artificial: (h.flags & LOG_EVENT_ARTIFICIAL_F) !== 0,
      tableId: tm.tableId,
      schema: tm.schema,
      table: tm.table,
      columnCount: tm.columnCount,
      columnTypes: tm.columnTypes,
      realTypes: tm.realTypes,
      meta1: tm.meta1,
      meta2: tm.meta2,
      nullable: tm.nullable,
      metadata: tm.metadata,
    };
  }

  private parseTableMap(buf: Buffer, b: number, bodyEnd: number, h: EventHeader): TableMapEvent {
    const c = new Cursor(buf, b, bodyEnd, 'Table_map event');
    const ph = this.postHeaderLength(EventCode.TABLE_MAP, 8);
    const tableId = ph === 6 ? c.u32() : c.u48();
    c.pos = b + ph;
    const schema = c.str(c.u8());
    c.skip(1);
    const table = c.str(c.u8());
    c.skip(1);
    const columnCount = c.lenenc();
    const columnTypes = Uint8Array.from(c.bytes(columnCount));
    const metaLen = c.lenenc();
    const metaEnd = c.pos + metaLen;
    c.need(metaLen);
    const realTypes = new Uint8Array(columnCount);
    const meta1 = new Uint32Array(columnCount);
    const meta2 = new Uint8Array(columnCount);
    for (let i = 0; i < columnCount; i++) {
      const t = columnTypes[i] as number;
      realTypes[i] = t;
      switch (t) {
        case ColumnType.FLOAT:
        case ColumnType.DOUBLE:
        case ColumnType.BLOB:
        case ColumnType.TINY_BLOB:
        case ColumnType.MEDIUM_BLOB:
        case ColumnType.LONG_BLOB:
        case ColumnType.GEOMETRY:
        case ColumnType.JSON:
        case ColumnType.TIMESTAMP2:
        case ColumnType.DATETIME2:
        case ColumnType.TIME2:
        case ColumnType.VECTOR:
          meta1[i] = c.u8();
          break;
        case ColumnType.VARCHAR:
        case ColumnType.VAR_STRING:
          meta1[i] = c.u16();
          break;
        case ColumnType.BIT: {
          const bits = c.u8();
          const bytes = c.u8();
          meta1[i] = bytes * 8 + bits;
          break;
        }
        case ColumnType.NEWDECIMAL:
          meta1[i] = c.u8();
          meta2[i] = c.u8();
          break;
        case ColumnType.STRING:
        case ColumnType.ENUM:
        case ColumnType.SET: {
          const b0 = c.u8();
          const b1 = c.u8();
          let real: number;
          let len: number;
          if ((b0 & 0x30) !== 0x30) {
            // CHAR longer than 255 bytes: two bits of the length are hidden in the type byte.
            real = b0 | 0x30;
            len = b1 | (((b0 & 0x30) ^ 0x30) << 4);
          } else {
            real = b0;
            len = b1;
          }
          realTypes[i] = real;
          meta1[i] = len;
          break;
        }
        default:
          break;
      }
    }
    if (c.pos !== metaEnd) throw protocol(`Table_map metadata of ${schema}.${table} is ${metaLen} bytes, decoded ${c.pos - (metaEnd - metaLen)}`);
    const nullBits = c.bytes((columnCount + 7) >> 3);
    const nullable: boolean[] = [];
    for (let i = 0; i < columnCount; i++) nullable.push((((nullBits[i >> 3] as number) >> (i & 7)) & 1) === 1);
    const metadata = c.remaining > 0 ? parseOptionalMetadata(c, columnTypes, realTypes) : {};
    return this.tableMapEvent(h, { tableId, schema, table, columnCount, columnTypes, realTypes, meta1, meta2, nullable, metadata });
  }
}

function checksumAware(version: string): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const v = Number(m[1]) * 10000 + Number(m[2]) * 100 + Number(m[3]);
  if (/mariadb/i.test(version)) return v >= 50300;
  return v >= 50601;
}

export function formatUuid(b: Buffer, o: number): string {
  const h = b.toString('hex', o, o + 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** MySQL encoded GTID set (PREVIOUS_GTIDS body, COM_BINLOG_DUMP_GTID data) → text. */
export function decodeGtidSet(buf: Buffer, start: number, end: number): string {
  const c = new Cursor(buf, start, end, 'GTID set');
  const nSids = Number(c.u64());
  const parts: string[] = [];
  for (let i = 0; i < nSids; i++) {
    const uuid = formatUuid(c.bytes(16), 0);
    const n = Number(c.u64());
    let s = uuid;
    for (let j = 0; j < n; j++) {
      const from = c.i64();
      const to = c.i64() - 1n; // stored exclusive
      s += from === to ? `:${from}` : `:${from}-${to}`;
    }
    parts.push(s);
  }
  return parts.join(',');
}

function isNumeric(t: number): boolean {
  return (
    t === ColumnType.TINY ||
    t === ColumnType.SHORT ||
    t === ColumnType.INT24 ||
    t === ColumnType.LONG ||
    t === ColumnType.LONGLONG ||
    t === ColumnType.NEWDECIMAL ||
    t === ColumnType.FLOAT ||
    t === ColumnType.DOUBLE
  );
}

function isCharacter(real: number): boolean {
  return real === ColumnType.STRING || real === ColumnType.VAR_STRING || real === ColumnType.VARCHAR || real === ColumnType.BLOB;
}

/** Optional metadata TLV fields (binlog_row_metadata): type byte, lenenc length, value. */
function parseOptionalMetadata(c: Cursor, types: Uint8Array, realTypes: Uint8Array): TableMapMetadata {
  const n = types.length;
  const cols = (pred: (i: number) => boolean): number[] => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) if (pred(i)) out.push(i);
    return out;
  };
  const numeric = cols((i) => isNumeric(types[i] as number));
  const character = cols((i) => isCharacter(realTypes[i] as number));
  const enumCols = cols((i) => realTypes[i] === ColumnType.ENUM);
  const setCols = cols((i) => realTypes[i] === ColumnType.SET);
  const enumSet = cols((i) => realTypes[i] === ColumnType.ENUM || realTypes[i] === ColumnType.SET);
  const geometry = cols((i) => types[i] === ColumnType.GEOMETRY);
  const md: TableMapMetadata = {};
  const bitsMsbFirst = (f: Cursor, count: number): boolean[] => {
    const out: boolean[] = [];
    for (let k = 0; k < count; k++) {
      const byte = f.buf[f.pos + (k >> 3)];
      out.push(byte !== undefined && ((byte >> (7 - (k & 7))) & 1) === 1);
    }
    return out;
  };
  const collationsInto = (f: Cursor, which: number[], withDefault: boolean): void => {
    if (!md.collations) md.collations = new Array<number | undefined>(n).fill(undefined);
    const target = md.collations;
    if (withDefault) {
      const dflt = f.lenenc();
      for (const i of which) target[i] = dflt;
      while (f.remaining > 0) {
        const k = f.lenenc();
        const coll = f.lenenc();
        const col = which[k];
        if (col !== undefined) target[col] = coll;
      }
    } else {
      for (const i of which) if (f.remaining > 0) target[i] = f.lenenc();
    }
  };
  const strValues = (f: Cursor, which: number[]): (string[] | undefined)[] => {
    const out = new Array<string[] | undefined>(n).fill(undefined);
    for (const i of which) {
      if (f.remaining <= 0) break;
      const count = f.lenenc();
      const labels: string[] = [];
      for (let k = 0; k < count; k++) labels.push(f.str(f.lenenc()));
      out[i] = labels;
    }
    return out;
  };
  while (c.remaining > 0) {
    const type = c.u8();
    const len = c.lenenc();
    c.need(len);
    const f = new Cursor(c.buf, c.pos, c.pos + len, 'Table_map optional metadata');
    c.pos += len;
    switch (type) {
      case 1: {
        const bits = bitsMsbFirst(f, numeric.length);
        md.unsigned = new Array<boolean | undefined>(n).fill(undefined);
        numeric.forEach((col, k) => {
          (md.unsigned as (boolean | undefined)[])[col] = bits[k] as boolean;
        });
        break;
      }
      case 2:
        collationsInto(f, character, true);
        break;
      case 3:
        collationsInto(f, character, false);
        break;
      case 4: {
        const names: string[] = [];
        for (let i = 0; i < n && f.remaining > 0; i++) names.push(f.str(f.lenenc()));
        md.columnNames = names;
        break;
      }
      case 5:
        md.setValues = strValues(f, setCols);
        break;
      case 6:
        md.enumValues = strValues(f, enumCols);
        break;
      case 7: {
        const g = new Array<number | undefined>(n).fill(undefined);
        for (const i of geometry) if (f.remaining > 0) g[i] = f.lenenc();
        md.geometryTypes = g;
        break;
      }
      case 8: {
        const pk: number[] = [];
        while (f.remaining > 0) pk.push(f.lenenc());
        md.primaryKey = pk;
        md.primaryKeyPrefixes = pk.map(() => 0);
        break;
      }
      case 9: {
        const pk: number[] = [];
        const prefixes: number[] = [];
        while (f.remaining > 0) {
          pk.push(f.lenenc());
          prefixes.push(f.lenenc());
        }
        md.primaryKey = pk;
        md.primaryKeyPrefixes = prefixes;
        break;
      }
      case 10:
        collationsInto(f, enumSet, true);
        break;
      case 11:
        collationsInto(f, enumSet, false);
        break;
      case 12:
        md.visible = bitsMsbFirst(f, n);
        break;
      default:
        break; // newer fields are skipped
    }
  }
  return md;
}
