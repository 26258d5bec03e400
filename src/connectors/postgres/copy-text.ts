/**
 * Snapshot rows in text form (core/text-rows.ts) → COPY text format, byte by byte.
 *
 * The output is exactly the bytes `pgCopyWriter` (type-map.ts) writes for the canonical values
 * the text stands for (test/unit/copy-text.test.ts and test/integration/snapshot-text.test.ts
 * hold it to that), without making those values: digits, decimals, dates and times are copied
 * as they are (leading zeros of integers dropped), text and JSON escaped in one pass, bytes
 * written as hex. Rare cases (zero dates, BIT, FLOAT/DOUBLE, integers with leading zeros) go
 * through the value writer, so the lossy cases and their counts stay in one place.
 *
 * Why one loop with a switch instead of a writer function per column: a call per field through
 * nine different closures, each going through the encoder object's bounds checks, cost about as
 * much as the bytes themselves. Here the output buffer and position are locals, the room for a
 * field is checked once, and each kind's code is inline. Bytes move in words: text eight or four
 * bytes at once when none needs escaping, hex four input bytes per two 32-bit stores (a 64 Ki
 * table of digit quadruples; the BLOB column's hex was the largest line of the loop in its profile).
 */
import type { Value } from '../../core/change.js';
import type { ZeroDatePolicy } from '../../core/config-types.js';
import type { ColumnSchema } from '../../core/schema.js';
import type { TextRows } from '../../core/text-rows.js';
import { COPY_PIECE_BYTES, CopyTextEncoder } from './quote.js';
import { pgCopyWriter, type PgLossStats } from './type-map.js';

const enum Op {
  /** Server-formatted ASCII needing no escaping: decimal, time. */
  Ascii,
  /** Integer digits: copied unless there are leading zeros. */
  Int,
  /** date, datetime: copied unless a zero date. */
  Date,
  /** timestamp: copied + `+00` unless a zero date. */
  Timestamp,
  /** string, enum, set: escaped, U+0000 stripped and counted. */
  TextStrip,
  /** uuid, inet: escaped. */
  Text,
  /** json: escaped, `\u0000` escapes removed and counted. */
  Json,
  /** binary, geometry: bytea hex. */
  Hex,
  /** float, double, bit: through the value writer. */
  Value,
}

const TAB = 0x09;
const NEWLINE = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const ZERO = 0x30;
const MINUS = 0x2d;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** Two hex digits of a byte as a little-endian uint16 (first digit in the low byte). */
const HEX_PAIRS = new Uint16Array(256);
for (let i = 0; i < 256; i++) HEX_PAIRS[i] = (HEX_DIGITS[i >> 4] as number) | ((HEX_DIGITS[i & 15] as number) << 8);
/** Four hex digits of two bytes (a little-endian uint16) as a little-endian uint32: 256 KiB, two bytes per lookup. */
const HEX_QUADS = new Uint32Array(65536);
for (let i = 0; i < 65536; i++) HEX_QUADS[i] = ((HEX_PAIRS[i & 255] as number) | ((HEX_PAIRS[i >>> 8] as number) << 16)) >>> 0;

/** Whether none of the four bytes of `x` is below 0x0e (NUL, tab, newline, CR) or a backslash (has-less-than / has-zero-byte word tests). */
function plain4(x: number): boolean {
  const y = x ^ 0x5c5c5c5c;
  return ((((x - 0x0e0e0e0e) & ~x) | ((y - 0x01010101) & ~y)) & 0x80808080) === 0;
}

function opOf(col: ColumnSchema): Op {
  switch (col.type.kind) {
    case 'decimal':
    case 'time':
      return Op.Ascii;
    case 'int':
    case 'year':
      return Op.Int;
    case 'date':
    case 'datetime':
      return Op.Date;
    case 'timestamp':
      return Op.Timestamp;
    case 'string':
    case 'enum':
    case 'set':
      return Op.TextStrip;
    case 'uuid':
    case 'inet4':
    case 'inet6':
      return Op.Text;
    case 'json':
      return Op.Json;
    case 'binary':
    case 'geometry':
      return Op.Hex;
    case 'float':
    case 'double':
    case 'bit':
      return Op.Value;
  }
}

/** The canonical value a text form stands for, for the value path (integers, FLOAT/DOUBLE, BIT, dates). */
function valueOf(col: ColumnSchema, d: Buffer, start: number, end: number): Value {
  switch (col.type.kind) {
    case 'int':
    case 'year': {
      const s = d.toString('latin1', start, end);
      const n = Number(s);
      return Number.isSafeInteger(n) ? n : BigInt(s);
    }
    case 'float':
    case 'double':
      return Number(d.toString('latin1', start, end));
    case 'bit':
      return Buffer.from(d.subarray(start, end));
    default:
      return d.toString('latin1', start, end);
  }
}

/** Whether the date text (`YYYY-MM-DD...`) is one PostgreSQL cannot store (type-map.ts isZeroDate, on bytes). */
export function isZeroDate(d: Buffer, start: number, end: number): boolean {
  const n = end - start;
  if (n >= 5 && d[start] === ZERO && d[start + 1] === ZERO && d[start + 2] === ZERO && d[start + 3] === ZERO && d[start + 4] === MINUS) return true;
  if (n >= 7 && d[start + 5] === ZERO && d[start + 6] === ZERO) return true;
  return n >= 10 && d[start + 8] === ZERO && d[start + 9] === ZERO;
}

/** Whether src[at, at + 5) is `u0000`. */
function isU0000(src: Buffer, at: number, end: number): boolean {
  return at + 5 <= end && src[at] === 0x75 && src[at + 1] === 0x30 && src[at + 2] === 0x30 && src[at + 3] === 0x30 && src[at + 4] === 0x30;
}

/**
 * Piece buffers given back once the server has them: a chunk's COPY text is a few MB, and
 * allocating it anew for every chunk made V8 collect garbage for the external memory alone.
 */
export class PieceBuffers {
  readonly #free: ArrayBuffer[] = [];
  constructor(
    readonly pieceBytes = COPY_PIECE_BYTES,
    private readonly keep = 64,
  ) {}

  /** A buffer of at least `n` bytes (`pieceBytes` unless `n` is larger). */
  take(n: number): Buffer {
    if (n <= this.pieceBytes) {
      const ab = this.#free.pop();
      if (ab) return Buffer.from(ab);
      return Buffer.allocUnsafe(this.pieceBytes); // larger than Node's pool: an ArrayBuffer of its own
    }
    return Buffer.allocUnsafe(n);
  }

  /**
   * Gives back the buffers under `pieces`. Only when nothing else can hold them any more: after
   * the server confirmed the COPY (every byte was handed to the socket before).
   */
  give(pieces: readonly Buffer[]): void {
    for (const p of pieces) {
      const ab = p.buffer;
      if (ab instanceof ArrayBuffer && ab.byteLength === this.pieceBytes && p.byteOffset === 0 && this.#free.length < this.keep && !this.#free.includes(ab)) this.#free.push(ab);
    }
  }
}

/** Encodes whole TextRows of one table into COPY text pieces. Not shared between chunks running at once. */
export interface CopyTextRowsEncoder {
  /** The chunk as COPY text pieces; lossy-case counts are added to `stats`. Pieces come from `pool` when given. */
  encode(text: TextRows, stats: PgLossStats, buffers?: PieceBuffers): Buffer[];
}

/**
 * The encoder for a table's columns (in order, every column present) under a zero-date policy.
 * `pk` are the key column indexes (a zero date in a key becomes `-infinity`, see TYPES.md).
 */
export function copyTextRowsEncoder(columns: readonly ColumnSchema[], policy: ZeroDatePolicy, pk: readonly number[], pieceBytes = COPY_PIECE_BYTES): CopyTextRowsEncoder {
  const ops = columns.map(opOf);
  const width = columns.length;
  return {
    encode(text: TextRows, stats: PgLossStats, pool?: PieceBuffers): Buffer[] {
      if (text.columns !== width) throw new Error(`text rows have ${text.columns} columns, the table ${width}`);
      // The value path for rare fields: the column's own COPY writer, into a small encoder.
      const valueWriters = columns.map((c, i) => pgCopyWriter(c, stats, policy, pk.includes(i)));
      const scratch = new CopyTextEncoder(256);
      const valueBytes = (col: number, d: Buffer, start: number, end: number): Buffer => {
        (valueWriters[col] as (typeof valueWriters)[number])(scratch, valueOf(columns[col] as ColumnSchema, d, start, end));
        const parts = scratch.finish();
        return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
      };
      const { buffers, rowBuffer, starts, ends, rowCount } = text;
      const pieces: Buffer[] = [];
      const newPiece = (n: number): Buffer => (pool && pool.pieceBytes === pieceBytes ? pool.take(n) : Buffer.allocUnsafe(Math.max(pieceBytes, n)));
      let b = newPiece(pieceBytes);
      let dv = new DataView(b.buffer, b.byteOffset, b.length);
      let cap = b.length;
      let p = 0;
      let nul = 0;
      let cell = 0;
      let current = -1;
      let d: Buffer = EMPTY;
      let din = new DataView(d.buffer, d.byteOffset, d.length);
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
          const op = ops[j] as Op;
          let value: Buffer | null = null;
          // Worst case of the field: separator + every byte escaped (text) or 2 hex digits + `\\x`.
          let need = start < 0 ? 3 : 4 + 2 * (end - start);
          if (start >= 0 && (op === Op.Value || ((op === Op.Date || op === Op.Timestamp) && isZeroDate(d, start, end)) || (op === Op.Int && hasLeadingZero(d, start, end)))) {
            value = valueBytes(j, d, start, end);
            need = 1 + value.length;
          }
          if (p + need > cap) {
            if (p > 0) pieces.push(b.subarray(0, p));
            b = newPiece(need + 1);
            dv = new DataView(b.buffer, b.byteOffset, b.length);
            cap = b.length;
            p = 0;
          }
          if (j > 0) b[p++] = TAB;
          if (start < 0) {
            b[p++] = BACKSLASH; // \N
            b[p++] = 0x4e;
            continue;
          }
          if (value !== null) {
            p += value.copy(b, p);
            continue;
          }
          // Bytes are moved eight or four at a time where they can (DataView reads and writes any offset).
          let i = start;
          switch (op) {
            case Op.Ascii:
            case Op.Int:
            case Op.Date:
            case Op.Timestamp:
              for (; i + 8 <= end; i += 8, p += 8) {
                dv.setInt32(p, din.getInt32(i, true), true);
                dv.setInt32(p + 4, din.getInt32(i + 4, true), true);
              }
              if (i + 4 <= end) {
                dv.setInt32(p, din.getInt32(i, true), true);
                i += 4;
                p += 4;
              }
              for (; i < end; i++) b[p++] = d[i] as number;
              if (op === Op.Timestamp) {
                b[p++] = 0x2b; // +00
                b[p++] = ZERO;
                b[p++] = ZERO;
              }
              break;
            case Op.TextStrip:
            case Op.Text:
            case Op.Json:
              while (i < end) {
                // Eight or four bytes at once when none is special (plain4).
                if (i + 8 <= end) {
                  const x = din.getInt32(i, true);
                  const z = din.getInt32(i + 4, true);
                  if (plain4(x) && plain4(z)) {
                    dv.setInt32(p, x, true);
                    dv.setInt32(p + 4, z, true);
                    p += 8;
                    i += 8;
                    continue;
                  }
                }
                if (i + 4 <= end) {
                  const x = din.getInt32(i, true);
                  if (plain4(x)) {
                    dv.setInt32(p, x, true);
                    p += 4;
                    i += 4;
                    continue;
                  }
                }
                const c = d[i] as number;
                if (c > CR && c !== BACKSLASH) {
                  b[p++] = c;
                  i++;
                  continue;
                }
                if (c === BACKSLASH) {
                  if (op !== Op.Json) {
                    b[p++] = BACKSLASH;
                    b[p++] = BACKSLASH;
                    i++;
                    continue;
                  }
                  // JSON: a run of backslashes; an odd run before `u0000` is a U+0000 escape,
                  // which jsonb refuses: it goes, with one backslash of the run. The rest are
                  // doubled for COPY.
                  let k = i;
                  while (k < end && d[k] === BACKSLASH) k++;
                  let keep = k - i;
                  let next = k;
                  if (keep % 2 === 1 && isU0000(d, k, end)) {
                    keep--;
                    next = k + 5;
                    nul++;
                  }
                  for (let m = 0; m < keep; m++) {
                    b[p++] = BACKSLASH;
                    b[p++] = BACKSLASH;
                  }
                  i = next;
                  continue;
                }
                i++;
                if (c === TAB) {
                  b[p++] = BACKSLASH;
                  b[p++] = 0x74; // t
                } else if (c === NEWLINE) {
                  b[p++] = BACKSLASH;
                  b[p++] = 0x6e; // n
                } else if (c === CR) {
                  b[p++] = BACKSLASH;
                  b[p++] = 0x72; // r
                } else if (c === 0 && op === Op.TextStrip) nul++;
                else b[p++] = c;
              }
              break;
            case Op.Hex:
              b[p++] = BACKSLASH; // `\\x`: COPY turns the doubled backslash into one
              b[p++] = BACKSLASH;
              b[p++] = 0x78;
              for (; i + 4 <= end; i += 4, p += 8) {
                const x = din.getUint32(i, true);
                dv.setUint32(p, HEX_QUADS[x & 0xffff] as number, true);
                dv.setUint32(p + 4, HEX_QUADS[x >>> 16] as number, true);
              }
              if (i + 2 <= end) {
                dv.setUint32(p, HEX_QUADS[din.getUint16(i, true)] as number, true);
                i += 2;
                p += 4;
              }
              if (i < end) {
                dv.setUint16(p, HEX_PAIRS[d[i] as number] as number, true);
                p += 2;
              }
              break;
            case Op.Value:
              break; // handled above
          }
        }
        if (p + 1 > cap) {
          pieces.push(b.subarray(0, p));
          b = newPiece(pieceBytes);
          dv = new DataView(b.buffer, b.byteOffset, b.length);
          cap = b.length;
          p = 0;
        }
        b[p++] = NEWLINE;
      }
      if (p > 0) pieces.push(b.subarray(0, p));
      stats.nulCharsStripped += nul;
      return pieces;
    },
  };
}

const EMPTY: Buffer = Buffer.alloc(0);

/** Integer text with a leading zero other than `0` itself (ZEROFILL, YEAR `0000`, `-0`). */
function hasLeadingZero(d: Buffer, start: number, end: number): boolean {
  const lead = d[start] === MINUS ? start + 1 : start;
  return d[lead] === ZERO && !(lead === start && end - start === 1);
}
