/**
 * The one place where PostgreSQL SQL text is built from names, and the COPY text encoding.
 *
 * Identifiers go through `quotePgIdent` and nothing else; values go as bind parameters or
 * through `copyTextField` (COPY ... FROM STDIN, text format).
 */
import { FerryError } from '../../core/errors.js';

/** PostgreSQL's NAMEDATALEN - 1: longer identifiers are truncated by the server, silently. */
export const PG_MAX_IDENT_BYTES = 63;

/**
 * Quotes one identifier with double quotes (a `"` inside is doubled). Refuses names PostgreSQL
 * would change: empty, containing U+0000, or longer than 63 bytes of UTF-8 (the server would cut
 * them, and two long names sharing a 63-byte prefix would land in the same table or column).
 */
export function quotePgIdent(name: string): string {
  if (name.length === 0) {
    throw new FerryError('FERRY_SINK_WRITE', 'an empty identifier cannot be used in PostgreSQL', {
      fix: 'Route the table to a non-empty target name.',
    });
  }
  if (name.includes('\u0000')) {
    throw new FerryError('FERRY_SINK_WRITE', `identifier ${JSON.stringify(name)} contains U+0000, which PostgreSQL does not allow`, {
      fix: 'Route the table to a target name without NUL characters.',
    });
  }
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > PG_MAX_IDENT_BYTES) {
    throw new FerryError(
      'FERRY_SINK_WRITE',
      `identifier ${JSON.stringify(name)} is ${bytes} bytes long; PostgreSQL keeps only ${PG_MAX_IDENT_BYTES} and would truncate it silently (two names with the same prefix would collide)`,
      {
        fix: 'Add a route that maps the table to a shorter target name, or rename the column at the source (PostgreSQL identifiers are at most 63 bytes of UTF-8).',
        details: { identifier: name, bytes },
      },
    );
  }
  return '"' + name.replaceAll('"', '""') + '"';
}

/** "schema"."name", each part quoted on its own. */
export function quotePgTable(schema: string, name: string): string {
  return `${quotePgIdent(schema)}.${quotePgIdent(name)}`;
}

// eslint-disable-next-line no-control-regex
const COPY_SPECIAL = /[\\\n\r\t]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** NULL in COPY text format. */
export const COPY_NULL = '\\N';

/**
 * One field of a COPY text-format row. Backslash, newline, carriage return and tab (the
 * delimiter) are escaped, so a field can neither end the row, split into two fields, nor be
 * read as `\N` or the `\.` end marker. A Buffer is written as bytea hex input (`\x...`, with the
 * backslash escaped for COPY).
 */
export function copyTextField(v: string | Buffer | null): string {
  if (v === null) return COPY_NULL;
  if (typeof v !== 'string') return '\\\\x' + v.toString('hex');
  return v.replace(COPY_SPECIAL, (c) => COPY_ESCAPES[c] ?? c);
}

const COPY_SPECIAL_ONE = /[\\\n\r\t]/;
const BACKSLASH = 0x5c;
const LETTER_N = 0x4e;
const LETTER_X = 0x78;
const TAB = 0x09;
const NEWLINE = 0x0a;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/**
 * Buffer's own UTF-8 and Latin-1 writers without the argument checks of `Buffer#write` (which
 * took as long as the copying itself in the profile); `write` where a runtime lacks them.
 */
interface RawWriters {
  utf8Write?: (s: string, offset: number) => number;
  latin1Write?: (s: string, offset: number) => number;
  hexSlice?: (start: number, end: number) => string;
}
const rawProto = Buffer.prototype as unknown as RawWriters;
const writeUtf8: (b: Buffer, s: string, offset: number) => number =
  typeof rawProto.utf8Write === 'function' ? (b, s, offset) => (b as unknown as Required<RawWriters>).utf8Write(s, offset) : (b, s, offset) => b.write(s, offset, 'utf8');
const writeHex: (b: Buffer, v: Buffer, offset: number) => number =
  typeof rawProto.latin1Write === 'function' && typeof rawProto.hexSlice === 'function'
    ? (b, v, offset) => (b as unknown as Required<RawWriters>).latin1Write((v as unknown as Required<RawWriters>).hexSlice(0, v.length), offset)
    : (b, v, offset) => b.write(v.toString('hex'), offset, 'latin1');

/** Default size of the pieces a CopyTextEncoder hands out. */
export const COPY_PIECE_BYTES = 256 * 1024;

/**
 * Encodes rows into COPY text format (the same bytes `copyTextField` + tab + newline give)
 * straight into large Buffers, without building a string per field or per piece: the profile of
 * snapshot → PostgreSQL showed the per-field strings, their concatenation and the final
 * string-to-Buffer conversion as a third of the process's CPU time.
 *
 * Use: `field()` for each value of a row (in column order), `endRow()` after the last one;
 * `takePieces()` returns the pieces filled so far, `finish()` the rest. Text goes through the same
 * escaping as `copyTextField` (checked by one regex test per string; most values have nothing to
 * escape), a Buffer becomes bytea hex input with the backslash escaped for COPY.
 */
export class CopyTextEncoder {
  readonly #pieceBytes: number;
  #buf: Buffer;
  #pos = 0;
  #rowStart = true;
  #pieces: Buffer[] = [];

  constructor(pieceBytes = COPY_PIECE_BYTES) {
    this.#pieceBytes = pieceBytes;
    this.#buf = Buffer.allocUnsafe(pieceBytes);
  }

  /** Makes room for `n` more bytes in the current piece (a new piece when it is too full). */
  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    if (this.#pos > 0) this.#pieces.push(this.#buf.subarray(0, this.#pos));
    this.#buf = Buffer.allocUnsafe(Math.max(this.#pieceBytes, n));
    this.#pos = 0;
  }

  field(v: string | Buffer | null): void {
    // 1 byte for the separator before the field, worst cases below.
    if (v === null) {
      this.#room(3);
      if (!this.#rowStart) this.#buf[this.#pos++] = TAB;
      this.#buf[this.#pos++] = BACKSLASH; // \N
      this.#buf[this.#pos++] = LETTER_N;
    } else if (typeof v === 'string') {
      const s = COPY_SPECIAL_ONE.test(v) ? v.replace(COPY_SPECIAL, (c) => COPY_ESCAPES[c] ?? c) : v;
      // A UTF-16 code unit is at most 3 bytes of UTF-8.
      const worst = 1 + s.length * 3;
      if (worst <= this.#pieceBytes) {
        this.#room(worst);
        if (!this.#rowStart) this.#buf[this.#pos++] = TAB;
        this.#pos += writeUtf8(this.#buf, s, this.#pos);
      } else {
        // A long value becomes a piece of its own, of its exact size.
        this.#room(1);
        if (!this.#rowStart) this.#buf[this.#pos++] = TAB;
        if (this.#pos > 0) this.#pieces.push(this.#buf.subarray(0, this.#pos));
        this.#pieces.push(Buffer.from(s, 'utf8'));
        this.#buf = this.#buf.subarray(this.#pos);
        this.#pos = 0;
      }
    } else {
      const n = v.length;
      this.#room(4 + n * 2);
      const b = this.#buf;
      let p = this.#pos;
      if (!this.#rowStart) b[p++] = TAB;
      // `\\x` + hex: COPY turns the doubled backslash into one, bytea reads `\x` + hex.
      b[p++] = BACKSLASH;
      b[p++] = BACKSLASH;
      b[p++] = LETTER_X;
      if (n < 16) {
        for (let i = 0; i < n; i++) {
          const byte = v[i] as number;
          b[p++] = HEX_DIGITS[byte >> 4] as number;
          b[p++] = HEX_DIGITS[byte & 15] as number;
        }
      } else p += writeHex(b, v, p);
      this.#pos = p;
    }
    this.#rowStart = false;
  }

  /** A safe integer other than -0, written as decimal digits without an intermediate string. */
  fieldInt(n: number): void {
    this.#room(18);
    const b = this.#buf;
    let p = this.#pos;
    if (!this.#rowStart) b[p++] = TAB;
    this.#rowStart = false;
    if (n < 0) {
      b[p++] = 0x2d; // '-'
      n = -n;
    }
    if (n < 10) {
      b[p++] = 0x30 + n;
      this.#pos = p;
      return;
    }
    let digits = 1;
    for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
    let q = p + digits;
    this.#pos = q;
    while (n >= 10) {
      const d = n % 10;
      b[--q] = 0x30 + d;
      n = (n - d) / 10;
    }
    b[--q] = 0x30 + n;
  }

  /**
   * Text the caller has checked to contain none of backslash, tab, newline, carriage return
   * (so it needs no escaping); anything else must go through `field`.
   */
  fieldPlain(s: string): void {
    const worst = 1 + s.length * 3;
    if (worst > this.#pieceBytes) {
      this.field(s);
      return;
    }
    this.#room(worst);
    if (!this.#rowStart) this.#buf[this.#pos++] = TAB;
    this.#rowStart = false;
    this.#pos += writeUtf8(this.#buf, s, this.#pos);
  }

  endRow(): void {
    this.#room(1);
    this.#buf[this.#pos++] = NEWLINE;
    this.#rowStart = true;
    if (this.#pos >= this.#pieceBytes) {
      this.#pieces.push(this.#buf.subarray(0, this.#pos));
      this.#buf = Buffer.allocUnsafe(this.#pieceBytes);
      this.#pos = 0;
    }
  }

  /** Whether full pieces are waiting to be taken. */
  get hasPieces(): boolean {
    return this.#pieces.length > 0;
  }

  /** Full pieces encoded so far (each piece ends at a row boundary or inside a long row). */
  takePieces(): Buffer[] {
    const out = this.#pieces;
    this.#pieces = [];
    return out;
  }

  /** Everything not handed out yet; the encoder starts over empty. */
  finish(): Buffer[] {
    if (this.#pos > 0) this.#pieces.push(this.#buf.subarray(0, this.#pos));
    this.#buf = Buffer.allocUnsafe(0);
    this.#pos = 0;
    this.#rowStart = true;
    return this.takePieces();
  }
}

/**
 * A PostgreSQL string literal, for DDL only (column defaults); data always goes as parameters or
 * COPY. Sink sessions run with standard_conforming_strings=on, so only the quote is special.
 */
export function pgStringLiteral(value: string): string {
  if (value.includes('\0')) throw new FerryError('FERRY_SINK_WRITE', 'a PostgreSQL literal cannot hold U+0000');
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * A string literal read the same whatever the server's standard_conforming_strings: plain when
 * the text has no backslash, else an escape string (E'...') with backslashes doubled. U+0000 is
 * refused (pgStringLiteral).
 */
export function pgTextLiteral(value: string): string {
  if (!value.includes('\\')) return pgStringLiteral(value);
  return `E${pgStringLiteral(value.replace(/\\/g, '\\\\'))}`;
}
