import type { PendingRow, Row, Value } from '../../../core/change.js';
import { FerryError } from '../../../core/errors.js';
import type { ColumnSchema } from '../../../core/schema.js';
import { charsetDecoder, charsetOfCollation, Cs, decodeText, RAW_DECODER, type CharsetDecoder } from './charsets.js';
import { ColumnType, EventCode, LOG_EVENT_ARTIFICIAL_F, STMT_END_F } from './constants.js';
import { Cursor } from './cursor.js';
import type { BinlogEventParser, EventHeader } from './events.js';
import { uncompressMariadb } from './events.js';
import { binaryJsonToText } from './json-binary.js';
import type { BinlogEvent, DecodeRowsOptions, RowImages, RowsEvent, RowsKind, TableMapEvent } from './types.js';
import {
  decimalSize,
  fracBytes,
  readDate,
  readDatetime2,
  readDatetimeOld,
  readDecimal,
  readTime2,
  readTimeOld,
  readTimestamp2,
  formatUtcTimestamp,
} from './values.js';

// Decoder ops: one small integer per column so the row loop is a single switch.
const OP_TINY = 1;
const OP_TINY_U = 2;
const OP_SHORT = 3;
const OP_SHORT_U = 4;
const OP_INT24 = 5;
const OP_INT24_U = 6;
const OP_LONG = 7;
const OP_LONG_U = 8;
export const OP_LONGLONG = 9;
const OP_LONGLONG_U = 10;
export const OP_FLOAT = 11;
export const OP_DOUBLE = 12;
export const OP_DECIMAL = 13;
const OP_YEAR = 14;
export const OP_DATE = 15;
const OP_TIME = 16;
export const OP_TIME2 = 17;
const OP_DATETIME = 18;
export const OP_DATETIME2 = 19;
const OP_TIMESTAMP = 20;
export const OP_TIMESTAMP2 = 21;
const OP_BIT = 22;
const OP_VARSTR = 23;
export const OP_ENUM = 24;
const OP_SET = 25;
const OP_BLOB = 26;
const OP_JSONBIN = 27;
const OP_NULL = 28;
/** VARCHAR/CHAR in utf8/utf8mb4 (the common case: no charset dispatch). */
export const OP_VARSTR_UTF8 = 29;
/** TEXT/JSON-as-text in utf8/utf8mb4. */
export const OP_BLOB_UTF8 = 30;
/** BLOB/BINARY without charset conversion: a copy of the bytes. */
export const OP_BLOB_BYTES = 31;

export const POST_NONE = 0;
const POST_UUID = 1;
const POST_INET6 = 2;
const POST_INET4 = 3;

export interface ColPlan {
  op: number;
  /** Op-specific: fsp, length bytes, precision, bit count, pack length. */
  m1: number;
  /** DECIMAL scale. */
  m2: number;
  /** Bytes of fixed-size values whose size depends on metadata (DECIMAL, TIME2, DATETIME2, TIMESTAMP2). */
  size: number;
  cs: CharsetDecoder;
  labels: string[] | null;
  /** BINARY(n), UUID, INET6: the server strips trailing 0x00 from fixed binary strings; pad back to n bytes. */
  pad: number;
  post: number;
}

export interface RowsPlan {
  cols: ColPlan[];
  /** The compiled decoder for full row images, built on first use. */
  full: FullRowsDecoder | null;
  /** The compiled decoder whose before images hold only `keyedBy` columns (see decodeRows). */
  keyed: FullRowsDecoder | null;
  keyedBy: readonly number[] | null;
  /** The decoder for pending after images (key columns only, bounds marked), by kind, for `pendingBy`. */
  pendingInsert: FullRowsDecoder | null;
  pendingUpdate: FullRowsDecoder | null;
  pendingBy: readonly number[] | null;
  /** The decoder of one full image (PendingImage.materialize). */
  one: OneImageDecoder | null;
  /** Bulk-parameter writers of pending images by parameter signature (image-bulk.ts), built on first use. */
  bulk: Map<string, unknown> | null;
}

function mismatch(msg: string): FerryError {
  return new FerryError('FERRY_SCHEMA_MISMATCH', msg, {
    fix: 'The schema history does not match the binlog at this position; re-read the table schema (or re-snapshot the table).',
  });
}

/** Builds the per-column decoding plan for a table map and (optionally) the schema in force. */
export function buildPlan(tm: TableMapEvent, columns?: readonly ColumnSchema[]): RowsPlan {
  if (columns && columns.length !== tm.columnCount) {
    throw mismatch(`${tm.schema}.${tm.table}: the binlog has ${tm.columnCount} columns, the schema has ${columns.length}`);
  }
  const md = tm.metadata;
  const cols: ColPlan[] = [];
  for (let i = 0; i < tm.columnCount; i++) {
    const type = tm.columnTypes[i] as number;
    const real = tm.realTypes[i] as number;
    const m1 = tm.meta1[i] as number;
    const sc = columns?.[i];
    const lt = sc?.type;
    const unsigned =
      md.unsigned?.[i] ?? (lt !== undefined && (lt.kind === 'int' || lt.kind === 'decimal') ? lt.unsigned : false);
    const plan: ColPlan = { op: 0, m1: 0, m2: 0, size: 0, cs: RAW_DECODER, labels: null, pad: 0, post: POST_NONE };
    const resolveCharset = (): CharsetDecoder => {
      const coll = md.collations?.[i];
      const name = coll !== undefined ? charsetOfCollation(coll) : undefined;
      if (name !== undefined) return charsetDecoder(name);
      if (lt) {
        switch (lt.kind) {
          case 'string':
            return charsetDecoder(lt.charset);
          case 'binary':
          case 'uuid':
          case 'inet4':
          case 'inet6':
          case 'geometry':
            return charsetDecoder('binary');
          case 'json':
            return charsetDecoder('utf8mb4');
          default:
            break;
        }
      }
      return RAW_DECODER;
    };
    switch (type) {
      case ColumnType.TINY:
        plan.op = unsigned ? OP_TINY_U : OP_TINY;
        break;
      case ColumnType.SHORT:
        plan.op = unsigned ? OP_SHORT_U : OP_SHORT;
        break;
      case ColumnType.INT24:
        plan.op = unsigned ? OP_INT24_U : OP_INT24;
        break;
      case ColumnType.LONG:
        plan.op = unsigned ? OP_LONG_U : OP_LONG;
        break;
      case ColumnType.LONGLONG:
        plan.op = unsigned ? OP_LONGLONG_U : OP_LONGLONG;
        break;
      case ColumnType.FLOAT:
        plan.op = OP_FLOAT;
        break;
      case ColumnType.DOUBLE:
        plan.op = OP_DOUBLE;
        break;
      case ColumnType.NEWDECIMAL:
        plan.op = OP_DECIMAL;
        plan.m1 = m1;
        plan.m2 = tm.meta2[i] as number;
        plan.size = decimalSize(plan.m1, plan.m2);
        break;
      case ColumnType.YEAR:
        plan.op = OP_YEAR;
        break;
      case ColumnType.DATE:
      case ColumnType.NEWDATE:
        plan.op = OP_DATE;
        break;
      case ColumnType.TIME:
        plan.op = OP_TIME;
        break;
      case ColumnType.TIME2:
        plan.op = OP_TIME2;
        plan.m1 = m1;
        plan.size = 3 + fracBytes(m1);
        break;
      case ColumnType.DATETIME:
        plan.op = OP_DATETIME;
        break;
      case ColumnType.DATETIME2:
        plan.op = OP_DATETIME2;
        plan.m1 = m1;
        plan.size = 5 + fracBytes(m1);
        break;
      case ColumnType.TIMESTAMP:
        plan.op = OP_TIMESTAMP;
        break;
      case ColumnType.TIMESTAMP2:
        plan.op = OP_TIMESTAMP2;
        plan.m1 = m1;
        plan.size = 4 + fracBytes(m1);
        break;
      case ColumnType.BIT:
        plan.op = OP_BIT;
        plan.m1 = (m1 + 7) >> 3;
        break;
      case ColumnType.VARCHAR:
      case ColumnType.VAR_STRING:
        plan.op = OP_VARSTR;
        plan.m1 = m1 > 255 ? 2 : 1;
        plan.cs = resolveCharset();
        break;
      case ColumnType.STRING:
      case ColumnType.ENUM:
      case ColumnType.SET:
        if (real === ColumnType.ENUM || real === ColumnType.SET) {
          plan.op = real === ColumnType.ENUM ? OP_ENUM : OP_SET;
          plan.m1 = m1;
          const fromMeta = real === ColumnType.ENUM ? md.enumValues?.[i] : md.setValues?.[i];
          plan.labels =
            fromMeta ?? (lt !== undefined && (lt.kind === 'enum' || lt.kind === 'set') ? lt.values : null);
        } else {
          plan.op = OP_VARSTR;
          plan.m1 = m1 > 255 ? 2 : 1;
          plan.cs = resolveCharset();
          if (plan.cs.code === Cs.BINARY) plan.pad = m1;
        }
        break;
      case ColumnType.BLOB:
      case ColumnType.TINY_BLOB:
      case ColumnType.MEDIUM_BLOB:
      case ColumnType.LONG_BLOB:
        plan.op = OP_BLOB;
        plan.m1 = m1;
        plan.cs = resolveCharset();
        break;
      case ColumnType.GEOMETRY:
      case ColumnType.VECTOR:
        plan.op = OP_BLOB;
        plan.m1 = m1;
        plan.cs = charsetDecoder('binary');
        break;
      case ColumnType.JSON:
        plan.op = OP_JSONBIN;
        plan.m1 = m1;
        break;
      case ColumnType.NULL:
        plan.op = OP_NULL;
        break;
      default:
        throw new FerryError(
          'FERRY_BINLOG_UNSUPPORTED',
          `${tm.schema}.${tm.table} column ${i + 1}: binlog column type ${type} cannot be decoded`,
          { fix: 'Exclude the table from the pipeline or change the column type (old DECIMAL from MySQL < 5.0 needs ALTER TABLE ... FORCE).' },
        );
    }
    // Specialized ops for the common cases, decided once per table map instead of per value.
    if (plan.op === OP_VARSTR && plan.cs.code === Cs.UTF8) plan.op = OP_VARSTR_UTF8;
    else if (plan.op === OP_BLOB && plan.cs.code === Cs.UTF8) plan.op = OP_BLOB_UTF8;
    else if (plan.op === OP_BLOB && (plan.cs.code === Cs.BINARY || plan.cs.code === Cs.RAW)) plan.op = OP_BLOB_BYTES;
    if (lt) {
      if (lt.kind === 'uuid') plan.post = POST_UUID;
      else if (lt.kind === 'inet6') plan.post = POST_INET6;
      else if (lt.kind === 'inet4') plan.post = POST_INET4;
    }
    cols.push(plan);
  }
  return { cols, full: null, keyed: null, keyedBy: null, pendingInsert: null, pendingUpdate: null, pendingBy: null, one: null, bulk: null };
}

export function truncatedValue(): RangeError {
  // Rethrown by decodeRows as the coded truncation error with the table name.
  return new RangeError('value runs past the end of the rows event');
}

function truncated(tm: TableMapEvent): FerryError {
  return new FerryError('FERRY_BINLOG_PROTOCOL', `truncated rows event for ${tm.schema}.${tm.table}`);
}

function readInt64(buf: Buffer, p: number): number | bigint {
  const lo = ((buf[p] as number) | ((buf[p + 1] as number) << 8) | ((buf[p + 2] as number) << 16)) + (buf[p + 3] as number) * 16777216;
  const hi = (buf[p + 4] as number) | ((buf[p + 5] as number) << 8) | ((buf[p + 6] as number) << 16) | ((buf[p + 7] as number) << 24);
  // |value| < 2^53: hi in [-2^21, 2^21) gives a safe integer except for -2^53 itself.
  if (hi >= -2097152 && hi < 2097152) {
    const v = hi * 4294967296 + lo;
    if (v !== -9007199254740992) return v;
  }
  return buf.readBigInt64LE(p);
}

function readUint64(buf: Buffer, p: number): number | bigint {
  const hi = buf.readUInt32LE(p + 4);
  if (hi < 2097152) return hi * 4294967296 + buf.readUInt32LE(p);
  return buf.readBigUInt64LE(p);
}

/** Node's Buffer methods behind `toString(encoding, start, end)` (present in Node 20; not in its typings). */
interface BufferSlices {
  utf8Slice?: (this: Buffer, start: number, end: number) => string;
}
const utf8Slice = (Buffer.prototype as unknown as BufferSlices).utf8Slice;

/**
 * UTF-8 text of `buf[start, end)` (the caller has checked the bounds). Calls the slice method
 * directly: `toString` adds encoding lookup and argument checks that cost more than decoding a
 * short value.
 */
function utf8Text(buf: Buffer, start: number, end: number): string {
  return utf8Slice !== undefined ? utf8Slice.call(buf, start, end) : buf.toString('utf8', start, end);
}

/** A copy of `buf[start, end)` that does not keep the event buffer alive. */
function copyBytes(buf: Buffer, start: number, end: number): Buffer {
  const n = end - start;
  const out = Buffer.allocUnsafe(n);
  if (n <= SHORT_VALUE_BYTES) {
    // A JS loop, four bytes a step: no view (a TypedArray and a call to the `buffer` getter,
    // which V8 runs in C++), as the writers of pending images copy short values.
    let k = 0;
    for (const k4 = n - 4; k <= k4; k += 4) {
      out[k] = buf[start + k] as number;
      out[k + 1] = buf[start + k + 1] as number;
      out[k + 2] = buf[start + k + 2] as number;
      out[k + 3] = buf[start + k + 3] as number;
    }
    for (; k < n; k++) out[k] = buf[start + k] as number;
    return out;
  }
  // TypedArray#set from a plain view: Buffer#copy wraps the same copy in argument checks that
  // cost more than the copy of a short value.
  out.set(new Uint8Array(buf.buffer, buf.byteOffset + start, n));
  return out;
}

function setLabels(buf: Buffer, p: number, bytes: number, labels: string[] | null): Value {
  if (labels === null) {
    return bytes <= 6 ? buf.readUIntLE(p, bytes) : readUint64(buf, p);
  }
  let out = '';
  for (let byte = 0; byte < bytes; byte++) {
    const v = buf[p + byte] as number;
    if (v === 0) continue;
    for (let bit = 0; bit < 8; bit++) {
      if (v & (1 << bit)) {
        const label = labels[byte * 8 + bit];
        if (label === undefined) continue;
        out = out === '' ? label : `${out},${label}`;
      }
    }
  }
  return out;
}

function formatInet6(b: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  const allZeroUntil = (n: number): boolean => groups.slice(0, n).every((g) => g === 0);
  const v4 = `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  if (allZeroUntil(5) && groups[5] === 0xffff) return `::ffff:${v4}`;
  if (allZeroUntil(6) && (groups[6] !== 0 || (groups[7] as number) > 1)) return `::${v4}`;
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/**
 * MariaDB UUID (10.7+): the binlog carries the 16 bytes in text order (checked on 10.11 for
 * version-1 and other UUIDs), so the text form is the plain 8-4-4-4-12 hex rendering.
 */
function formatUuidRecord(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function postProcess(v: Value, post: number): Value {
  if (!Buffer.isBuffer(v)) return v;
  switch (post) {
    case POST_UUID:
      return v.length === 16 ? formatUuidRecord(v) : v;
    case POST_INET6:
      return v.length === 16 ? formatInet6(v) : v;
    case POST_INET4:
      return v.length === 4 ? `${v[0]}.${v[1]}.${v[2]}.${v[3]}` : v;
    default:
      return v;
  }
}

/**
 * Decodes one row image starting at `p` into `row` (one slot per table column; undefined for
 * columns absent from the image). Returns the position after the image. Used for partial
 * images; full images go through the table's compiled decoder (`compileRowsDecoder`).
 */
function decodeImage(buf: Buffer, p: number, end: number, cols: ColPlan[], present: Uint8Array, nPresent: number, row: Row): number {
  const nullStart = p;
  p += (nPresent + 7) >> 3;
  let k = 0;
  for (let i = 0; i < cols.length; i++) {
    if (present[i] === 0) {
      row[i] = undefined;
      continue;
    }
    const isNull = ((buf[nullStart + (k >> 3)] as number) >> (k & 7)) & 1;
    k++;
    if (isNull) {
      row[i] = null;
      continue;
    }
    p = decodeValue(cols[i] as ColPlan, buf, p, end, row, i);
  }
  return p;
}

/** Decodes the non-null value of column `c` at `p` into `row[i]`; returns the position after it. */
export function decodeValue(c: ColPlan, buf: Buffer, p: number, end: number, row: Row, i: number): number {
  let v: Value;
  switch (c.op) {
    case OP_TINY:
      v = ((buf[p] as number) << 24) >> 24;
      p += 1;
      break;
    case OP_TINY_U:
      v = buf[p] as number;
      p += 1;
      break;
    case OP_SHORT:
      v = (((buf[p] as number) | ((buf[p + 1] as number) << 8)) << 16) >> 16;
      p += 2;
      break;
    case OP_SHORT_U:
      v = (buf[p] as number) | ((buf[p + 1] as number) << 8);
      p += 2;
      break;
    case OP_INT24:
      v = (((buf[p] as number) | ((buf[p + 1] as number) << 8) | ((buf[p + 2] as number) << 16)) << 8) >> 8;
      p += 3;
      break;
    case OP_INT24_U:
      v = (buf[p] as number) | ((buf[p + 1] as number) << 8) | ((buf[p + 2] as number) << 16);
      p += 3;
      break;
    case OP_LONG:
      v = (buf[p] as number) | ((buf[p + 1] as number) << 8) | ((buf[p + 2] as number) << 16) | ((buf[p + 3] as number) << 24);
      p += 4;
      break;
    case OP_LONG_U:
      v = ((buf[p] as number) | ((buf[p + 1] as number) << 8) | ((buf[p + 2] as number) << 16)) + (buf[p + 3] as number) * 16777216;
      p += 4;
      break;
    case OP_LONGLONG:
      v = readInt64(buf, p);
      p += 8;
      break;
    case OP_LONGLONG_U:
      v = readUint64(buf, p);
      p += 8;
      break;
    case OP_FLOAT:
      v = buf.readFloatLE(p);
      p += 4;
      break;
    case OP_DOUBLE:
      v = buf.readDoubleLE(p);
      p += 8;
      break;
    case OP_DECIMAL:
      v = readDecimal(buf, p, c.m1, c.m2);
      p += c.size;
      break;
    case OP_YEAR: {
      const y = buf[p] as number;
      v = y === 0 ? 0 : 1900 + y;
      p += 1;
      break;
    }
    case OP_DATE:
      v = readDate(buf, p);
      p += 3;
      break;
    case OP_TIME:
      v = readTimeOld(buf, p);
      p += 3;
      break;
    case OP_TIME2:
      v = readTime2(buf, p, c.m1);
      p += c.size;
      break;
    case OP_DATETIME:
      v = readDatetimeOld(buf, p);
      p += 8;
      break;
    case OP_DATETIME2:
      v = readDatetime2(buf, p, c.m1);
      p += c.size;
      break;
    case OP_TIMESTAMP:
      v = formatUtcTimestamp(buf.readUInt32LE(p), 0, 0);
      p += 4;
      break;
    case OP_TIMESTAMP2:
      v = readTimestamp2(buf, p, c.m1);
      p += c.size;
      break;
    case OP_BIT:
      v = copyBytes(buf, p, p + c.m1);
      p += c.m1;
      break;
    case OP_VARSTR_UTF8: {
      const len = c.m1 === 1 ? (buf[p] as number) : (buf[p] as number) | ((buf[p + 1] as number) << 8);
      p += c.m1;
      if (p + len > end) throw truncatedValue();
      v = utf8Text(buf, p, p + len);
      p += len;
      break;
    }
    case OP_VARSTR: {
      const len = c.m1 === 1 ? (buf[p] as number) : (buf[p] as number) | ((buf[p + 1] as number) << 8);
      p += c.m1;
      if (p + len > end) throw truncatedValue();
      if (c.pad > len) {
        const out = Buffer.alloc(c.pad);
        buf.copy(out, 0, p, p + len);
        v = out;
      } else v = decodeText(c.cs, buf, p, p + len);
      p += len;
      break;
    }
    case OP_ENUM: {
      const idx = c.m1 === 1 ? (buf[p] as number) : buf.readUInt16LE(p);
      p += c.m1;
      if (c.labels === null) v = idx;
      else v = idx === 0 ? '' : (c.labels[idx - 1] ?? '');
      break;
    }
    case OP_SET:
      v = setLabels(buf, p, c.m1, c.labels);
      p += c.m1;
      break;
    case OP_BLOB_UTF8: {
      const len = readBlobLength(buf, p, c.m1);
      p += c.m1;
      if (p + len > end) throw truncatedValue();
      v = utf8Text(buf, p, p + len);
      p += len;
      break;
    }
    case OP_BLOB_BYTES: {
      const len = readBlobLength(buf, p, c.m1);
      p += c.m1;
      if (p + len > end) throw truncatedValue();
      v = copyBytes(buf, p, p + len);
      p += len;
      break;
    }
    case OP_BLOB: {
      const len = readBlobLength(buf, p, c.m1);
      p += c.m1;
      if (p + len > end) throw truncatedValue();
      v = decodeText(c.cs, buf, p, p + len);
      p += len;
      break;
    }
    case OP_JSONBIN: {
      const len = readBlobLength(buf, p, c.m1);
      p += c.m1;
      if (p + len > end) throw truncatedValue();
      v = binaryJsonToText(buf, p, p + len);
      p += len;
      break;
    }
    default:
      v = null;
      break;
  }
  row[i] = c.post === POST_NONE ? v : postProcess(v, c.post);
  return p;
}

/** Length prefix of BLOB/TEXT/JSON/GEOMETRY values: 1 to 4 bytes little-endian. */
export function readBlobLength(buf: Buffer, p: number, bytes: number): number {
  switch (bytes) {
    case 1:
      return buf[p] as number;
    case 2:
      return (buf[p] as number) | ((buf[p + 1] as number) << 8);
    case 3:
      return (buf[p] as number) | ((buf[p + 1] as number) << 8) | ((buf[p + 2] as number) << 16);
    case 4:
      // LONGTEXT/LONGBLOB (MariaDB's JSON is a LONGTEXT).
      return ((buf[p] as number) | ((buf[p + 1] as number) << 8) | ((buf[p + 2] as number) << 16)) + (buf[p + 3] as number) * 16777216;
    default:
      return buf.readUIntLE(p, bytes);
  }
}

/**
 * Decodes every row of a rows event whose images are all full (every column present): pushes
 * the before/only image of each row to `first` and, for updates, the after image to `second`.
 * Returns the position after the last row.
 */
type FullRowsDecoder = (buf: Buffer, p: number, end: number, first: Row[], second: Row[] | null, marks?: number[]) => number;
/** Decodes the one full image in buf[p, end) (throws a RangeError unless it ends exactly at `end`). */
type OneImageDecoder = (buf: Buffer, p: number, end: number) => Row;

/** An integer from the column plan, checked before it is written into generated code. */
export function lit(n: number): string {
  if (!Number.isSafeInteger(n)) throw new FerryError('FERRY_INTERNAL', `column plan value ${String(n)} is not an integer`);
  return String(n);
}

/**
 * Values up to this many bytes are copied and UTF-8-checked by the byte writers of pending
 * images (../pending-bulk.ts, ../../postgres/pending-copy.ts) with JS loops; longer ones through
 * a `Uint8Array` view (`set`, `isUtf8`). A view costs ~80–115 ns here plus the garbage collector's
 * share of it (the views were a quarter of all the bytes a streaming worker allocated); the loops
 * cost ~0.9 ns (copy, four bytes a step) and ~1 ns (ASCII check) a byte.
 */
export const SHORT_VALUE_BYTES = 128;

/**
 * Statements that copy `buf[p, p + n)` to `dst[q]` and move `p` and `q` past it (generated code
 * of the byte writers; `dst` a variable name of theirs).
 */
export function copyCode(dst: string): string {
  return (
    `if (n <= ${lit(SHORT_VALUE_BYTES)}) { let k = 0; ` +
    `for (const k4 = n - 4; k <= k4; k += 4) { ${dst}[q + k] = buf[p + k]; ${dst}[q + k + 1] = buf[p + k + 1]; ${dst}[q + k + 2] = buf[p + k + 2]; ${dst}[q + k + 3] = buf[p + k + 3]; } ` +
    `for (; k < n; k++) ${dst}[q + k] = buf[p + k]; } ` +
    `else ${dst}.set(new Uint8Array(buf.buffer, buf.byteOffset + p, n), q); q += n; p += n;`
  );
}

/** Length prefix of `bytes` (1–4) bytes at `p`, as an expression. */
export function lengthExpr(bytes: number): string {
  switch (bytes) {
    case 1:
      return 'buf[p]';
    case 2:
      return '(buf[p] | (buf[p + 1] << 8))';
    case 3:
      return '(buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16))';
    default:
      return `readBlobLength(buf, p, ${lit(bytes)})`;
  }
}

/**
 * Statements that decode the non-null value of column `i` at `p` into `v<i>` and move `p` past
 * it. The common types are written out; the others call `decodeValue` with the column's plan.
 */
/** A fixed-size integer op: its bytes, its sign, and (up to 4 bytes) its value at `p` as an expression. */
export interface IntOp {
  size: number;
  signed: boolean;
  /** null for 8 bytes (readInt64/readUint64: a number or a bigint). */
  expr: string | null;
}

const INT_OPS: Record<number, IntOp> = {
  [OP_TINY]: { size: 1, signed: true, expr: '((buf[p] << 24) >> 24)' },
  [OP_TINY_U]: { size: 1, signed: false, expr: 'buf[p]' },
  [OP_SHORT]: { size: 2, signed: true, expr: '(((buf[p] | (buf[p + 1] << 8)) << 16) >> 16)' },
  [OP_SHORT_U]: { size: 2, signed: false, expr: '(buf[p] | (buf[p + 1] << 8))' },
  [OP_INT24]: { size: 3, signed: true, expr: '(((buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16)) << 8) >> 8)' },
  [OP_INT24_U]: { size: 3, signed: false, expr: '(buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16))' },
  [OP_LONG]: { size: 4, signed: true, expr: '(buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16) | (buf[p + 3] << 24))' },
  [OP_LONG_U]: { size: 4, signed: false, expr: '((buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16)) + buf[p + 3] * 16777216)' },
  [OP_LONGLONG]: { size: 8, signed: true, expr: null },
  [OP_LONGLONG_U]: { size: 8, signed: false, expr: null },
};

/** The integer op `op` is, or null (the decoder here and the writers of pending images read integers alike). */
export function intOp(op: number): IntOp | null {
  return INT_OPS[op] ?? null;
}

function valueCode(c: ColPlan, i: number): string {
  const v = `v${lit(i)}`;
  if (c.post === POST_NONE) {
    const int = intOp(c.op);
    if (int !== null && int.expr !== null) return `${v} = ${int.expr}; p += ${lit(int.size)};`;
    switch (c.op) {
      case OP_LONGLONG:
        return `${v} = readInt64(buf, p); p += 8;`;
      case OP_LONGLONG_U:
        return `${v} = readUint64(buf, p); p += 8;`;
      case OP_FLOAT:
        return `${v} = buf.readFloatLE(p); p += 4;`;
      case OP_DOUBLE:
        return `${v} = buf.readDoubleLE(p); p += 8;`;
      case OP_DECIMAL:
        return `${v} = readDecimal(buf, p, ${lit(c.m1)}, ${lit(c.m2)}); p += ${lit(c.size)};`;
      case OP_DATE:
        return `${v} = readDate(buf, p); p += 3;`;
      case OP_DATETIME2:
        return `${v} = readDatetime2(buf, p, ${lit(c.m1)}); p += ${lit(c.size)};`;
      case OP_TIMESTAMP2:
        return `${v} = readTimestamp2(buf, p, ${lit(c.m1)}); p += ${lit(c.size)};`;
      case OP_TIME2:
        return `${v} = readTime2(buf, p, ${lit(c.m1)}); p += ${lit(c.size)};`;
      case OP_ENUM:
        if (c.labels === null) break;
        return `{ const x = ${lengthExpr(c.m1)}; p += ${lit(c.m1)}; ${v} = x === 0 ? '' : (L${lit(i)}[x - 1] ?? ''); }`;
      case OP_VARSTR_UTF8:
      case OP_BLOB_UTF8:
        // Length bytes: 1 or 2 for VARCHAR, 1 to 4 for TEXT (both in m1).
        return (
          `{ const n = ${lengthExpr(c.m1)}; p += ${lit(c.m1)}; const e = p + n; if (e > end) throw truncatedValue(); ` +
          `${v} = utf8Text(buf, p, e); p = e; }`
        );
      case OP_BLOB_BYTES:
        return (
          `{ const n = ${lengthExpr(c.m1)}; p += ${lit(c.m1)}; const e = p + n; if (e > end) throw truncatedValue(); ` +
          `${v} = copyBytes(buf, p, e); p = e; }`
        );
      case OP_JSONBIN:
        return (
          `{ const n = ${lengthExpr(c.m1)}; p += ${lit(c.m1)}; const e = p + n; if (e > end) throw truncatedValue(); ` +
          `${v} = binaryJsonToText(buf, p, e); p = e; }`
        );
      default:
        break;
    }
  }
  return `p = decodeValue(C${lit(i)}, buf, p, end, T, 0); ${v} = T[0];`;
}

/**
 * Statements that move `p` past the non-null value of column `c` without decoding it (the
 * columns a key-only before image leaves out); null when only decoding finds its end.
 */
function skipCode(c: ColPlan): string | null {
  switch (c.op) {
    case OP_TINY:
    case OP_TINY_U:
    case OP_YEAR:
      return 'p += 1;';
    case OP_SHORT:
    case OP_SHORT_U:
      return 'p += 2;';
    case OP_INT24:
    case OP_INT24_U:
    case OP_DATE:
    case OP_TIME:
      return 'p += 3;';
    case OP_LONG:
    case OP_LONG_U:
    case OP_FLOAT:
    case OP_TIMESTAMP:
      return 'p += 4;';
    case OP_LONGLONG:
    case OP_LONGLONG_U:
    case OP_DOUBLE:
    case OP_DATETIME:
      return 'p += 8;';
    case OP_DECIMAL:
    case OP_TIME2:
    case OP_DATETIME2:
    case OP_TIMESTAMP2:
      return `p += ${lit(c.size)};`;
    case OP_BIT:
    case OP_ENUM:
    case OP_SET:
      return `p += ${lit(c.m1)};`;
    case OP_VARSTR:
    case OP_VARSTR_UTF8:
    case OP_BLOB:
    case OP_BLOB_UTF8:
    case OP_BLOB_BYTES:
    case OP_JSONBIN:
      // A length prefix of m1 bytes (1–2 for VARCHAR/CHAR, 1–4 for BLOB/TEXT/JSON), then the value.
      return `{ const n = ${lengthExpr(c.m1)}; p += ${lit(c.m1)} + n; if (p > end) throw truncatedValue(); }`;
    default:
      return null;
  }
}

/**
 * One straight-line decoder per column plan (generated once per Table_map and schema): each full
 * row image decodes without a per-value dispatch, into an array literal. Only integers from the
 * plan (checked by `lit`) and fixed identifiers are written into the code; labels and plans are
 * passed in as arguments, and nothing read from the stream ever is.
 */
/**
 * The generated decoder of a rows event's images. `keyOnlyFirst`/`keyOnlySecond`: decode only
 * these columns of the first/second image of each row (the others `undefined`, their bytes
 * skipped). `markFirst`/`markSecond`: that image is pending (PendingImage): push the values of
 * these columns (the key, in key order) instead of a row, and its bounds [start, end) onto
 * `marks`, so that it can be decoded in full later.
 */
function compileRowsDecoder(
  cols: readonly ColPlan[],
  keyOnlyFirst: readonly number[] | null = null,
  keyOnlySecond: readonly number[] | null = null,
  markFirst: readonly number[] | null = null,
  markSecond: readonly number[] | null = null,
): FullRowsDecoder {
  return generateDecoder(cols, keyOnlyFirst, keyOnlySecond, markFirst, markSecond, false) as FullRowsDecoder;
}

/** A decoder of exactly one full image (PendingImage.materialize). */
function compileImageDecoder(cols: readonly ColPlan[]): OneImageDecoder {
  return generateDecoder(cols, null, null, null, null, true) as OneImageDecoder;
}

function generateDecoder(
  cols: readonly ColPlan[],
  keyOnlyFirst: readonly number[] | null,
  keyOnlySecond: readonly number[] | null,
  markFirst: readonly number[] | null,
  markSecond: readonly number[] | null,
  one: boolean,
): FullRowsDecoder | OneImageDecoder {
  const n = cols.length;
  const nb = (n + 7) >> 3;
  const names: string[] = [];
  const args: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const c = cols[i] as ColPlan;
    names.push(`C${lit(i)}`, `L${lit(i)}`);
    args.push(c, c.labels);
  }
  const helpers: Record<string, unknown> = {
    decodeValue,
    readInt64,
    readUint64,
    readDecimal,
    readDate,
    readDatetime2,
    readTimestamp2,
    readTime2,
    readBlobLength,
    copyBytes,
    utf8Text,
    binaryJsonToText,
    truncatedValue,
  };
  for (const [k, f] of Object.entries(helpers)) {
    names.push(k);
    args.push(f);
  }
  const vars = Array.from({ length: n }, (_, i) => `v${lit(i)}`);
  /** One image; `only`: decode just these columns and skip the others' bytes. */
  const imageCodeOf = (only: ReadonlySet<number> | null): string => {
    const image: string[] = [];
    image.push(`{`);
    for (let b = 0; b < nb; b++) image.push(`const n${lit(b)} = buf[p + ${lit(b)}];`);
    image.push(`p += ${lit(nb)};`);
    for (let i = 0; i < n; i++) {
      const c = cols[i] as ColPlan;
      const skip = only !== null && !only.has(i) ? skipCode(c) : null;
      const isNull = `(n${lit(i >> 3)} & ${lit(1 << (i & 7))}) !== 0`;
      if (skip !== null) image.push(`if (!(${isNull})) { ${skip} }`);
      else image.push(`if (${isNull}) v${lit(i)} = null; else { ${valueCode(c, i)} }`);
    }
    image.push(`}`);
    return image.join('\n');
  };
  const onlyFirst = keyOnlyFirst === null ? null : new Set(keyOnlyFirst);
  const onlySecond = keyOnlySecond === null ? null : new Set(keyOnlySecond);
  // A key-only image holds undefined (absent) in every column it does not decode.
  const varsOf = (only: ReadonlySet<number> | null): string => (only === null ? vars : vars.map((v, i) => (only.has(i) ? v : 'undefined'))).join(', ');
  const body = one
    ? [
        `'use strict';`,
        `const T = [null];`,
        `return function decodeImage(buf, p, end) {`,
        n > 0 ? `let ${vars.join(', ')};` : '',
        imageCodeOf(null),
        `if (p !== end) throw truncatedValue();`,
        `return [${vars.join(', ')}];`,
        `};`,
      ].join('\n')
    : [
        `'use strict';`,
        `const T = [null];`,
        `return function decodeFullRows(buf, p, end, first, second, marks) {`,
        n > 0 ? `let ${vars.join(', ')};` : '',
        `let s = p;`,
        `while (p < end) {`,
        `s = p;`,
        imageCodeOf(onlyFirst),
        `first.push([${markFirst === null ? varsOf(onlyFirst) : markFirst.map((i) => vars[i]).join(', ')}]);`,
        `if (second !== null) {`,
        `s = p;`,
        imageCodeOf(onlySecond),
        `second.push([${markSecond === null ? varsOf(onlySecond) : markSecond.map((i) => vars[i]).join(', ')}]);`,
        `}`,
        `if (p > end) throw truncatedValue();`,
        markFirst !== null || markSecond !== null ? `marks.push(s, p);` : '',
        `}`,
        `return p;`,
        `};`,
      ].join('\n');
  return bindGenerated<FullRowsDecoder | OneImageDecoder>(names, args, body);
}

/**
 * The function a generated `body` returns, with `names` bound to `args`. Same layout, same code
 * (table ids change, Table_maps are re-sent): each body (which holds only plan integers) is
 * compiled once and bound to each plan's labels and column plans. Used by the decoders here and
 * by the writers of pending images (../pending-bulk.ts, ../../postgres/pending-copy.ts).
 */
export function bindGenerated<F>(names: readonly string[], args: readonly unknown[], body: string): F {
  const key = `${names.join(',')}\n${body}`;
  let factory = compiledBodies.get(key);
  if (factory === undefined) {
    if (compiledBodies.size >= MAX_COMPILED_BODIES) compiledBodies.clear();
    factory = new Function(...names, body) as (...a: unknown[]) => unknown;
    compiledBodies.set(key, factory);
  }
  return factory(...args) as F;
}

/** Compiled factories by parameter names and generated body. */
const compiledBodies = new Map<string, (...a: unknown[]) => unknown>();
const MAX_COMPILED_BODIES = 1024;

class RowsEventImpl implements RowsEvent {
  readonly type = 'rows' as const;
  readonly code: number;
  readonly timestamp: number;
  readonly serverId: number;
  readonly artificial: boolean;
  readonly logPos: number;

  constructor(
    h: EventHeader,
    readonly file: string,
    readonly nextPos: number,
    readonly kind: RowsKind,
    readonly version: 1 | 2,
    readonly tableId: number,
    readonly table: TableMapEvent,
    readonly flags: number,
    readonly columnCount: number,
    private readonly present1: Uint8Array,
    private readonly nPresent1: number,
    private readonly present2: Uint8Array,
    private readonly nPresent2: number,
    private readonly buf: Buffer,
    private readonly rowsStart: number,
    private readonly rowsEnd: number,
  ) {
    this.code = h.code;
    this.timestamp = h.timestamp;
    this.serverId = h.serverId;
    this.logPos = h.logPos;
    this.artificial = (h.flags & LOG_EVENT_ARTIFICIAL_F) !== 0;
  }

  get statementEnd(): boolean {
    return (this.flags & STMT_END_F) !== 0;
  }

  get rowBytes(): number {
    return this.rowsEnd - this.rowsStart;
  }

  decodeRows(columns?: readonly ColumnSchema[], options?: DecodeRowsOptions): RowImages {
    const plan = planFor(this.table, columns);
    const cols = plan.cols;
    const n = cols.length;
    const { buf, rowsEnd } = this;
    let p = this.rowsStart;
    const first: Row[] = [];
    const second: Row[] | null = this.kind === 'update' ? [] : null;
    const keyOnly = this.kind === 'insert' ? null : (options?.beforeKeyOnly ?? null);
    const pendingKey = this.kind === 'delete' ? null : (options?.afterPending ?? null);
    try {
      if (this.nPresent1 === n && this.nPresent2 === n && pendingKey !== null && pendingKey.length > 0 && (this.kind === 'insert' || (keyOnly !== null && sameColumns(keyOnly, pendingKey)))) {
        // After images stay bytes: decode their key, mark their bounds.
        if (plan.pendingBy === null || !sameColumns(plan.pendingBy, pendingKey)) {
          plan.pendingInsert = plan.pendingUpdate = null;
          plan.pendingBy = pendingKey.slice();
        }
        const decode =
          this.kind === 'insert'
            ? (plan.pendingInsert ?? (plan.pendingInsert = compileRowsDecoder(cols, pendingKey, null, pendingKey)))
            : (plan.pendingUpdate ?? (plan.pendingUpdate = compileRowsDecoder(cols, pendingKey, pendingKey, null, pendingKey)));
        const marks: number[] = [];
        p = decode(buf, p, rowsEnd, first, second, marks);
        // The marked images' entries are their key values, not rows.
        const keys = (second ?? first) as unknown as Value[][];
        const pending: PendingRow[] = new Array<PendingRow>(keys.length);
        for (let i = 0; i < keys.length; i++) pending[i] = new PendingImage(keys[i] as Value[], buf, marks[2 * i] as number, marks[2 * i + 1] as number, plan, this.table);
        return { before: this.kind === 'insert' ? null : first, after: null, afterPending: pending };
      }
      if (this.nPresent1 === n && this.nPresent2 === n) {
        let decode: FullRowsDecoder;
        if (keyOnly === null || keyOnly.length === 0) decode = plan.full ?? (plan.full = compileRowsDecoder(cols));
        else {
          if (plan.keyed === null || !sameColumns(plan.keyedBy, keyOnly)) {
            plan.keyed = compileRowsDecoder(cols, keyOnly);
            plan.keyedBy = keyOnly.slice();
          }
          decode = plan.keyed;
        }
        p = decode(buf, p, rowsEnd, first, second);
      }
      while (p < rowsEnd) {
        const row: Row = new Array<Value | undefined>(n);
        p = decodeImage(buf, p, rowsEnd, cols, this.present1, this.nPresent1, row);
        first.push(row);
        if (second !== null) {
          const row2: Row = new Array<Value | undefined>(n);
          p = decodeImage(buf, p, rowsEnd, cols, this.present2, this.nPresent2, row2);
          second.push(row2);
        }
        if (p > rowsEnd) throw truncated(this.table);
      }
    } catch (e) {
      if (e instanceof RangeError) throw new FerryError('FERRY_BINLOG_PROTOCOL', `truncated rows event for ${this.table.schema}.${this.table.table}`, { cause: e });
      throw e;
    }
    switch (this.kind) {
      case 'insert':
        return { before: null, after: first };
      case 'delete':
        return { before: first, after: null };
      default:
        return { before: first, after: second };
    }
  }
}

/**
 * A full after image left as the event's bytes (PendingRow): its key decoded, the rest decoded
 * on each `materialize`. Holds the event's buffer (a socket chunk, or the inflated image of a
 * compressed event), which nothing writes to once received.
 */
export class PendingImage implements PendingRow {
  constructor(
    readonly key: Value[],
    /** The image is `buf[start, end)`; `plan` decodes it (image-bulk.ts writes it as bulk parameters). */
    readonly buf: Buffer,
    readonly start: number,
    readonly end: number,
    readonly plan: RowsPlan,
    private readonly tm: TableMapEvent,
  ) {}

  get bytes(): number {
    return this.end - this.start;
  }

  materialize(): Row {
    const plan = this.plan;
    try {
      return (plan.one ?? (plan.one = compileImageDecoder(plan.cols)))(this.buf, this.start, this.end);
    } catch (e) {
      if (e instanceof RangeError) throw new FerryError('FERRY_BINLOG_PROTOCOL', `truncated rows event for ${this.tm.schema}.${this.tm.table}`, { cause: e });
      throw e;
    }
  }
}

function sameColumns(a: readonly number[] | null, b: readonly number[]): boolean {
  if (a === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Plans are cached per table map and schema array: one plan for all events of a statement. */
const planCache = new WeakMap<TableMapEvent, { columns: readonly ColumnSchema[] | undefined; plan: RowsPlan }>();
function planFor(tm: TableMapEvent, columns: readonly ColumnSchema[] | undefined): RowsPlan {
  const hit = planCache.get(tm);
  if (hit && hit.columns === columns) return hit.plan;
  const plan = buildPlan(tm, columns);
  planCache.set(tm, { columns, plan });
  return plan;
}

/** Shared "every column present" bitmaps by column count (the usual full row image). */
const allPresent: Uint8Array[] = [];

/**
 * The columns-present bitmap of `n` columns at `buf[p]` as one byte per column. Full images
 * (every bit set) share one read-only array per column count.
 */
function presentColumns(buf: Buffer, p: number, n: number): Uint8Array {
  let full = true;
  const whole = n >> 3;
  for (let i = 0; i < whole; i++) {
    if (buf[p + i] !== 0xff) {
      full = false;
      break;
    }
  }
  const rest = n & 7;
  if (full && rest !== 0 && (((buf[p + whole] as number) & ((1 << rest) - 1)) !== (1 << rest) - 1)) full = false;
  if (full) {
    let a = allPresent[n];
    if (a === undefined) {
      a = new Uint8Array(n).fill(1);
      allPresent[n] = a;
    }
    return a;
  }
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = ((buf[p + (i >> 3)] as number) >> (i & 7)) & 1;
  return out;
}

function countPresent(present: Uint8Array): number {
  let count = 0;
  for (let i = 0; i < present.length; i++) count += present[i] as number;
  return count;
}

const ROWS_SHAPES: Record<number, readonly [RowsKind, 1 | 2, boolean]> = {
  [EventCode.WRITE_ROWS_V1]: ['insert', 1, false],
  [EventCode.UPDATE_ROWS_V1]: ['update', 1, false],
  [EventCode.DELETE_ROWS_V1]: ['delete', 1, false],
  [EventCode.WRITE_ROWS_V2]: ['insert', 2, false],
  [EventCode.UPDATE_ROWS_V2]: ['update', 2, false],
  [EventCode.DELETE_ROWS_V2]: ['delete', 2, false],
  [EventCode.MARIADB_WRITE_ROWS_COMPRESSED_V1]: ['insert', 1, true],
  [EventCode.MARIADB_UPDATE_ROWS_COMPRESSED_V1]: ['update', 1, true],
  [EventCode.MARIADB_DELETE_ROWS_COMPRESSED_V1]: ['delete', 1, true],
  [EventCode.MARIADB_WRITE_ROWS_COMPRESSED]: ['insert', 2, true],
  [EventCode.MARIADB_UPDATE_ROWS_COMPRESSED]: ['update', 2, true],
  [EventCode.MARIADB_DELETE_ROWS_COMPRESSED]: ['delete', 2, true],
};

/** Parses the fixed part of a rows event; the rows themselves are decoded on demand. */
export function createRowsEvent(parser: BinlogEventParser, buf: Buffer, b: number, bodyEnd: number, h: EventHeader): BinlogEvent {
  const code = h.code;
  const shape = ROWS_SHAPES[code];
  if (shape === undefined) throw new FerryError('FERRY_INTERNAL', `event type ${code} is not a rows event`);
  const kind = shape[0];
  const version = shape[1];
  const ph = parser.postHeaderLength(code, version === 2 ? 10 : 8);
  // Fixed part: table id (4 or 6 bytes), flags, (v2) extra data; then the column count.
  let p = b + ph;
  if (p > bodyEnd) throw truncatedRows(b, bodyEnd, ph);
  const tableId = ph === 6 ? buf.readUInt32LE(b) : buf.readUIntLE(b, 6);
  const flags = buf.readUInt16LE(b + (ph === 6 ? 4 : 6));
  if (version === 2) {
    const extraLen = buf.readUInt16LE(b + (ph === 6 ? 4 : 6) + 2);
    p += Math.max(0, extraLen - 2);
  }
  let columnCount: number;
  const fb = buf[p] as number;
  if (p < bodyEnd && fb < 251) {
    columnCount = fb;
    p += 1;
  } else {
    const c = new Cursor(buf, p, bodyEnd, 'rows event');
    columnCount = c.lenenc();
    p = c.pos;
  }
  const nb = (columnCount + 7) >> 3;
  if (p + (kind === 'update' ? 2 * nb : nb) > bodyEnd) throw truncatedRows(p, bodyEnd, kind === 'update' ? 2 * nb : nb);
  const present1 = presentColumns(buf, p, columnCount);
  p += nb;
  let present2 = present1;
  if (kind === 'update') {
    present2 = presentColumns(buf, p, columnCount);
    p += nb;
  }
  const table = parser.tableMap(tableId);
  if (!table) {
    // MySQL writes a dummy rows event (table id 0xFFFFFF, no rows) to end a statement.
    if (p === bodyEnd) return { ...parser.baseOf(h), type: 'other' };
    throw new FerryError('FERRY_BINLOG_PROTOCOL', `rows event for table id ${tableId} without a preceding Table_map`, {
      details: { file: parser.file, logPos: h.logPos },
    });
  }
  if (columnCount !== table.columnCount) {
    throw new FerryError('FERRY_BINLOG_PROTOCOL', `rows event has ${columnCount} columns, its Table_map ${table.columnCount}`);
  }
  let rowsBuf = buf;
  let rowsStart = p;
  let rowsEnd = bodyEnd;
  if (shape[2]) {
    rowsBuf = uncompressMariadb(buf, p, bodyEnd);
    rowsStart = 0;
    rowsEnd = rowsBuf.length;
  }
  const nPresent1 = countPresent(present1);
  const nPresent2 = present2 === present1 ? nPresent1 : countPresent(present2);
  return new RowsEventImpl(
    h,
    parser.file,
    parser.nextPosOf(h),
    kind,
    version,
    tableId,
    table,
    flags,
    columnCount,
    present1,
    nPresent1,
    present2,
    nPresent2,
    rowsBuf,
    rowsStart,
    rowsEnd,
  );
}

function truncatedRows(at: number, end: number, need: number): FerryError {
  return new FerryError('FERRY_BINLOG_PROTOCOL', `truncated rows event: needs ${need} more bytes at offset ${at}, ends at ${end}`);
}
