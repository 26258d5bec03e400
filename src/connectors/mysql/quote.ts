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
