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
  }

  /** Where the text is now; `truncate(mark)` goes back to it. */
  mark(): number {
    return this.#len;
  }

  truncate(mark: number): void {
    this.#len = mark;
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
    this.#buf[4] = COM_QUERY;
    return this.#buf.subarray(0, this.#len);
  }

  /** The SQL text (tests and error messages). */
  toString(): string {
    return this.#buf.toString('utf8', STATEMENT_HEADER_BYTES, this.#len);
  }
}
