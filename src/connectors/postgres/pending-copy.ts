import { isUtf8 } from 'node:buffer';
import type { PendingRow } from '../../core/change.js';
import { REFUSE_NUL, REFUSE_U0000_ESCAPE, utf8Clean } from '../../core/utf8.js';
import type { ColumnSchema } from '../../core/schema.js';
import {
  bindGenerated,
  copyCode,
  intOp,
  lengthExpr,
  lit,
  OP_BLOB_BYTES,
  OP_BLOB_UTF8,
  OP_DATE,
  OP_DATETIME2,
  OP_DECIMAL,
  OP_DOUBLE,
  OP_ENUM,
  OP_LONGLONG,
  OP_TIME2,
  OP_TIMESTAMP2,
  OP_VARSTR_UTF8,
  PendingImage,
  POST_NONE,
  readBlobLength,
  SHORT_VALUE_BYTES,
  truncatedValue,
  type ColPlan,
  type RowsPlan,
} from '../mysql/binlog/rows.js';
import { readDate, readDecimal, readTime2, readTimestamp2 } from '../mysql/binlog/values.js';
import { binaryTypeNames, daysFromCivil, daysInMonth, PG_EPOCH_DAYS, putDateTime, putInterval, putNumeric, setMicros, type PendingFieldsWriter, type PendingFieldsWriters } from './copy-binary.js';
import { isZeroDate } from './copy-text.js';

/**
 * Pending MySQL binlog images (mysql/binlog/rows.ts `PendingImage`) written as COPY binary fields
 * (copy-binary.ts) straight from their bytes, as the MariaDB sink writes them as bulk parameters
 * (mysql/pending-bulk.ts): no JS value per column, no string turned back into UTF-8.
 *
 * The fields are the ones copyBinaryValuesEncoder writes for `materialize()`'s values, byte for
 * byte: integers, doubles, UTF-8 text, JSON text and bytes are copied (integers big-endian,
 * widened to the column's PostgreSQL type), ENUM labels come encoded once per table map, and
 * DECIMAL and temporal values go from the decoder's own text form through the same field
 * encoders. A row whose values the text path would change or count — U+0000 in text (removed),
 * `\u0000` in JSON, a zero date (the zero-date policy), text that is not valid UTF-8 (U+FFFD) —
 * is refused and written from its decoded values, so those cases and their counts stay in one
 * place. A table with a column type not listed here (other charsets, SET, BIT, YEAR, VARBINARY,
 * binary JSON, BIGINT UNSIGNED, ...) has no writer: its rows are decoded as before.
 */
export function pendingCopyWriters(columns: readonly ColumnSchema[]): PendingFieldsWriters {
  const pg = columns.map((c) => binaryTypeNames(c)?.[0] ?? null);
  const byPlan = new WeakMap<RowsPlan, PendingFieldsWriter | null>();
  return (row: PendingRow): PendingFieldsWriter | null => {
    if (!(row instanceof PendingImage)) return null;
    let w = byPlan.get(row.plan);
    if (w === undefined) {
      w = row.plan.cols.length === pg.length ? generate(row.plan.cols, pg) : null;
      byPlan.set(row.plan, w);
    }
    return w;
  };
}

/** Text of the decoder's reader `s` (ASCII, at most 67 characters) into scratch; its length. */
const TO_SCRATCH = `const n = s.length; for (let k = 0; k < n; k++) S[k] = s.charCodeAt(k);`;

/** Copies `buf[p, p + n)` to `b[q]` and moves both past it. */
const COPY = copyCode('b');

/** Reads a length-prefixed value's length `n` and checks its bounds. */
function lengthCode(c: ColPlan): string {
  return `const n = ${lengthExpr(c.m1)}; p += ${lit(c.m1)}; if (p + n > end) throw truncatedValue();`;
}

/** Code writing non-null column `i` (PostgreSQL type `pg`) at `q`, with the bytes it may take beyond the value's; null when there is none. */
function fieldCode(c: ColPlan, i: number, pg: string | null): { code: string; extra: number } | null {
  if (c.post !== POST_NONE || pg === null) return null;
  const int = intOp(c.op);
  if (int !== null && int.expr !== null) {
    const v = `const v = ${int.expr}; p += ${lit(int.size)};`;
    switch (pg) {
      case 'int2':
        return { code: `{ ${v} if (v < -32768 || v > 32767) return -1; dv.setInt32(q, 2); dv.setInt16(q + 4, v); q += 6; }`, extra: 6 };
      case 'int4':
        return { code: `{ ${v} if (v < -2147483648 || v > 2147483647) return -1; dv.setInt32(q, 4); dv.setInt32(q + 4, v); q += 8; }`, extra: 8 };
      case 'int8':
        return { code: `{ ${v} dv.setInt32(q, 8); dv.setInt32(q + 4, v < 0 ? -1 : 0); dv.setUint32(q + 8, v >>> 0); q += 12; }`, extra: 12 };
      default:
        return null;
    }
  }
  switch (c.op) {
    case OP_LONGLONG: {
      if (pg !== 'int8') return null;
      // The same 8 bytes, big-endian.
      const bytes = Array.from({ length: 8 }, (_, k) => `b[q + ${lit(4 + k)}] = buf[p + ${lit(7 - k)}];`).join(' ');
      return { code: `{ dv.setInt32(q, 8); ${bytes} q += 12; p += 8; }`, extra: 12 };
    }
    case OP_DOUBLE:
      if (pg !== 'float8') return null;
      return { code: `{ dv.setInt32(q, 8); dv.setFloat64(q + 4, buf.readDoubleLE(p)); q += 12; p += 8; }`, extra: 12 };
    case OP_DECIMAL:
      if (pg !== 'numeric' || c.m1 > 65) return null;
      return { code: `{ const s = readDecimal(buf, p, ${lit(c.m1)}, ${lit(c.m2)}); p += ${lit(c.size)}; ${TO_SCRATCH} q = putNumeric(dv, q, S, 0, n, NUM); }`, extra: 12 + 2 * 48 };
    case OP_DATE:
      if (pg !== 'date') return null;
      return { code: `{ const s = readDate(buf, p); p += 3; ${TO_SCRATCH} if (isZeroDate(S, 0, n)) return -1; q = putDateTime(true, dv, q, S, 0, n); }`, extra: 8 };
    case OP_DATETIME2:
      if (pg !== 'timestamp' && pg !== 'timestamptz') return null;
      return { code: `{ q = putDatetime2(dv, q, buf, p, ${lit(c.m1)}); if (q < 0) return -1; p += ${lit(c.size)}; }`, extra: 12 };
    case OP_TIMESTAMP2:
      if (pg !== 'timestamp' && pg !== 'timestamptz') return null;
      return { code: `{ const s = readTimestamp2(buf, p, ${lit(c.m1)}); p += ${lit(c.size)}; ${TO_SCRATCH} if (isZeroDate(S, 0, n)) return -1; q = putDateTime(false, dv, q, S, 0, n); }`, extra: 12 };
    case OP_TIME2:
      if (pg !== 'interval') return null;
      return { code: `{ const s = readTime2(buf, p, ${lit(c.m1)}); p += ${lit(c.size)}; ${TO_SCRATCH} q = putInterval(dv, q, S, 0, n); }`, extra: 20 };
    case OP_ENUM: {
      if (pg !== 'text' || c.labels === null) return null;
      const longest = Math.max(0, ...c.labels.map((l) => Buffer.byteLength(l)));
      const idx = c.m1 === 1 ? `buf[p]` : `(buf[p] | (buf[p + 1] << 8))`;
      return {
        code: `{ const x = ${idx}; p += ${lit(c.m1)}; const l = x === 0 ? EMPTY : (E${lit(i)}[x - 1] ?? EMPTY); const n = l.length; dv.setInt32(q, n); q += 4; for (let k = 0; k < n; k++) b[q + k] = l[k]; q += n; }`,
        extra: 4 + longest,
      };
    }
    case OP_VARSTR_UTF8:
    case OP_BLOB_UTF8:
      if (pg === 'text') {
        // U+0000 (removed by the text path) and text that is not UTF-8 (U+FFFD) are refused:
        // checked by a JS loop up to SHORT_VALUE_BYTES, by indexOf and isUtf8 above.
        return {
          code:
            `{ ${lengthCode(c)} if (n <= ${lit(SHORT_VALUE_BYTES)} ? !utf8Clean(buf, p, p + n, ${lit(REFUSE_NUL)}) : !nativeClean(buf, p, n, false)) return -1; ` +
            `dv.setInt32(q, n); q += 4; ${COPY} }`,
          extra: 4,
        };
      }
      if (pg === 'jsonb' && c.op === OP_BLOB_UTF8) {
        // JSON text as jsonb (version 1, then the text); `\\u0000`, which the text path
        // removes, and text that is not UTF-8 are refused.
        return {
          code:
            `{ ${lengthCode(c)} if (n <= ${lit(SHORT_VALUE_BYTES)} ? !utf8Clean(buf, p, p + n, ${lit(REFUSE_U0000_ESCAPE)}) : !nativeClean(buf, p, n, true)) return -1; ` +
            `dv.setInt32(q, n + 1); b[q + 4] = 1; q += 5; ${COPY} }`,
          extra: 5,
        };
      }
      return null;
    case OP_BLOB_BYTES:
      if (pg !== 'bytea') return null;
      return { code: `{ ${lengthCode(c)} dv.setInt32(q, n); q += 4; ${COPY} }`, extra: 4 };
    default:
      return null;
  }
}

const EMPTY = Buffer.alloc(0);
const U0000 = Buffer.from('\\u0000', 'latin1');

/**
 * The timestamp field of the DATETIME2 at `buf[p]` (values.ts readDatetime2 gives its text)
 * without that text: what putDateTime writes for it. -1 for what the text path treats otherwise:
 * a zero or partial-zero date (the zero-date policy), a date or time the calendar lacks, a
 * fraction past 999999 or a value below the offset (both only in corrupt data).
 */
function putDatetime2(dv: DataView, q: number, buf: Buffer, p: number, fsp: number): number {
  const b0 = buf[p] as number;
  if ((b0 & 0x80) === 0) return -1;
  const lo = (((buf[p + 1] as number) << 24) | ((buf[p + 2] as number) << 16) | ((buf[p + 3] as number) << 8) | (buf[p + 4] as number)) >>> 0;
  const hms = lo & 0x1ffff;
  const ymd = (b0 & 0x7f) * 32768 + (lo >>> 17);
  const ym = ymd >>> 5;
  const year = Math.floor(ym / 13);
  const month = ym % 13;
  const day = ymd & 31;
  const hour = hms >>> 12;
  const min = (hms >>> 6) & 63;
  const sec = hms & 63;
  if (year < 1 || year > 9999 || month < 1 || day < 1 || day > daysInMonth(year, month) || hour > 23 || min > 59 || sec > 59) return -1;
  let micros = 0;
  const f = p + 5;
  switch ((fsp + 1) >> 1) {
    case 1:
      micros = (buf[f] as number) * 10000;
      break;
    case 2:
      micros = (((buf[f] as number) << 8) | (buf[f + 1] as number)) * 100;
      break;
    case 3:
      micros = ((buf[f] as number) << 16) | ((buf[f + 1] as number) << 8) | (buf[f + 2] as number);
      break;
  }
  if (micros > 999999) return -1;
  // The text keeps `fsp` digits of the fraction.
  const unit = FRACTION_UNIT[fsp] ?? 1;
  micros = Math.floor(micros / unit) * unit;
  dv.setInt32(q, 8);
  return setMicros(dv, q + 4, (daysFromCivil(year, month, day) - PG_EPOCH_DAYS) * 86400 + hour * 3600 + min * 60 + sec, micros);
}

/** Microseconds per last kept digit of a fraction of `fsp` digits. */
const FRACTION_UNIT = [1000000, 100000, 10000, 1000, 100, 10, 1];

/** utf8Clean for long values, natively: text without U+0000, or JSON without `\\u0000`. */
function nativeClean(buf: Buffer, p: number, n: number, json: boolean): boolean {
  if (json) {
    const t = Buffer.from(buf.buffer, buf.byteOffset + p, n);
    return t.indexOf(U0000) === -1 && isUtf8(t);
  }
  // Short text: a plain view's indexOf (a Buffer's costs ~40 ns more); long: the Buffer's (memchr).
  const t = n <= 256 ? new Uint8Array(buf.buffer, buf.byteOffset + p, n) : Buffer.from(buf.buffer, buf.byteOffset + p, n);
  return t.indexOf(0) === -1 && isUtf8(t);
}
type FieldsFn = (buf: Buffer, p: number, end: number, b: Buffer, dv: DataView, q: number, S: Buffer, NUM: Int16Array) => number;

class ImageFieldsWriter implements PendingFieldsWriter {
  readonly #scratch = Buffer.allocUnsafe(80);
  readonly #numeric = new Int16Array(48);
  constructor(
    private readonly extra: number,
    private readonly fn: FieldsFn,
  ) {}

  bound(row: PendingRow): number {
    const img = row as PendingImage;
    return img.end - img.start + this.extra;
  }

  write(row: PendingRow, b: Buffer, dv: DataView, q: number): number {
    const img = row as PendingImage;
    try {
      return this.fn(img.buf, img.start, img.end, b, dv, q, this.#scratch, this.#numeric);
    } catch (e) {
      // A truncated image: decoded, the row reports it as the coded error.
      if (e instanceof RangeError) return -1;
      throw e;
    }
  }
}

function generate(cols: readonly ColPlan[], pg: readonly (string | null)[]): ImageFieldsWriter | null {
  const n = cols.length;
  if (n > 32767) return null;
  const nb = (n + 7) >> 3;
  const names = ['EMPTY', 'utf8Clean', 'nativeClean', 'isZeroDate', 'readBlobLength', 'truncatedValue', 'readDecimal', 'readDate', 'readTimestamp2', 'readTime2', 'putNumeric', 'putDateTime', 'putInterval', 'putDatetime2'];
  const args: unknown[] = [EMPTY, utf8Clean, nativeClean, isZeroDate, readBlobLength, truncatedValue, readDecimal, readDate, readTimestamp2, readTime2, putNumeric, putDateTime, putInterval, putDatetime2];
  let extra = 2;
  const code: string[] = [`dv.setInt16(q, ${lit(n)}); q += 2;`];
  for (let b = 0; b < nb; b++) code.push(`const n${lit(b)} = buf[p + ${lit(b)}];`);
  code.push(`p += ${lit(nb)};`);
  for (let i = 0; i < n; i++) {
    const c = cols[i] as ColPlan;
    const f = fieldCode(c, i, pg[i] ?? null);
    if (f === null) return null;
    if (c.op === OP_ENUM) {
      names.push(`E${lit(i)}`);
      args.push((c.labels ?? []).map((l) => Buffer.from(l, 'utf8')));
    }
    extra += Math.max(4, f.extra);
    code.push(`if ((n${lit(i >> 3)} & ${lit(1 << (i & 7))}) !== 0) { dv.setInt32(q, -1); q += 4; } else ${f.code}`);
  }
  const body = [`'use strict';`, `return function writePendingCopy(buf, p, end, b, dv, q, S, NUM) {`, ...code, `if (p !== end) throw truncatedValue();`, `return q;`, `};`].join('\n');
  return new ImageFieldsWriter(extra, bindGenerated<FieldsFn>(names, args, body));
}
