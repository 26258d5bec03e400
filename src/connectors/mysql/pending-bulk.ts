import { isUtf8 } from 'node:buffer';
import { utf8Clean } from '../../core/utf8.js';
import {
  bindGenerated,
  copyCode,
  decodeValue,
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
  OP_FLOAT,
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
} from './binlog/rows.js';
import { readDate, readDatetime2, readDecimal, readTime2, readTimestamp2 } from './binlog/values.js';
import { BULK_BYTES, BULK_DOUBLE, BULK_INT, BULK_TEXT, BULK_UINT64, type MySqlStatementBuffer } from './quote.js';

/**
 * Pending row images (binlog/rows.ts `PendingImage`) written as the parameters of a bulk row
 * (quote.ts `MySqlStatementBuffer.param`) straight from their binlog bytes, without decoding
 * them into JS values first.
 *
 * A pending image reaches the MariaDB sink as the bytes the source logged. Decoded, every text
 * value became a JS string that `param` turned back into the same UTF-8 bytes, and every
 * integer a number written back as the same bytes widened to 8. Here UTF-8 text, bytes and
 * integers are copied, and the values whose text form differs from their binlog form (DECIMAL,
 * temporal types) are read by the decoder's own functions. Columns of other types (other
 * charsets, SET, BIT, YEAR, binary JSON, UUID/INET, ...) or whose parameter kind is not their
 * natural one go through `decodeValue` and `param` as before, inside the same row. The
 * parameters are the ones `param(materialize()[i], kind)` writes, with one difference that the
 * server does not see: a text's length prefix is sized by its bytes rather than by its longest
 * encoding.
 *
 * Text that is not valid UTF-8 would have been decoded to U+FFFD; such a row is refused here
 * (`write` returns false, nothing written) and the caller writes it from its decoded values.
 */

/** The generated writer of one image: the end of the parameters in `out`, or -1 (refused). */
type ImageWriter = (buf: Buffer, p: number, end: number, sb: MySqlStatementBuffer, out: Buffer, q: number, st: Uint8Array) => number;

export class PendingBulkWriter {
  /** Whether the last row written holds an ENUM index 0 in one of the `enumZero` columns. */
  enumZero = false;
  readonly #st = new Uint8Array(1);

  constructor(
    /** Bytes the parameters may take beyond the image's own length. */
    private readonly extra: number,
    private readonly fn: ImageWriter,
  ) {}

  /**
   * Writes the image's parameters at the end of `sb`'s bulk packet. False, with `sb` as it was,
   * when the row has a value this writer does not copy (invalid UTF-8, a non-finite float) or
   * its bytes are truncated: the caller then writes it from `materialize()`, which reports
   * truncation as the coded error.
   */
  write(img: PendingImage, sb: MySqlStatementBuffer): boolean {
    const m = sb.mark();
    const st = this.#st;
    st[0] = 0;
    let q: number;
    try {
      q = this.fn(img.buf, img.start, img.end, sb, sb.room(img.end - img.start + this.extra), m, st);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      q = -1;
    }
    if (q < 0) {
      sb.truncate(m);
      return false;
    }
    sb.commit(q);
    this.enumZero = st[0] === 1;
    return true;
  }
}

/**
 * The writer for images of `plan` whose parameters are every column in order with `kinds`
 * (quote.ts BULK_*); `enumZero` flags the ENUM columns whose index 0 the caller must know of.
 * Cached on the plan per signature.
 */
export function pendingBulkWriter(plan: RowsPlan, kinds: Uint8Array, enumZero: readonly number[]): PendingBulkWriter | null {
  if (kinds.length !== plan.cols.length) return null;
  const sig = `${kinds.join(',')}|${enumZero.join(',')}`;
  const cache = (plan.bulk ??= new Map()) as Map<string, PendingBulkWriter | null>;
  let w = cache.get(sig);
  if (w === undefined) {
    w = generate(plan.cols, kinds, new Set(enumZero));
    cache.set(sig, w);
  }
  return w;
}

/** Whether a pending row is a binlog image this module can write (others are decoded). */
export function isPendingImage(r: unknown): r is PendingImage {
  return r instanceof PendingImage;
}

/** Text of at most 250 ASCII characters `s` (DECIMAL, temporal): indicator, length, bytes. */
const ASCII_PARAM = `out[q] = 0; out[q + 1] = s.length; q += 2; for (let k = 0; k < s.length; k++) out[q + k] = s.charCodeAt(k); q += s.length;`;

/** A length-encoded byte count `n` at `q` (the form quote.ts writes for bytes). */
const LENENC = `if (n < 251) out[q++] = n; else if (n < 65536) { out[q] = 0xfc; out[q + 1] = n & 255; out[q + 2] = n >> 8; q += 3; } else { out[q] = 0xfe; out.writeUInt32LE(n, q + 1); out.writeUInt32LE(0, q + 5); q += 9; }`;

/** Copies `buf[p, p + n)` to `out[q]`. */
const COPY = copyCode('out');

/**
 * Code that writes the parameter of non-null column `i` at `q` and moves `p` past its value,
 * with the bytes it may write beyond the value's own; null when `decodeValue` and `param` must.
 */
function fastCode(c: ColPlan, i: number, kind: number, zero: boolean): { code: string; extra: number } | null {
  if (c.post !== POST_NONE) return null;
  const int = intOp(c.op);
  if (int !== null) {
    const natural = int.size === 8 && !int.signed ? BULK_UINT64 : BULK_INT;
    if (kind !== natural) return null;
    const lines = [`out[q] = 0;`];
    for (let b = 0; b < int.size; b++) lines.push(`out[q + ${lit(1 + b)}] = buf[p + ${lit(b)}];`);
    if (int.size < 8) {
      lines.push(int.signed ? `const x = (buf[p + ${lit(int.size - 1)}] & 128) !== 0 ? 255 : 0;` : `const x = 0;`);
      for (let b = int.size; b < 8; b++) lines.push(`out[q + ${lit(1 + b)}] = x;`);
    }
    lines.push(`q += 9; p += ${lit(int.size)};`);
    return { code: `{ ${lines.join(' ')} }`, extra: 9 };
  }
  switch (c.op) {
    case OP_FLOAT:
      if (kind !== BULK_DOUBLE) return null;
      return { code: `{ const v = buf.readFloatLE(p); if (!Number.isFinite(v)) return -1; out[q] = 0; out.writeDoubleLE(v, q + 1); q += 9; p += 4; }`, extra: 9 };
    case OP_DOUBLE:
      if (kind !== BULK_DOUBLE) return null;
      return { code: `{ const v = buf.readDoubleLE(p); if (!Number.isFinite(v)) return -1; out[q] = 0; out.writeDoubleLE(v, q + 1); q += 9; p += 8; }`, extra: 9 };
    case OP_DECIMAL:
      if (kind !== BULK_TEXT || c.m1 > 65) return null;
      return { code: `{ const s = readDecimal(buf, p, ${lit(c.m1)}, ${lit(c.m2)}); p += ${lit(c.size)}; ${ASCII_PARAM} }`, extra: c.m1 + 5 };
    case OP_DATE:
      if (kind !== BULK_TEXT) return null;
      return { code: `{ const s = readDate(buf, p); p += 3; ${ASCII_PARAM} }`, extra: 40 };
    case OP_DATETIME2:
      if (kind !== BULK_TEXT) return null;
      return { code: `{ const s = readDatetime2(buf, p, ${lit(c.m1)}); p += ${lit(c.size)}; ${ASCII_PARAM} }`, extra: 40 };
    case OP_TIMESTAMP2:
      if (kind !== BULK_TEXT) return null;
      return { code: `{ const s = readTimestamp2(buf, p, ${lit(c.m1)}); p += ${lit(c.size)}; ${ASCII_PARAM} }`, extra: 40 };
    case OP_TIME2:
      if (kind !== BULK_TEXT) return null;
      return { code: `{ const s = readTime2(buf, p, ${lit(c.m1)}); p += ${lit(c.size)}; ${ASCII_PARAM} }`, extra: 40 };
    case OP_ENUM: {
      if (kind !== BULK_TEXT || c.labels === null) return null;
      const longest = Math.max(0, ...c.labels.map((l) => Buffer.byteLength(l)));
      const idx = c.m1 === 1 ? `buf[p]` : `(buf[p] | (buf[p + 1] << 8))`;
      return {
        code:
          `{ const x = ${idx}; p += ${lit(c.m1)}; const l = x === 0 ? EMPTY : (E${lit(i)}[x - 1] ?? EMPTY); ` +
          (zero ? `if (l.length === 0) st[0] = 1; ` : '') +
          `out[q++] = 0; const n = l.length; ${LENENC} for (let k = 0; k < n; k++) out[q + k] = l[k]; q += n; }`,
        extra: longest + 10,
      };
    }
    case OP_VARSTR_UTF8:
    case OP_BLOB_UTF8:
      if (kind !== BULK_TEXT) return null;
      // Text that would decode to U+FFFD is refused: checked by a JS loop up to
      // SHORT_VALUE_BYTES, by isUtf8 with a view above.
      return {
        code:
          `{ const n = ${lengthExpr(c.m1)}; p += ${lit(c.m1)}; if (p + n > end) throw truncatedValue(); ` +
          `if (n <= ${lit(SHORT_VALUE_BYTES)} ? !utf8Clean(buf, p, p + n, 0) : !isUtf8(new Uint8Array(buf.buffer, buf.byteOffset + p, n))) return -1; ` +
          `out[q++] = 0; ${LENENC} ${COPY} }`,
        extra: 10,
      };
    case OP_BLOB_BYTES:
      if (kind !== BULK_BYTES) return null;
      return {
        code: `{ const n = ${lengthExpr(c.m1)}; p += ${lit(c.m1)}; if (p + n > end) throw truncatedValue(); out[q++] = 0; ${LENENC} ${COPY} }`,
        extra: 10,
      };
    default:
      return null;
  }
}

const EMPTY = Buffer.alloc(0);

function generate(cols: readonly ColPlan[], kinds: Uint8Array, enumZero: ReadonlySet<number>): PendingBulkWriter {
  const n = cols.length;
  const nb = (n + 7) >> 3;
  const names = ['EMPTY', 'isUtf8', 'utf8Clean', 'decodeValue', 'readBlobLength', 'truncatedValue', 'readDecimal', 'readDate', 'readDatetime2', 'readTimestamp2', 'readTime2'];
  const args: unknown[] = [EMPTY, isUtf8, utf8Clean, decodeValue, readBlobLength, truncatedValue, readDecimal, readDate, readDatetime2, readTimestamp2, readTime2];
  let extra = 0;
  const code: string[] = [];
  for (let b = 0; b < nb; b++) code.push(`const n${lit(b)} = buf[p + ${lit(b)}];`);
  code.push(`p += ${lit(nb)};`);
  for (let i = 0; i < n; i++) {
    const c = cols[i] as ColPlan;
    const kind = kinds[i] as number;
    const isNull = `(n${lit(i >> 3)} & ${lit(1 << (i & 7))}) !== 0`;
    const fast = fastCode(c, i, kind, enumZero.has(i));
    if (fast !== null) {
      if (c.op === OP_ENUM) {
        names.push(`E${lit(i)}`);
        args.push((c.labels ?? []).map((l) => Buffer.from(l, 'utf8')));
      }
      extra += fast.extra;
      code.push(`if (${isNull}) out[q++] = 1; else ${fast.code}`);
    } else {
      // Decoded and written by `param` into the packet itself, which may grow: take the buffer anew.
      names.push(`C${lit(i)}`);
      args.push(c);
      extra += 1;
      const zero = enumZero.has(i) ? ` if (T[0] === '') st[0] = 1;` : '';
      code.push(
        `if (${isNull}) out[q++] = 1; else { p = decodeValue(C${lit(i)}, buf, p, end, T, 0);${zero} sb.commit(q); if (!sb.param(T[0], ${lit(kind)})) return -1; q = sb.mark(); out = sb.room(end - p + EXTRA); }`,
      );
    }
  }
  const body = [
    `'use strict';`,
    `const T = [null];`,
    `return function writePendingBulk(buf, p, end, sb, out, q, st) {`,
    ...code,
    `if (p !== end) throw truncatedValue();`,
    `return q;`,
    `};`,
  ]
    .join('\n')
    .replaceAll('EXTRA', lit(extra));
  return new PendingBulkWriter(extra, bindGenerated<ImageWriter>(names, args, body));
}
