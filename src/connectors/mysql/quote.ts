/**
 * The one place where MySQL/MariaDB SQL text is built from names and values.
 *
 * Identifiers go through `quoteMySqlIdent` and nothing else. Values go through `mysqlLiteral`,
 * the bulk encoding the sink uses for multi-row statements (placeholders would cap a statement
 * at 65535 values and make the server parse every row twice). The encoding is only safe on a
 * session whose `sql_mode` does NOT contain `NO_BACKSLASH_ESCAPES` and whose character set is
 * `utf8mb4`: the sink sets both on every connection it opens (see `SINK_SESSION_SQL`).
 */
import type { Value } from '../../core/change.js';
import { FerryError } from '../../core/errors.js';

/**
 * Quotes one identifier (database, table, column, charset or collation name) with backticks.
 * A backtick inside the name is doubled; everything else is literal inside backticks, so dots,
 * quotes, `%`, reserved words and any Unicode stay part of the name.
 */
export function quoteMySqlIdent(name: string): string {
  if (name.length === 0) {
    throw new FerryError('FERRY_SINK_WRITE', 'an empty identifier cannot be used in MySQL', {
      fix: 'Route the table to a non-empty target name.',
    });
  }
  if (name.includes('\u0000')) {
    throw new FerryError('FERRY_SINK_WRITE', `identifier ${JSON.stringify(name)} contains U+0000, which MySQL does not allow`, {
      fix: 'Route the table to a target name without NUL characters.',
    });
  }
  return '`' + name.replaceAll('`', '``') + '`';
}

/** `schema`.`name`, each part quoted on its own. */
export function quoteMySqlTable(schema: string, name: string): string {
  return `${quoteMySqlIdent(schema)}.${quoteMySqlIdent(name)}`;
}

/** Session settings every sink connection runs before its first statement. */
export const SINK_SESSION_SQL =
  // STRICT_ALL_TABLES: a value that does not fit fails loudly instead of being truncated.
  // No NO_BACKSLASH_ESCAPES: `mysqlStringLiteral` relies on backslash escapes.
  // No NO_ZERO_DATE / NO_ZERO_IN_DATE: zero dates from the source must land as they are.
  // NO_AUTO_VALUE_ON_ZERO: a 0 written to an AUTO_INCREMENT column stays 0.
  "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'," +
  // TIMESTAMP values arrive as UTC text.
  " time_zone = '+00:00'," +
  ' character_set_client = utf8mb4, character_set_connection = utf8mb4, character_set_results = utf8mb4';

const STRING_ESCAPES: Record<string, string> = {
  '\u0000': '\\0',
  '\n': '\\n',
  '\r': '\\r',
  '\u001a': '\\Z',
  "'": "\\'",
  '\\': '\\\\',
};

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\u0000\n\r\u001a'\\]/g;

/** A single-quoted string literal (backslash escapes; see the module comment for the session it needs). */
export function mysqlStringLiteral(s: string): string {
  return "'" + s.replace(NEEDS_ESCAPE, (c) => STRING_ESCAPES[c] ?? c) + "'";
}

/**
 * A canonical value (see change.ts) as a SQL literal:
 * null → NULL; number → its shortest round-trip decimal form; bigint → digits; string → quoted
 * literal; Buffer → X'hex' (binary, also right for BIT and GEOMETRY columns).
 */
export function mysqlLiteral(v: Value): string {
  if (v === null) return 'NULL';
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) {
        throw new FerryError('FERRY_SINK_WRITE', `the value ${v} cannot be stored in MySQL`, {
          fix: 'Filter or transform the column so it carries finite numbers only.',
        });
      }
      // String(-0) is "0"; keep the sign for DOUBLE columns.
      return Object.is(v, -0) ? '-0E0' : String(v);
    case 'bigint':
      return v.toString();
    case 'string':
      return mysqlStringLiteral(v);
    default:
      return v.length === 0 ? "X''" : "X'" + v.toString('hex') + "'";
  }
}

// eslint-disable-next-line no-control-regex
const HAS_ESCAPE = /[\u0000\n\r\u001a'\\]/;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const NULL_BYTES = Buffer.from('NULL', 'latin1');
/**
 * `Buffer#utf8Write(string, offset)`: the native UTF-8 writer behind `Buffer#write(s, offset,
 * 'utf8')`, without that method's argument parsing (which costs more than the copy for the short
 * strings of a row). Present on Node's Buffer though not in its types; `write` when absent.
 */
type Utf8Write = (this: Buffer, s: string, offset: number) => number;
const utf8Write: Utf8Write =
  typeof (Buffer.prototype as unknown as { utf8Write?: unknown }).utf8Write === 'function'
    ? ((Buffer.prototype as unknown as { utf8Write: Utf8Write }).utf8Write)
    : function (this: Buffer, s: string, offset: number): number {
        return this.write(s, offset, 'utf8');
      };

/** Bytes before the SQL text: the 4-byte packet header and the COM_QUERY command byte. */
export const STATEMENT_HEADER_BYTES = 5;
const COM_QUERY = 0x03;
const COM_STMT_BULK_EXECUTE = 0xfa;
const BULK_SEND_TYPES = 128;
/** Kinds of bulk parameters (`MySqlStatementBuffer.bulk`/`param`): what a column's values travel as. */
export const BULK_INT = 1;
export const BULK_UINT64 = 2;
export const BULK_DOUBLE = 3;
export const BULK_BYTES = 4;
export const BULK_TEXT = 5;

/**
 * A statement built straight into bytes: the COM_QUERY packet the sink sends (see raw-query.ts),
 * with the same encoding as `mysqlLiteral` — only without the intermediate JS strings, which
 * cost more (concatenation, garbage, a second UTF-8 pass in the driver) than the values
 * themselves. Same session requirements as `mysqlLiteral` (utf8mb4, backslash escapes).
 *
 * The buffer is reused: `reset()` starts a new statement; `packet()` returns a view that stays
 * valid until the next `reset()`.
 */
export class MySqlStatementBuffer {
  #buf: Buffer;
  #len = STATEMENT_HEADER_BYTES;
  /** The command byte `packet()` writes: COM_QUERY, or COM_STMT_BULK_EXECUTE after `bulk()`. */
  #command = COM_QUERY;

  constructor(capacity = 64 * 1024) {
    this.#buf = Buffer.allocUnsafe(Math.max(capacity, 1024));
  }

  /** Bytes of SQL text so far. */
  get sqlBytes(): number {
    return this.#len - STATEMENT_HEADER_BYTES;
  }

  /** Size of the underlying buffer (callers drop buffers that grew very large). */
  get capacity(): number {
    return this.#buf.length;
  }

  reset(): void {
    this.#len = STATEMENT_HEADER_BYTES;
    this.#command = COM_QUERY;
  }

  /**
   * Starts a COM_STMT_BULK_EXECUTE packet (bulk.ts) of prepared statement `id` with one
   * parameter kind (BULK_INT, ...) per parameter; rows of `param` calls follow.
   */
  bulk(id: number, kinds: Uint8Array): this {
    this.reset();
    this.#command = COM_STMT_BULK_EXECUTE;
    this.#ensure(6 + kinds.length * 2);
    const b = this.#buf;
    b.writeUInt32LE(id, this.#len);
    b.writeUInt16LE(BULK_SEND_TYPES, this.#len + 4);
    let p = this.#len + 6;
    for (let i = 0; i < kinds.length; i++) {
      const k = kinds[i] as number;
      // Protocol field types: LONGLONG (8, flag 128 = unsigned), DOUBLE (5), BLOB (252), VAR_STRING (253).
      b[p++] = k === BULK_INT || k === BULK_UINT64 ? 8 : k === BULK_DOUBLE ? 5 : k === BULK_BYTES ? 252 : 253;
      b[p++] = k === BULK_UINT64 ? 128 : 0;
    }
    this.#len = p;
    return this;
  }

  /**
   * One parameter of a bulk row, of the parameter's kind: NULL, an integer as 8 bytes, a double
   * as 8 bytes, bytes or UTF-8 text as a length-encoded string. The server converts it to the
   * column type as it would the literal `literal` writes. Returns false, writing nothing, when
   * the value does not have the kind's JS type (the caller writes that row as text instead).
   */
  param(v: Value, kind: number): boolean {
    if (v === null) {
      this.#ensure(1);
      this.#buf[this.#len++] = 1;
      return true;
    }
    switch (kind) {
      case BULK_INT:
      case BULK_UINT64: {
        this.#ensure(9);
        const b = this.#buf;
        if (typeof v === 'number') {
          if (!Number.isSafeInteger(v) || (kind === BULK_UINT64 && v < 0)) return false;
          b[this.#len] = 0;
          // Two 32-bit halves, little-endian (two's complement for negatives).
          const lo = v % 4294967296;
          const hi = Math.floor(v / 4294967296);
          b.writeUInt32LE(lo < 0 ? lo + 4294967296 : lo, this.#len + 1);
          b.writeInt32LE(hi, this.#len + 5);
          this.#len += 9;
          return true;
        }
        if (typeof v !== 'bigint') return false;
        if (kind === BULK_UINT64 ? v < 0n || v > 18446744073709551615n : v < -9223372036854775808n || v > 9223372036854775807n) return false;
        b[this.#len] = 0;
        if (kind === BULK_UINT64) b.writeBigUInt64LE(v, this.#len + 1);
        else b.writeBigInt64LE(v, this.#len + 1);
        this.#len += 9;
        return true;
      }
      case BULK_DOUBLE:
        if (typeof v !== 'number' || !Number.isFinite(v)) return false;
        this.#ensure(9);
        this.#buf[this.#len] = 0;
        this.#buf.writeDoubleLE(v, this.#len + 1);
        this.#len += 9;
        return true;
      case BULK_BYTES: {
        if (!Buffer.isBuffer(v)) return false;
        const n = v.length;
        this.#ensure(n + 10);
        const b = this.#buf;
        b[this.#len++] = 0;
        if (n < 251) b[this.#len++] = n;
        else if (n < 65536) {
          b[this.#len] = 0xfc;
          b.writeUInt16LE(n, this.#len + 1);
          this.#len += 3;
        } else {
          b[this.#len] = 0xfe;
          b.writeUInt32LE(n, this.#len + 1);
          b.writeUInt32LE(0, this.#len + 5);
          this.#len += 9;
        }
        b.set(v, this.#len);
        this.#len += n;
        return true;
      }
      default:
        if (typeof v !== 'string') return false;
        this.#paramText(v);
        return true;
    }
  }

  /** A text parameter: the UTF-8 bytes after a length prefix sized for the longest encoding. */
  #paramText(s: string): this {
    const max = s.length * 3;
    this.#ensure(max + 10);
    const b = this.#buf;
    b[this.#len++] = 0;
    // The server reads any length-encoded form, minimal or not: the prefix is chosen from the
    // string's longest possible encoding and filled in once the bytes are written.
    if (max < 251) {
      const at = this.#len++;
      const n = utf8Write.call(b, s, this.#len);
      b[at] = n;
      this.#len += n;
    } else if (max < 65536) {
      const at = this.#len;
      this.#len += 3;
      const n = utf8Write.call(b, s, this.#len);
      b[at] = 0xfc;
      b.writeUInt16LE(n, at + 1);
      this.#len += n;
    } else {
      const at = this.#len;
      this.#len += 9;
      const n = utf8Write.call(b, s, this.#len);
      b[at] = 0xfe;
      b.writeUInt32LE(n, at + 1);
      b.writeUInt32LE(0, at + 5);
      this.#len += n;
    }
    return this;
  }

  /** Where the text is now; `truncate(mark)` goes back to it. */
  mark(): number {
    return this.#len;
  }

  truncate(mark: number): void {
    this.#len = mark;
  }

  /**
   * Room for `n` more bytes after `mark()`: the buffer to write them into, valid until the next
   * call that writes. `commit(end)` then ends the packet at `end` (image-bulk.ts writes bulk
   * parameters this way, straight from binlog bytes).
   */
  room(n: number): Buffer {
    this.#ensure(n);
    return this.#buf;
  }

  commit(end: number): void {
    if (end < this.#len || end > this.#buf.length) throw new RangeError(`commit(${end}) outside ${this.#len}..${this.#buf.length}`);
    this.#len = end;
  }

  #ensure(extra: number): void {
    const need = this.#len + extra;
    if (need <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(need, this.#buf.length * 2));
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }

  /** SQL text as is: keywords, punctuation and identifiers already quoted by `quoteMySqlIdent`. */
  text(s: string): this {
    this.#ensure(s.length * 3);
    this.#len += utf8Write.call(this.#buf, s, this.#len);
    return this;
  }

  /** One ASCII byte (punctuation). */
  byte(c: number): this {
    this.#ensure(1);
    this.#buf[this.#len++] = c;
    return this;
  }

  /** A value as `mysqlLiteral` writes it. */
  literal(v: Value): this {
    if (v === null) {
      this.#ensure(4);
      this.#len += NULL_BYTES.copy(this.#buf, this.#len);
      return this;
    }
    switch (typeof v) {
      case 'number':
        if (Number.isInteger(v) && v > -1e15 && v < 1e15 && !Object.is(v, -0)) return this.#integer(v);
        return this.text(mysqlLiteral(v));
      case 'bigint':
        return this.text(v.toString());
      case 'string':
        return this.string(v);
      default:
        return this.#hex(v);
    }
  }

  /** A single-quoted string literal (as `mysqlStringLiteral`). */
  string(s: string): this {
    if (HAS_ESCAPE.test(s)) s = s.replace(NEEDS_ESCAPE, (c) => STRING_ESCAPES[c] ?? c);
    this.#ensure(s.length * 3 + 2);
    const b = this.#buf;
    b[this.#len++] = 0x27;
    this.#len += utf8Write.call(b, s, this.#len);
    b[this.#len++] = 0x27;
    return this;
  }

  #integer(v: number): this {
    this.#ensure(17);
    const b = this.#buf;
    if (v < 0) {
      b[this.#len++] = 0x2d;
      v = -v;
    }
    if (v < 10) {
      b[this.#len++] = 0x30 + v;
      return this;
    }
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    let p = this.#len + digits;
    this.#len = p;
    while (v >= 10) {
      const q = Math.floor(v / 10);
      b[--p] = 0x30 + (v - q * 10);
      v = q;
    }
    b[--p] = 0x30 + v;
    return this;
  }

  #hex(v: Buffer): this {
    this.#ensure(v.length * 2 + 3);
    const b = this.#buf;
    let p = this.#len;
    b[p++] = 0x58; // X
    b[p++] = 0x27;
    for (let i = 0; i < v.length; i++) {
      const x = v[i] as number;
      b[p++] = HEX_DIGITS[x >> 4] as number;
      b[p++] = HEX_DIGITS[x & 15] as number;
    }
    b[p++] = 0x27;
    this.#len = p;
    return this;
  }

  /**
   * The statement as one COM_QUERY packet payload with room for its header: bytes [0, 4) are
   * for the packet header (written by the sender), byte 4 is COM_QUERY, then the SQL text.
   */
  packet(): Buffer {
    this.#buf[4] = this.#command;
    return this.#buf.subarray(0, this.#len);
  }

  /** The SQL text (tests and error messages). */
  toString(): string {
    return this.#buf.toString('utf8', STATEMENT_HEADER_BYTES, this.#len);
  }
}
