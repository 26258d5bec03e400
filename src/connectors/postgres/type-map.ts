/**
 * LogicalType → PostgreSQL column type, and canonical Value → PostgreSQL input text.
 * TYPES.md (next to this file) is the human version of this file, with every lossy case.
 */
import type { Value } from '../../core/change.js';
import { FerryError } from '../../core/errors.js';
import type { ColumnSchema, LogicalType } from '../../core/schema.js';
import type { ZeroDatePolicy } from '../../core/config-types.js';
import type { CopyTextEncoder } from './quote.js';

/** Whether a column of this type can hold a MySQL zero or partial-zero date. */
export function holdsZeroDates(t: LogicalType): boolean {
  return t.kind === 'date' || t.kind === 'datetime' || t.kind === 'timestamp';
}

/**
 * Whether the PostgreSQL column is created NOT NULL: as the source, except that under the `null`
 * zero-date policy a non-key date/datetime/timestamp column is nullable (the source can hold
 * zero dates in it whatever its NOT NULL says).
 */
export function pgNotNull(col: ColumnSchema, isKey: boolean, zeroDate: ZeroDatePolicy = 'null'): boolean {
  if (isKey) return true;
  if (col.nullable) return false;
  return !(zeroDate === 'null' && holdsZeroDates(col.type));
}

/** PostgreSQL's varchar(n) limit; longer MySQL strings become text. */
const PG_MAX_VARCHAR = 10_485_760;

/** The PostgreSQL type for a column (without nullability). */
export function pgColumnType(t: LogicalType): string {
  switch (t.kind) {
    case 'int':
      // The smallest PostgreSQL integer that holds the whole MySQL range.
      switch (t.bits) {
        case 8:
          return 'smallint';
        case 16:
          return t.unsigned ? 'integer' : 'smallint';
        case 24:
          return 'integer';
        case 32:
          return t.unsigned ? 'bigint' : 'integer';
        case 64:
          return t.unsigned ? 'numeric(20,0)' : 'bigint';
      }
      break;
    case 'decimal':
      return `numeric(${t.precision},${t.scale})`;
    case 'float':
      return 'real';
    case 'double':
      return 'double precision';
    case 'bit':
      return `bit varying(${Math.max(1, t.bits)})`;
    case 'year':
      return 'smallint';
    case 'date':
      return 'date';
    case 'datetime':
      return `timestamp(${t.fsp}) without time zone`;
    case 'timestamp':
      return `timestamp(${t.fsp}) with time zone`;
    case 'time':
      return 'interval';
    case 'string':
      if (t.lob || t.maxChars === null || t.maxChars > PG_MAX_VARCHAR) return 'text';
      return `varchar(${Math.max(1, t.maxChars)})`;
    case 'binary':
      return 'bytea';
    case 'json':
      return 'jsonb';
    case 'enum':
    case 'set':
      return 'text';
    case 'geometry':
      return 'bytea';
    case 'uuid':
      return 'uuid';
    case 'inet4':
    case 'inet6':
      return 'inet';
  }
  throw new FerryError('FERRY_INTERNAL', `no PostgreSQL type for ${JSON.stringify(t)}`);
}

/** Counts of values changed on their way into PostgreSQL (see TYPES.md, "Lossy cases"). */
export interface PgLossStats {
  /** U+0000 characters removed from text (and `\u0000` escapes from JSON). */
  nulCharsStripped: number;
  /** Zero or partial-zero MySQL dates written as NULL or `-infinity`. */
  zeroDatesReplaced: number;
}

export function newLossStats(): PgLossStats {
  return { nulCharsStripped: 0, zeroDatesReplaced: 0 };
}

/** A value ready for PostgreSQL: input text, raw bytes (bytea), or NULL. */
export type PgInput = string | Buffer | null;

/** Converts one canonical value of one column. */
export type PgEncoder = (v: Value) => PgInput;

/** Any date PostgreSQL cannot store: month or day 00, or year 0000 (MySQL zero dates and partial zero dates). */
function isZeroDate(s: string): boolean {
  // 'YYYY-MM-DD...' (canonical); PostgreSQL has no year 0 and no month/day 0.
  return s.startsWith('0000-') || s.charCodeAt(5) === 48 && s.charCodeAt(6) === 48 || s.charCodeAt(8) === 48 && s.charCodeAt(9) === 48;
}

/** U+0000 escapes inside JSON strings: an odd run of backslashes followed by u0000. */
const JSON_NUL_ESCAPE = /(?<!\\)((?:\\\\)*)\\u0000/g;

function numberText(v: Value): string {
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return v;
  throw new FerryError('FERRY_SCHEMA_MISMATCH', 'a binary value arrived for a numeric column');
}

function bitText(v: Value, bits: number): string {
  let s: string;
  if (Buffer.isBuffer(v)) {
    s = '';
    for (const byte of v) s += byte.toString(2).padStart(8, '0');
  } else if (typeof v === 'number' || typeof v === 'bigint') {
    s = BigInt(v).toString(2);
  } else {
    s = String(v);
  }
  // Exactly `bits` digits: MySQL's BIT(n) value is the low n bits.
  return s.length >= bits ? s.slice(s.length - bits) : s.padStart(bits, '0');
}

function stripNul(s: string, stats: PgLossStats): string {
  if (!s.includes('\u0000')) return s;
  const out = s.replaceAll('\u0000', '');
  stats.nulCharsStripped += s.length - out.length;
  return out;
}

/**
 * The encoder for one column. Text results are PostgreSQL input syntax for the column's type;
 * Buffers are bytea values.
 */
export function pgEncoder(col: ColumnSchema, stats: PgLossStats, policy: ZeroDatePolicy = 'null', isKey = false): PgEncoder {
  const t = col.type;
  const zeroDate = (v: string): PgInput => {
    if (policy === 'fail') {
      throw new FerryError('FERRY_SINK_WRITE', `column ${col.name} holds the zero date ${v}, which PostgreSQL cannot store (sink.zero-date: fail)`, {
        fix: 'Set sink.zero-date to `null` or `-infinity`, or fix the value on the source.',
      });
    }
    stats.zeroDatesReplaced++;
    // A key column cannot be NULL: it gets the one value no real date can have; see TYPES.md.
    return policy === '-infinity' || isKey ? '-infinity' : null;
  };
  switch (t.kind) {
    case 'int':
    case 'decimal':
    case 'float':
    case 'double':
    case 'year':
      return (v) => (v === null ? null : numberText(v));
    case 'bit':
      return (v) => (v === null ? null : bitText(v, Math.max(1, t.bits)));
    case 'date':
    case 'datetime':
      return (v) => {
        if (v === null) return null;
        const s = String(v);
        return isZeroDate(s) ? zeroDate(s) : s;
      };
    case 'timestamp':
      return (v) => {
        if (v === null) return null;
        const s = String(v);
        return isZeroDate(s) ? zeroDate(s) : s + '+00';
      };
    case 'time':
      // '[-]HHH:MM:SS[.ffffff]' is valid interval input; the sign applies to the whole value.
      return (v) => (v === null ? null : String(v));
    case 'string':
    case 'enum':
    case 'set':
      return (v) => {
        if (v === null) return null;
        if (typeof v === 'string') return stripNul(v, stats);
        if (Buffer.isBuffer(v)) return stripNul(v.toString('utf8'), stats);
        return String(v);
      };
    case 'json':
      return (v) => {
        if (v === null) return null;
        const s = typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
        if (!s.includes('\\u0000')) return s;
        // jsonb rejects \u0000 ("unsupported Unicode escape sequence").
        let n = 0;
        const out = s.replace(JSON_NUL_ESCAPE, (_m, run: string) => {
          n++;
          return run;
        });
        stats.nulCharsStripped += n;
        return out;
      };
    case 'binary':
    case 'geometry':
      return (v) => {
        if (v === null) return null;
        return Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'utf8');
      };
    case 'uuid':
    case 'inet4':
    case 'inet6':
      return (v) => (v === null ? null : String(v));
  }
}

/** Writes one canonical value of one column as a COPY text field. */
export type PgCopyWriter = (out: CopyTextEncoder, v: Value) => void;

/** Text that needs neither COPY escaping nor U+0000 removal. */
const PLAIN_TEXT = /[\\\n\r\t\u0000]/;

/**
 * The COPY writer for one column: exactly the bytes of `out.field(encoder(v))` for the column's
 * `pgEncoder`, with shortcuts for the common cases that skip the intermediate strings (integers
 * as digits, text with nothing to escape or strip written as is). Everything else goes through
 * the encoder, so the lossy cases and their counts stay in one place.
 */
export function pgCopyWriter(col: ColumnSchema, stats: PgLossStats, policy: ZeroDatePolicy = 'null', isKey = false): PgCopyWriter {
  const encode = pgEncoder(col, stats, policy, isKey);
  switch (col.type.kind) {
    case 'int':
    case 'year':
      return (out, v) => {
        if (typeof v === 'number' && Number.isSafeInteger(v) && !Object.is(v, -0)) out.fieldInt(v);
        else out.field(encode(v));
      };
    case 'string':
    case 'enum':
    case 'set':
    case 'json':
      // JSON with a backslash (any escape, \u0000 among them) takes the encoder's path.
      return (out, v) => {
        if (typeof v === 'string' && !PLAIN_TEXT.test(v)) out.fieldPlain(v);
        else out.field(encode(v));
      };
    case 'binary':
    case 'geometry':
      return (out, v) => out.field(Buffer.isBuffer(v) ? v : encode(v));
    default:
      return (out, v) => out.field(encode(v));
  }
}
