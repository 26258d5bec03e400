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

/**
 * A PostgreSQL string literal, for DDL only (column defaults); data always goes as parameters or
 * COPY. Sink sessions run with standard_conforming_strings=on, so only the quote is special.
 */
export function pgStringLiteral(value: string): string {
  if (value.includes('\0')) throw new FerryError('FERRY_SINK_WRITE', 'a PostgreSQL literal cannot hold U+0000');
  return `'${value.replace(/'/g, "''")}'`;
}
