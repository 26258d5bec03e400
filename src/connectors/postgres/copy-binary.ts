/**
 * Snapshot rows in text form (core/text-rows.ts) → COPY binary format.
 *
 * Why binary: snapshot → PostgreSQL is bound by the server, and most of what the server does per
 * row in a text COPY is parsing: numeric, timestamp and bytea hex input. Loading the bench table
 * shape server-side from a file, binary took ~30% less of the server's time than text (median
 * 590 vs 830 ms per 125k rows). Here the parsing moves into Ferry, which is idle half the time
 * during a snapshot to PostgreSQL, and text and bytes need no escaping at all.
 *
 * The rows PostgreSQL stores are the ones the text path (copy-text.ts) stores, value for value:
 * test/integration/snapshot-text.test.ts loads every catalogue table both ways and compares.
 * A table with a column kind this file does not encode (FLOAT, BIT, UUID, INET) keeps the text
 * format, and so does a chunk holding a value binary cannot carry exactly (a date the calendar
 * does not have, which MySQL can store under ALLOW_INVALID_DATES): `encode` returns null and the
 * text COPY lets the server refuse it the usual way. The lossy cases (U+0000 removed, zero dates)
 * go through pgEncoder exactly as in the text path, so their counts stay in one place.
 *
 * Format (PostgreSQL docs, "COPY", binary format): a 19-byte header, then per row an int16 field
 * count and per field an int32 length (-1 for NULL) and the type's binary (send/recv) form, then
 * an int16 -1. All integers big-endian.
 */
import type { ZeroDatePolicy } from '../../core/config-types.js';
import type { ColumnSchema } from '../../core/schema.js';
import type { TextRows } from '../../core/text-rows.js';
import { isZeroDate, type PieceBuffers } from './copy-text.js';
import { COPY_PIECE_BYTES } from './quote.js';
import { holdsZeroDates, pgEncoder, type PgEncoder, type PgLossStats } from './type-map.js';
import { rowOf, type PendingRow, type Row, type RowRef } from '../../core/change.js';

const enum Op {
  Int2,
  Int4,
  Int8,
  /** decimal, BIGINT UNSIGNED: numeric. */
  Numeric,
  Float8,
  Date,
  /** datetime, timestamp: int64 microseconds since 2000-01-01 (UTC for timestamptz). */
  Timestamp,
  /** time → interval. */
  Interval,
  /** string, enum, set: UTF-8 bytes, U+0000 removed. */
  Text,
  /** json → jsonb: version 1, then the text with `\u0000` escapes removed. */
  Jsonb,
  /** binary, geometry: bytea. */
  Bytes,
}

/** The binary op for a column, or null when the table must keep the text format. */
function opOf(col: ColumnSchema): Op | null {
  const t = col.type;
  switch (t.kind) {
    case 'int':
      // Mirrors pgColumnType: the smallest PostgreSQL integer holding the MySQL range.
      if (t.bits === 8 || (t.bits === 16 && !t.unsigned)) return Op.Int2;
      if (t.bits === 16 || t.bits === 24 || (t.bits === 32 && !t.unsigned)) return Op.Int4;
      return t.bits === 32 || !t.unsigned ? Op.Int8 : Op.Numeric;
    case 'year':
      return Op.Int2;
    case 'decimal':
      return Op.Numeric;
    case 'double':
      return Op.Float8;
    case 'date':
      return Op.Date;
    case 'datetime':
    case 'timestamp':
      return Op.Timestamp;
    case 'time':
      return Op.Interval;
    case 'string':
    case 'enum':
    case 'set':
      return Op.Text;
    case 'json':
      return Op.Jsonb;
    case 'binary':
    case 'geometry':
      return Op.Bytes;
    // FLOAT: float4 from text is strtof of the digits; Math.fround of the double can round twice.
    case 'float':
    case 'bit':
    case 'uuid':
    case 'inet4':
    case 'inet6':
      return null;
  }
}

/** Writes the stream header at the start of `b`; returns the position after it. */
function startStream(b: Buffer, dv: DataView): number {
  const p = SIGNATURE.copy(b, 0);
  dv.setInt32(p, 0); // flags
  dv.setInt32(p + 4, 0); // header extension length
  return p + 8;
}

/**
 * Ends a stream whose last piece `b` is written up to `p`: the trailer, in a new piece when the
 * last field filled `b` to the byte (a NULL needs only its 4), and the last piece(s) into `pieces`.
 */
function endStream(pieces: Buffer[], b: Buffer, p: number, newPiece: (n: number) => Buffer): void {
  if (p + 2 > b.length) {
    pieces.push(b.subarray(0, p));
    b = newPiece(2);
    p = 0;
  }
  b.writeInt16BE(-1, p);
  pieces.push(b.subarray(0, p + 2));
}

/** The pieces of a finished encode, its lossy-case counts added to `stats`. */
function accepted(pieces: Buffer[], stats: PgLossStats, chunkStats: PgLossStats): Buffer[] {
  stats.nulCharsStripped += chunkStats.nulCharsStripped;
  stats.zeroDatesReplaced += chunkStats.zeroDatesReplaced;
  return pieces;
}

/** Encodes whole TextRows of one table into COPY binary pieces. */
export interface CopyBinaryRowsEncoder {
  /**
   * The chunk as one COPY binary stream (header to trailer) in pieces, lossy-case counts added to
   * `stats`; null when a value cannot be carried exactly in binary (then nothing was added to
   * `stats` and the chunk goes as text).
   */
  encode(text: TextRows, stats: PgLossStats, buffers?: PieceBuffers): Buffer[] | null;
}

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const ZERO = 0x30;
const MINUS = 0x2d;
const DOT = 0x2e;
/** Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch. */
export const PG_EPOCH_DAYS = 10957;
const TWO_32 = 4294967296;
/** |µs| below this is a safe integer (with room for the fraction). */
const SAFE_SECONDS = 9e9;
/** PostgreSQL's -infinity: DATEVAL_NOBEGIN, DT_NOBEGIN. */
const DATE_MINUS_INFINITY = -2147483648;
const NUMERIC_NEG = 0x4000;

/** Bytes beyond the value's own text any field may take: length word, jsonb version, numeric header and digits. */
const MAX_FIELD_OVERHEAD = 4 + 8 + 2 * 48;

/** An int64 from a safe integer (negative too), big-endian at `p`; returns the position after it. */
function setInt64(dv: DataView, p: number, v: number): number {
  const hi = Math.floor(v / TWO_32);
  dv.setInt32(p, hi);
  dv.setUint32(p + 4, v - hi * TWO_32);
  return p + 8;
}

/** Microseconds `sec` * 10^6 + `micros` as an int64 at `p` (exact beyond 2^53 too); returns the position after it. */
export function setMicros(dv: DataView, p: number, sec: number, micros: number): number {
  if (sec > -SAFE_SECONDS && sec < SAFE_SECONDS) return setInt64(dv, p, sec * 1e6 + micros);
  dv.setBigInt64(p, BigInt(sec) * 1000000n + BigInt(micros));
  return p + 8;
}

/** Thrown inside encode when a value has no exact binary form here; caught by encode. */
class NotBinary extends Error {}
const NOT_BINARY = new NotBinary('value has no exact binary form');

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** `n` ASCII digits at `at` as a number; NaN when one is not a digit. */
function digits(d: Buffer, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = (d[i] as number) - ZERO;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  return v;
}

/** PostgreSQL day number (days since 2000-01-01) of `YYYY-MM-DD` at `at`; throws NOT_BINARY for a date the calendar lacks. */
function pgDay(d: Buffer, at: number): number {
  const y = digits(d, at, 4);
  const m = digits(d, at + 5, 2);
  const day = digits(d, at + 8, 2);
  if (!(m >= 1 && m <= 12 && day >= 1 && day <= daysInMonth(y, m)) || d[at + 4] !== MINUS || d[at + 7] !== MINUS) throw NOT_BINARY;
  return daysFromCivil(y, m, day) - PG_EPOCH_DAYS;
}

/** Microseconds of a fraction `.f{1,6}` at [at, end) (at is the dot), 0 when there is none. */
function fractionMicros(d: Buffer, at: number, end: number): number {
  if (at >= end) return 0;
  const n = end - at - 1;
  if (d[at] !== DOT || n < 1 || n > 6) throw NOT_BINARY;
  const f = digits(d, at + 1, n);
  if (Number.isNaN(f)) throw NOT_BINARY;
  return f * 10 ** (6 - n);
}

/** `HH:MM:SS` at `at` as seconds (hours of any width up to `colon`). */
function clockSeconds(d: Buffer, at: number, colon: number): number {
  const h = digits(d, at, colon - at);
  const m = digits(d, colon + 1, 2);
  const s = digits(d, colon + 4, 2);
  if (!(m <= 59 && s <= 59) || d[colon] !== 0x3a || d[colon + 3] !== 0x3a || Number.isNaN(h)) throw NOT_BINARY;
  return h * 3600 + m * 60 + s;
}

/**
 * Numeric field (length word included) of the decimal text `[-]III[.FFF]` at d[start, end):
 * base-10000 digits grouped from the decimal point. `numeric` is scratch space for the groups.
 * Returns the position after the field; throws NOT_BINARY for anything else.
 */
export function putNumeric(dv: DataView, p: number, d: Buffer, start: number, end: number, numeric: Int16Array): number {
  const neg = d[start] === MINUS;
  const s = neg ? start + 1 : start;
  let dot = s;
  while (dot < end && d[dot] !== DOT) dot++;
  const intDigits = dot - s;
  const fracDigits = dot < end ? end - dot - 1 : 0;
  if (intDigits < 1 || (dot < end && fracDigits < 1)) throw NOT_BINARY;
  const intGroups = Math.ceil(intDigits / 4);
  const fracGroups = Math.ceil(fracDigits / 4);
  if (intGroups + fracGroups > numeric.length) throw NOT_BINARY;
  let g = 0;
  // Integer part: the first group takes the digits beyond a multiple of four.
  let at = s;
  let take = intDigits - (intGroups - 1) * 4;
  for (let k = 0; k < intGroups; k++) {
    const v = digits(d, at, take);
    if (Number.isNaN(v)) throw NOT_BINARY;
    numeric[g++] = v;
    at += take;
    take = 4;
  }
  at = dot + 1;
  for (let k = 0; k < fracGroups; k++) {
    const n = Math.min(4, end - at);
    const v = digits(d, at, n);
    if (Number.isNaN(v)) throw NOT_BINARY;
    numeric[g++] = v * 10 ** (4 - n);
    at += n;
  }
  let first = 0;
  let last = g;
  while (first < last && numeric[first] === 0) first++;
  while (last > first && numeric[last - 1] === 0) last--;
  const ndigits = last - first;
  dv.setInt32(p, 8 + 2 * ndigits);
  dv.setInt16(p + 4, ndigits);
  dv.setInt16(p + 6, ndigits === 0 ? 0 : intGroups - 1 - first); // weight
  dv.setUint16(p + 8, neg && ndigits > 0 ? NUMERIC_NEG : 0);
  dv.setInt16(p + 10, fracDigits); // dscale
  p += 12;
  for (let k = first; k < last; k++, p += 2) dv.setInt16(p, numeric[k] as number);
  return p;
}

/**
 * Date (`YYYY-MM-DD`) or timestamp (`YYYY-MM-DD HH:MM:SS[.f]`) field of a date that is not a zero
 * date, at d[start, end); the position after it. Throws NOT_BINARY for a date the calendar lacks.
 */
export function putDateTime(date: boolean, dv: DataView, p: number, d: Buffer, start: number, end: number): number {
  const day = pgDay(d, start);
  if (date) {
    if (end - start !== 10) throw NOT_BINARY;
    dv.setInt32(p, 4);
    dv.setInt32(p + 4, day);
    return p + 8;
  }
  if (end - start < 19 || d[start + 10] !== 0x20) throw NOT_BINARY;
  const sec = clockSeconds(d, start + 11, start + 13);
  if (sec >= 86400) throw NOT_BINARY;
  dv.setInt32(p, 8);
  return setMicros(dv, p + 4, day * 86400 + sec, fractionMicros(d, start + 19, end));
}

/** A zero date as its column's encoder turned it: NULL, or -infinity (`v` is `-infinity`). */
function putZeroDate(date: boolean, dv: DataView, p: number, v: string | null): number {
  if (v === null) {
    dv.setInt32(p, -1);
    return p + 4;
  }
  if (date) {
    dv.setInt32(p, 4);
    dv.setInt32(p + 4, DATE_MINUS_INFINITY);
    return p + 8;
  }
  dv.setInt32(p, 8);
  dv.setBigInt64(p + 4, -9223372036854775808n);
  return p + 12;
}

/** Interval field of a MySQL TIME `[-]H+:MM:SS[.f]` at d[start, end): that many microseconds, no days or months. */
export function putInterval(dv: DataView, p: number, d: Buffer, start: number, end: number): number {
  const neg = d[start] === MINUS;
  const s = neg ? start + 1 : start;
  let colon = s;
  while (colon < end && d[colon] !== 0x3a) colon++;
  if (colon === s || colon + 6 > end) throw NOT_BINARY;
  const us = clockSeconds(d, s, colon) * 1e6 + fractionMicros(d, colon + 6, end);
  dv.setInt32(p, 16);
  p = setInt64(dv, p + 4, neg ? -us : us);
  dv.setInt32(p, 0); // days
  dv.setInt32(p + 4, 0); // months
  return p + 8;
}

/**
 * The encoder for a table's columns (in order, every column present) under a zero-date policy,
 * or null when a column's kind keeps the table in text format. `pk` are the key column indexes.
 */
export function copyBinaryRowsEncoder(columns: readonly ColumnSchema[], policy: ZeroDatePolicy, pk: readonly number[], pieceBytes = COPY_PIECE_BYTES): CopyBinaryRowsEncoder | null {
  const ops: Op[] = [];
  for (const c of columns) {
    const op = opOf(c);
    if (op === null) return null;
    ops.push(op);
  }
  const width = columns.length;
  return {
    encode(text: TextRows, stats: PgLossStats, pool?: PieceBuffers): Buffer[] | null {
      if (text.columns !== width) throw new Error(`text rows have ${text.columns} columns, the table ${width}`);
      const chunkStats: PgLossStats = { nulCharsStripped: 0, zeroDatesReplaced: 0 };
      // The value path for zero dates: the column's own encoder (type-map.ts).
      const encoders = columns.map((c, i) => (holdsZeroDates(c.type) ? pgEncoder(c, chunkStats, policy, pk.includes(i)) : null));
      const { buffers, rowBuffer, starts, ends, rowCount } = text;
      const pieces: Buffer[] = [];
      const newPiece = (n: number): Buffer => (pool && pool.pieceBytes === pieceBytes ? pool.take(n) : Buffer.allocUnsafe(Math.max(pieceBytes, n)));
      let b = newPiece(pieceBytes);
      let dv = new DataView(b.buffer, b.byteOffset, b.length);
      let cap = b.length;
      let p = 0;
      let cell = 0;
      let current = -1;
      let d: Buffer = EMPTY;
      let din = new DataView(d.buffer, d.byteOffset, d.length);
      const numeric = new Int16Array(48);
      /** A zero date through the column's pgEncoder: null or `-infinity` (counted), or its error under `fail`. */
      const viaEncoder = (j: number, src: Buffer, start: number, end: number): string | null => {
        const enc = encoders[j];
        if (!enc) throw new Error('no value encoder for the column');
        const v = enc(src.toString('latin1', start, end));
        return v === null ? null : String(v);
      };

      // The output buffer, its view and position stay locals of this loop (no closure writes them:
      // a captured variable is a context slot, and the loop ran at a third of the speed).
      try {
        p = startStream(b, dv);
        for (let r = 0; r < rowCount; r++) {
          const bi = rowBuffer[r] as number;
          if (bi !== current) {
            current = bi;
            d = buffers[bi] as Buffer;
            din = new DataView(d.buffer, d.byteOffset, d.length);
          }
          for (let j = 0; j < width; j++, cell++) {
            const start = starts[cell] as number;
            const end = ends[cell] as number;
            // Room for the field (and the row's field count before the first): the largest form
            // of any op is its length word + version/header bytes + the text's bytes, or a numeric
            // of 48 digits.
            const need = (j === 0 ? 2 : 0) + (start < 0 ? 4 : MAX_FIELD_OVERHEAD + (end - start));
            if (p + need > cap) {
              if (p > 0) pieces.push(b.subarray(0, p));
              b = newPiece(need);
              dv = new DataView(b.buffer, b.byteOffset, b.length);
              cap = b.length;
              p = 0;
            }
            if (j === 0) {
              dv.setInt16(p, width);
              p += 2;
            }
            if (start < 0) {
              dv.setInt32(p, -1);
              p += 4;
              continue;
            }
            const op = ops[j] as Op;
            switch (op) {
              case Op.Int2:
              case Op.Int4:
              case Op.Int8: {
                const neg = d[start] === MINUS;
                const n = end - start - (neg ? 1 : 0);
                let v: number | bigint = digits(d, neg ? start + 1 : start, n);
                if (Number.isNaN(v) || n < 1) throw NOT_BINARY;
                if (neg) v = -v;
                if (!Number.isSafeInteger(v)) v = BigInt(d.toString('latin1', start, end));
                if (op === Op.Int8) {
                  dv.setInt32(p, 8);
                  p += 4;
                  if (typeof v === 'bigint') {
                    dv.setBigInt64(p, v);
                    p += 8;
                  } else p = setInt64(dv, p, v);
                } else if (op === Op.Int4) {
                  dv.setInt32(p, 4);
                  dv.setInt32(p + 4, Number(v));
                  p += 8;
                } else {
                  dv.setInt32(p, 2);
                  dv.setInt16(p + 4, Number(v));
                  p += 6;
                }
                break;
              }
              case Op.Numeric:
                p = putNumeric(dv, p, d, start, end, numeric);
                break;
              case Op.Float8: {
                const v = Number(d.toString('latin1', start, end));
                if (Number.isNaN(v)) throw NOT_BINARY;
                dv.setInt32(p, 8);
                dv.setFloat64(p + 4, v);
                p += 12;
                break;
              }
              case Op.Date:
              case Op.Timestamp: {
                if (isZeroDate(d, start, end)) {
                  // null (written as NULL) or -infinity, counted; `fail` throws its error.
                  p = putZeroDate(op === Op.Date, dv, p, viaEncoder(j, d, start, end));
                  break;
                }
                p = putDateTime(op === Op.Date, dv, p, d, start, end);
                break;
              }
              case Op.Interval:
                p = putInterval(dv, p, d, start, end);
                break;
              case Op.Text:
              case Op.Bytes:
              case Op.Jsonb: {
                // The bytes as they are. Text holding U+0000 and JSON holding a `\u0000` escape
                // are refused by the server (binary text input is checked as UTF-8, where NUL is
                // invalid; jsonb has no U+0000), so such a chunk's COPY fails and it goes the
                // rows path, which removes them and counts them (pgEncoder) as the text path does.
                const n = end - start;
                const lenAt = p;
                p += 4;
                if (op === Op.Jsonb) b[p++] = 1; // jsonb version
                // Buffer#copy makes a typed-array view per call (Node 20): words up to a KiB are cheaper.
                if (n >= 1024) p += d.copy(b, p, start, end);
                else {
                  let i = start;
                  for (; i + 8 <= end; i += 8, p += 8) {
                    dv.setInt32(p, din.getInt32(i));
                    dv.setInt32(p + 4, din.getInt32(i + 4));
                  }
                  for (; i < end; i++) b[p++] = d[i] as number;
                }
                dv.setInt32(lenAt, p - lenAt - 4);
                break;
              }
            }
          }
        }
        endStream(pieces, b, p, newPiece);
      } catch (e) {
        if (e !== NOT_BINARY) throw e;
        pool?.give(pieces);
        return null;
      }
      return accepted(pieces, stats, chunkStats);
    },
  };
}

const EMPTY: Buffer = Buffer.alloc(0);


/**
 * pg_type names a target column may have for its binary form to be read as this file writes it:
 * the type pgColumnType creates (text kinds also as varchar: same binary form); null when the
 * kind keeps the table in text. A target table made by hand with other types (bigint for an INT,
 * say) takes the text format, which the server converts.
 */
export function binaryTypeNames(col: ColumnSchema): readonly string[] | null {
  const op = opOf(col);
  switch (op) {
    case null:
      return null;
    case Op.Int2:
      return ['int2'];
    case Op.Int4:
      return ['int4'];
    case Op.Int8:
      return ['int8'];
    case Op.Numeric:
      return ['numeric'];
    case Op.Float8:
      return ['float8'];
    case Op.Date:
      return ['date'];
    case Op.Timestamp:
      return [col.type.kind === 'timestamp' ? 'timestamptz' : 'timestamp'];
    case Op.Interval:
      return ['interval'];
    case Op.Text:
      return ['text', 'varchar'];
    case Op.Jsonb:
      return ['jsonb'];
    case Op.Bytes:
      return ['bytea'];
  }
}

/**
 * Writes the fields of a pending row (core/change.ts) straight from its source bytes
 * (pending-copy.ts), or refuses it: the encoder then writes the row from `materialize()`.
 */
export interface PendingFieldsWriter {
  /** Most bytes the row's fields (field count included) can take. */
  bound(row: PendingRow): number;
  /**
   * The position after the row's field count and fields written at `p`, or -1 (refused: the
   * bytes written past `p` are overwritten). May throw what the value encoders here throw.
   */
  write(row: PendingRow, b: Buffer, dv: DataView, p: number): number;
}

/** The fields writer for a pending row of every column in order, or null (the row is decoded). */
export type PendingFieldsWriters = (row: PendingRow) => PendingFieldsWriter | null;

/** Encodes rows of canonical values (the stream's rows) into COPY binary pieces. */
export interface CopyBinaryValuesEncoder {
  /**
   * The `present` columns of `rows` as one COPY binary stream (header to trailer) in pieces,
   * lossy-case counts added to `stats`; null when a present column's kind or a value has no
   * exact binary form here (then nothing was added to `stats` and the rows go as text).
   */
  encode(rows: readonly RowRef[], present: readonly number[], stats: PgLossStats, pool?: PieceBuffers): Buffer[] | null;
}

const INT2_MIN = -32768;
const INT2_MAX = 32767;
const INT4_MIN = -2147483648;
const INT4_MAX = 2147483647;
const INT8_MIN = -9223372036854775808n;
const INT8_MAX = 9223372036854775807n;
/** Longest text form of a numeric, date, timestamp or interval value taken here (the rest goes as text). */
const SCRATCH_BYTES = 256;

/** Buffer's UTF-8 writer without `Buffer#write`'s argument checks (as in quote.ts). */
const utf8WriteRaw = (Buffer.prototype as unknown as { utf8Write?: (s: string, offset: number) => number }).utf8Write;
function writeUtf8(b: Buffer, s: string, offset: number): number {
  return utf8WriteRaw !== undefined ? utf8WriteRaw.call(b, s, offset) : b.write(s, offset, 'utf8');
}

/**
 * Bytes to reserve for the UTF-8 of `s`: three per UTF-16 unit for short text (no scan), the
 * exact length for long text (a multi-MB value would otherwise reserve three times its size).
 */
function utf8Bound(s: string): number {
  return s.length <= 16384 ? s.length * 3 : Buffer.byteLength(s, 'utf8');
}

/**
 * The encoder of stream rows for a table's columns (`columns` all of them, in order; each encode
 * names the columns present) under a zero-date policy; `pk` are the key column indexes. The rows
 * PostgreSQL stores are the ones the COPY text path stores (pgCopyWriter): the lossy cases go
 * through the column's pgEncoder, which removes U+0000 (and `\u0000` from JSON) and replaces
 * zero dates, counting them, before anything is written; a value of an unexpected JS type, an
 * integer outside its column's range or a date the calendar lacks makes the rows go as text,
 * where the server reports it as before.
 */
export function copyBinaryValuesEncoder(
  columns: readonly ColumnSchema[],
  policy: ZeroDatePolicy,
  pk: readonly number[],
  pieceBytes = COPY_PIECE_BYTES,
  pending: PendingFieldsWriters | null = null,
): CopyBinaryValuesEncoder {
  const ops = columns.map(opOf);
  const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  const numeric = new Int16Array(48);
  return {
    encode(rows: readonly RowRef[], present: readonly number[], stats: PgLossStats, pool?: PieceBuffers): Buffer[] | null {
      const width = present.length;
      const opsP: Op[] = [];
      for (const i of present) {
        const op = ops[i];
        if (op === null || op === undefined) return null;
        opsP.push(op);
      }
      const chunkStats: PgLossStats = { nulCharsStripped: 0, zeroDatesReplaced: 0 };
      const encoders = present.map((i) => pgEncoder(columns[i] as ColumnSchema, chunkStats, policy, pk.includes(i)));
      const pieces: Buffer[] = [];
      const newPiece = (n: number): Buffer => (pool && pool.pieceBytes === pieceBytes ? pool.take(n) : Buffer.allocUnsafe(Math.max(pieceBytes, n)));
      let b = newPiece(pieceBytes);
      let dv = new DataView(b.buffer, b.byteOffset, b.length);
      let cap = b.length;
      let p = 0;
      // Pending rows of every column in order may be written from their source bytes.
      let fromBytes = pending !== null && width === columns.length;
      for (let j = 0; j < width && fromBytes; j++) fromBytes = present[j] === j;
      // As in copyBinaryRowsEncoder: the buffer, its view and position stay locals of this loop.
      try {
        p = startStream(b, dv);
        for (let r = 0; r < rows.length; r++) {
          const ref = rows[r] as RowRef;
          if (fromBytes && !Array.isArray(ref)) {
            const w = (pending as PendingFieldsWriters)(ref as PendingRow);
            if (w !== null) {
              const need = w.bound(ref as PendingRow);
              if (p + need > cap) {
                if (p > 0) pieces.push(b.subarray(0, p));
                b = newPiece(need);
                dv = new DataView(b.buffer, b.byteOffset, b.length);
                cap = b.length;
                p = 0;
              }
              const q = w.write(ref as PendingRow, b, dv, p);
              if (q >= 0) {
                p = q;
                continue;
              }
            }
          }
          // A pending image is decoded here: its values die with this row's encoding.
          const row = rowOf(ref);
          for (let j = 0; j < width; j++) {
            const v = row[present[j] as number];
            const op = opsP[j] as Op;
            // What the field is written from, and the most bytes it can take.
            let str = '';
            let bytes: Buffer = EMPTY;
            let need = 12;
            if (v === null || v === undefined) need = 4;
            else {
              switch (op) {
                case Op.Text:
                  str = typeof v === 'string' && !v.includes('\u0000') ? v : ((encoders[j] as PgEncoder)(v) as string);
                  need = 4 + utf8Bound(str);
                  break;
                case Op.Jsonb:
                  str = typeof v === 'string' && !v.includes('\\u0000') ? v : ((encoders[j] as PgEncoder)(v) as string);
                  need = 5 + utf8Bound(str);
                  break;
                case Op.Bytes:
                  bytes = Buffer.isBuffer(v) ? v : ((encoders[j] as PgEncoder)(v) as Buffer);
                  need = 4 + bytes.length;
                  break;
                case Op.Numeric:
                  if (typeof v === 'string') str = v;
                  else if (typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v))) str = String(v);
                  else throw NOT_BINARY;
                  need = MAX_FIELD_OVERHEAD;
                  break;
                case Op.Date:
                case Op.Timestamp:
                case Op.Interval:
                  if (typeof v !== 'string') throw NOT_BINARY;
                  str = v;
                  need = 20;
                  break;
              }
            }
            if (j === 0) need += 2;
            if (p + need > cap) {
              if (p > 0) pieces.push(b.subarray(0, p));
              b = newPiece(need);
              dv = new DataView(b.buffer, b.byteOffset, b.length);
              cap = b.length;
              p = 0;
            }
            if (j === 0) {
              dv.setInt16(p, width);
              p += 2;
            }
            if (v === null || v === undefined) {
              dv.setInt32(p, -1);
              p += 4;
              continue;
            }
            switch (op) {
              case Op.Int2:
              case Op.Int4:
              case Op.Int8: {
                let n: number;
                if (typeof v === 'number') {
                  if (!Number.isSafeInteger(v)) throw NOT_BINARY;
                  n = v;
                } else if (typeof v === 'bigint') {
                  if (op === Op.Int8) {
                    if (v < INT8_MIN || v > INT8_MAX) throw NOT_BINARY;
                    dv.setInt32(p, 8);
                    dv.setBigInt64(p + 4, v);
                    p += 12;
                    break;
                  }
                  n = Number(v);
                } else throw NOT_BINARY;
                if (op === Op.Int8) {
                  dv.setInt32(p, 8);
                  p = setInt64(dv, p + 4, n);
                } else if (op === Op.Int4) {
                  if (n < INT4_MIN || n > INT4_MAX) throw NOT_BINARY;
                  dv.setInt32(p, 4);
                  dv.setInt32(p + 4, n);
                  p += 8;
                } else {
                  if (n < INT2_MIN || n > INT2_MAX) throw NOT_BINARY;
                  dv.setInt32(p, 2);
                  dv.setInt16(p + 4, n);
                  p += 6;
                }
                break;
              }
              case Op.Float8:
                if (typeof v !== 'number') throw NOT_BINARY;
                dv.setInt32(p, 8);
                dv.setFloat64(p + 4, v);
                p += 12;
                break;
              case Op.Numeric:
              case Op.Date:
              case Op.Timestamp:
              case Op.Interval: {
                // The text form's bytes (UTF-8: anything but ASCII digits and signs fails to parse).
                if (str.length * 3 > SCRATCH_BYTES) throw NOT_BINARY;
                const n = writeUtf8(scratch, str, 0);
                if (op === Op.Numeric) p = putNumeric(dv, p, scratch, 0, n, numeric);
                else if (op === Op.Interval) p = putInterval(dv, p, scratch, 0, n);
                else if (isZeroDate(scratch, 0, n)) {
                  const z = (encoders[j] as PgEncoder)(v);
                  p = putZeroDate(op === Op.Date, dv, p, z === null ? null : String(z));
                } else p = putDateTime(op === Op.Date, dv, p, scratch, 0, n);
                break;
              }
              case Op.Text: {
                const n = writeUtf8(b, str, p + 4);
                dv.setInt32(p, n);
                p += 4 + n;
                break;
              }
              case Op.Jsonb: {
                b[p + 4] = 1; // jsonb version
                const n = writeUtf8(b, str, p + 5);
                dv.setInt32(p, n + 1);
                p += 5 + n;
                break;
              }
              case Op.Bytes: {
                const n = bytes.length;
                dv.setInt32(p, n);
                p += 4;
                if (n >= 64) b.set(bytes, p);
                else for (let i = 0; i < n; i++) b[p + i] = bytes[i] as number;
                p += n;
                break;
              }
            }
          }
        }
        endStream(pieces, b, p, newPiece);
      } catch (e) {
        if (e !== NOT_BINARY) throw e;
        pool?.give(pieces);
        return null;
      }
      return accepted(pieces, stats, chunkStats);
    },
  };
}
