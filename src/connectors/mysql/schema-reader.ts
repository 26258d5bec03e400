/**
 * Reads the schemas of captured tables from `information_schema`, and maps MySQL/MariaDB type
 * text (`COLUMN_TYPE`, or the type written in a DDL statement) to Ferry's LogicalType.
 *
 * The same mapping (`logicalTypeFromColumnType`) is used by the DDL parser (ddl.ts), so a table
 * read from the server and the same table built from its CREATE TABLE get the same types.
 */
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { FerryError } from '../../core/errors.js';
import type { ColumnSchema, LogicalType, TableSchema } from '../../core/schema.js';

/** Databases Ferry never captures. */
export const SYSTEM_DATABASES: readonly string[] = ['mysql', 'information_schema', 'performance_schema', 'sys'];

/** Type text split into its parts: `int(10) unsigned zerofill` → base `int`, args ['10'], unsigned. */
export interface ParsedColumnType {
  /** Lower-case base type name, multi-word names joined by one space (`double precision`). */
  base: string;
  /** Raw argument texts inside the parentheses (numbers), empty when none. ENUM/SET: see `labels`. */
  args: string[];
  /** ENUM/SET labels, unescaped. */
  labels: string[];
  unsigned: boolean;
  zerofill: boolean;
}

/**
 * Unescapes a MySQL string literal body. Both `COLUMN_TYPE` and DDL text use `''` for a quote and
 * backslash escapes (`\\` for a backslash) unless NO_BACKSLASH_ESCAPES is set.
 */
export function unescapeSqlString(body: string, quote: "'" | '"'): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] as string;
    if (ch === quote && body[i + 1] === quote) {
      out += quote;
      i++;
    } else if (ch === '\\' && i + 1 < body.length) {
      const nx = body[i + 1] as string;
      i++;
      switch (nx) {
        case '0': out += '\0'; break;
        case 'b': out += '\b'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'Z': out += '\x1a'; break;
        // LIKE wildcards keep their backslash (MySQL manual, "String Literals").
        case '%': out += '\\%'; break;
        case '_': out += '\\_'; break;
        default: out += nx;
      }
    } else {
      out += ch;
    }
  }
  return out;
}

/**
 * Parses a quoted label list `'a','b,c','it''s'` (the inside of `enum(...)`/`set(...)`).
 * Labels may contain commas, parentheses, quotes (doubled or backslash-escaped) and either quote
 * character. Throws on malformed text rather than guessing.
 */
export function parseEnumLabels(inner: string): string[] {
  const labels: string[] = [];
  let i = 0;
  const n = inner.length;
  const skipWs = (): void => {
    while (i < n && /\s/.test(inner[i] as string)) i++;
  };
  skipWs();
  if (i >= n) return labels;
  for (;;) {
    skipWs();
    const q = inner[i];
    if (q !== "'" && q !== '"') throw new FerryError('FERRY_INTERNAL', `cannot parse ENUM/SET labels at offset ${i}: ${inner}`);
    i++;
    const start = i;
    for (;;) {
      if (i >= n) throw new FerryError('FERRY_INTERNAL', `unterminated ENUM/SET label: ${inner}`);
      const ch = inner[i];
      if (ch === '\\') {
        i += 2;
        continue;
      }
      if (ch === q) {
        if (inner[i + 1] === q) {
          i += 2;
          continue;
        }
        break;
      }
      i++;
    }
    labels.push(unescapeSqlString(inner.slice(start, i), q));
    i++; // closing quote
    skipWs();
    if (i >= n) return labels;
    if (inner[i] !== ',') throw new FerryError('FERRY_INTERNAL', `expected "," between ENUM/SET labels at offset ${i}: ${inner}`);
    i++;
  }
}

/** Finds the `)` matching the `(` at `open`, skipping quoted text. */
function matchParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (ch === "'" || ch === '"') {
      i++;
      while (i < text.length) {
        const c = text[i];
        if (c === '\\') i += 2;
        else if (c === ch && text[i + 1] === ch) i += 2;
        else if (c === ch) break;
        else i++;
      }
    } else if (ch === '(') depth++;
    else if (ch === ')') {
      depth--;
      if (depth === 0) return i;
    }
  }
  throw new FerryError('FERRY_INTERNAL', `unbalanced parentheses in type text: ${text}`);
}

/** Splits type text (`COLUMN_TYPE` or DDL type) into base name, arguments, labels and flags. */
export function parseColumnType(text: string): ParsedColumnType {
  // MariaDB marks old temporal formats as `datetime /* mariadb-5.3 */`.
  const t = text.replace(/\/\*.*?\*\//g, ' ').trim();
  const open = t.indexOf('(');
  let base: string;
  let args: string[] = [];
  let labels: string[] = [];
  let rest: string;
  if (open >= 0) {
    base = t.slice(0, open);
    const close = matchParen(t, open);
    const inner = t.slice(open + 1, close);
    rest = t.slice(close + 1);
    base = base.trim().toLowerCase().replace(/\s+/g, ' ');
    if (base === 'enum' || base === 'set') labels = parseEnumLabels(inner);
    else args = inner.split(',').map((a) => a.trim()).filter((a) => a.length > 0);
  } else {
    const words = t.split(/\s+/);
    // Multi-word base names come before the attributes.
    const attrs = new Set(['unsigned', 'signed', 'zerofill']);
    const baseWords: string[] = [];
    let k = 0;
    while (k < words.length && !attrs.has((words[k] as string).toLowerCase())) baseWords.push((words[k++] as string).toLowerCase());
    base = baseWords.join(' ');
    rest = words.slice(k).join(' ');
  }
  const flags = rest.toLowerCase().split(/\s+/);
  return { base, args, labels, unsigned: flags.includes('unsigned'), zerofill: flags.includes('zerofill') };
}

const INT_BITS: Record<string, 8 | 16 | 24 | 32 | 64> = {
  tinyint: 8, int1: 8, bool: 8, boolean: 8,
  smallint: 16, int2: 16,
  mediumint: 24, middleint: 24, int3: 24,
  int: 32, integer: 32, int4: 32,
  bigint: 64, int8: 64,
};

const GEOMETRY_TYPES = new Set([
  'geometry', 'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon', 'geometrycollection', 'geomcollection',
]);

function intArg(args: string[], i: number, dflt: number): number {
  const a = args[i];
  if (a === undefined) return dflt;
  const n = Number(a);
  if (!Number.isInteger(n) || n < 0) throw new FerryError('FERRY_INTERNAL', `type argument "${a}" is not a non-negative integer`);
  return n;
}

/**
 * Maps type text to a LogicalType.
 *
 * @param columnType `COLUMN_TYPE` as information_schema prints it (`int(10) unsigned`,
 *   `enum('a','b')`, `varchar(20)`) or the type as written in DDL (`INT UNSIGNED`, `VARCHAR(20)`).
 * @param charset character set of a character column (`CHARACTER_SET_NAME`); `binary` turns
 *   CHAR/VARCHAR/TEXT into their binary counterparts. Ignored for non-character types.
 * @param collation collation of a character column, or null when unknown.
 * @throws FerryError FERRY_BINLOG_UNSUPPORTED for a type Ferry cannot carry exactly.
 */
export function logicalTypeFromColumnType(columnType: string, charset: string | null, collation: string | null): LogicalType {
  const p = parseColumnType(columnType);
  const b = p.base;
  const bits = INT_BITS[b];
  if (bits !== undefined) return { kind: 'int', bits, unsigned: p.unsigned };
  if (b === 'serial') return { kind: 'int', bits: 64, unsigned: true };
  const str = (maxChars: number | null, fixed: boolean, lob: boolean): LogicalType => {
    if (charset !== null && charset.toLowerCase() === 'binary') return { kind: 'binary', maxBytes: maxChars, fixed, lob };
    return { kind: 'string', maxChars, fixed, charset: charset ?? 'utf8mb4', collation, lob };
  };
  switch (b) {
    case 'decimal':
    case 'dec':
    case 'numeric':
    case 'fixed':
      return { kind: 'decimal', precision: intArg(p.args, 0, 10), scale: intArg(p.args, 1, 0), unsigned: p.unsigned };
    case 'float':
      // FLOAT(p) with one argument is a precision in bits: above 24 it is a DOUBLE.
      if (p.args.length === 1 && intArg(p.args, 0, 0) > 24) return { kind: 'double' };
      return { kind: 'float' };
    case 'double':
    case 'double precision':
    case 'real':
    case 'float8':
      return { kind: 'double' };
    case 'float4':
      return { kind: 'float' };
    case 'bit':
      return { kind: 'bit', bits: intArg(p.args, 0, 1) };
    case 'year':
      return { kind: 'year' };
    case 'date':
      return { kind: 'date' };
    case 'datetime':
      return { kind: 'datetime', fsp: intArg(p.args, 0, 0) };
    case 'timestamp':
      return { kind: 'timestamp', fsp: intArg(p.args, 0, 0) };
    case 'time':
      return { kind: 'time', fsp: intArg(p.args, 0, 0) };
    case 'char':
    case 'character':
    case 'nchar':
    case 'national char':
    case 'national character':
      return str(intArg(p.args, 0, 1), true, false);
    case 'varchar':
    case 'character varying':
    case 'char varying':
    case 'nvarchar':
    case 'national varchar':
    case 'national character varying':
    case 'varchar2':
      return str(intArg(p.args, 0, 0), false, false);
    case 'tinytext':
      return str(255, false, true);
    case 'text':
      return str(65535, false, true);
    case 'mediumtext':
    case 'long':
    case 'long varchar':
    case 'long char varying':
      return str(null, false, true);
    case 'longtext':
    case 'clob':
      return str(null, false, true);
    case 'binary':
    case 'char byte':
      return { kind: 'binary', maxBytes: intArg(p.args, 0, 1), fixed: true, lob: false };
    case 'varbinary':
      return { kind: 'binary', maxBytes: intArg(p.args, 0, 0), fixed: false, lob: false };
    case 'tinyblob':
      return { kind: 'binary', maxBytes: 255, fixed: false, lob: true };
    case 'blob':
      return { kind: 'binary', maxBytes: 65535, fixed: false, lob: true };
    case 'mediumblob':
    case 'longblob':
    case 'long varbinary':
      return { kind: 'binary', maxBytes: null, fixed: false, lob: true };
    case 'json':
      return { kind: 'json' };
    case 'enum':
      return { kind: 'enum', values: p.labels };
    case 'set':
      return { kind: 'set', values: p.labels };
    case 'uuid':
      return { kind: 'uuid' };
    case 'inet4':
      return { kind: 'inet4' };
    case 'inet6':
      return { kind: 'inet6' };
  }
  if (GEOMETRY_TYPES.has(b)) return { kind: 'geometry', subtype: b === 'geomcollection' ? 'geometrycollection' : b };
  throw new FerryError('FERRY_BINLOG_UNSUPPORTED', `column type "${columnType}" is not supported by Ferry`, {
    fix: 'Exclude the table from the `tables` patterns, or change the column to a supported type (see src/connectors/mysql/README.md).',
  });
}

/** `json_valid(`col`)` as MariaDB writes the CHECK constraint of a JSON column; returns the column name. */
export function jsonValidColumn(checkClause: string): string | null {
  const m = /^\s*json_valid\s*\(\s*`((?:[^`]|``)+)`\s*\)\s*$/i.exec(checkClause);
  return m && m[1] !== undefined ? m[1].replace(/``/g, '`') : null;
}

function matchesAny(patterns: readonly RegExp[], id: string): boolean {
  for (const re of patterns) {
    re.lastIndex = 0;
    if (re.test(id)) return true;
  }
  return false;
}

/** Whether `db.table` is captured by the anchored `patterns` (system databases never are). */
export function isCapturedTable(patterns: readonly RegExp[], schema: string, name: string): boolean {
  return !SYSTEM_DATABASES.includes(schema.toLowerCase()) && matchesAny(patterns, `${schema}.${name}`);
}

function str(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}

const NOT_SYSTEM = `NOT IN ('mysql','information_schema','performance_schema','sys')`;

/**
 * Lists the base tables matching `patterns` (anchored regular expressions over `db.table`).
 * Only tables the user can see are listed: information_schema hides tables without any privilege.
 */
export async function listCapturedTables(conn: Connection, patterns: readonly RegExp[]): Promise<{ schema: string; name: string }[]> {
  const [rows] = await conn.query<RowDataPacket[]>({
    sql: `SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA ${NOT_SYSTEM} ORDER BY TABLE_SCHEMA, TABLE_NAME`,
    rowsAsArray: true,
  });
  const out: { schema: string; name: string }[] = [];
  for (const r of rows as unknown as unknown[][]) {
    const schema = str(r[0]) ?? '';
    const name = str(r[1]) ?? '';
    if (isCapturedTable(patterns, schema, name)) out.push({ schema, name });
  }
  return out;
}

/**
 * Reads the schemas of all base tables whose `db.table` matches one of `patterns`, in
 * (database, table) order. Columns come in ordinal order; the primary key in key order.
 */
export async function readTableSchemas(conn: Connection, patterns: readonly RegExp[], keyColumns: Readonly<Record<string, string[]>> = {}): Promise<TableSchema[]> {
  const tables = await listCapturedTables(conn, patterns);
  if (tables.length === 0) return [];
  const dbs = [...new Set(tables.map((t) => t.schema))];
  const wanted = new Set(tables.map((t) => `${t.schema}\u0000${t.name}`));

  const [colRows] = await conn.query<RowDataPacket[]>({
    sql:
      'SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, GENERATION_EXPRESSION ' +
      'FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN (?) ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION',
    rowsAsArray: true,
    values: [dbs],
  });
  const [keyRows] = await conn.query<RowDataPacket[]>({
    sql:
      "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA IN (?) AND INDEX_NAME = 'PRIMARY' " +
      'ORDER BY TABLE_SCHEMA, TABLE_NAME, SEQ_IN_INDEX',
    rowsAsArray: true,
    values: [dbs],
  });
  // Unique indexes over whole NOT NULL columns: a table without a primary key is keyed by one.
  const [uniqueRows] = await conn.query<RowDataPacket[]>({
    sql:
      "SELECT s.TABLE_SCHEMA, s.TABLE_NAME, s.INDEX_NAME, s.COLUMN_NAME, s.SUB_PART, c.IS_NULLABLE FROM information_schema.STATISTICS s " +
      'JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME ' +
      "WHERE s.TABLE_SCHEMA IN (?) AND s.NON_UNIQUE = 0 AND s.INDEX_NAME <> 'PRIMARY' ORDER BY s.TABLE_SCHEMA, s.TABLE_NAME, s.INDEX_NAME, s.SEQ_IN_INDEX",
    rowsAsArray: true,
    values: [dbs],
  });
  const jsonColumns = await readMariaDbJsonColumns(conn, dbs);

  const byTable = new Map<string, TableSchema & { uniqueKeyUsed?: boolean }>();
  for (const t of tables) byTable.set(`${t.schema}\u0000${t.name}`, { schema: t.schema, name: t.name, columns: [], primaryKey: [] });

  for (const r of colRows as unknown as unknown[][]) {
    const key = `${str(r[0])}\u0000${str(r[1])}`;
    if (!wanted.has(key)) continue;
    const table = byTable.get(key);
    if (!table) continue;
    const name = str(r[2]) ?? '';
    const columnType = str(r[3]) ?? '';
    const charset = str(r[4]);
    const collation = str(r[5]);
    const extra = (str(r[8]) ?? '').toUpperCase();
    const genExpr = str(r[9]);
    const type: LogicalType = jsonColumns.has(`${key}\u0000${name}`)
      ? { kind: 'json' }
      : logicalTypeFromColumnType(columnType, charset, collation);
    const column: ColumnSchema = {
      name,
      type,
      sourceType: columnType,
      nullable: str(r[6]) === 'YES',
      defaultValue: str(r[7]),
      // MySQL: "VIRTUAL GENERATED"/"STORED GENERATED"; MariaDB the same (PERSISTENT is shown as STORED GENERATED).
      generated: extra.includes('GENERATED') || extra.includes('PERSISTENT') || (genExpr !== null && genExpr !== '' && extra.includes('VIRTUAL')),
    };
    table.columns.push(column);
  }
  for (const r of keyRows as unknown as unknown[][]) {
    const key = `${str(r[0])}\u0000${str(r[1])}`;
    const table = byTable.get(key);
    if (!table) continue;
    const col = str(r[2]);
    const idx = table.columns.findIndex((c) => c.name === col);
    if (idx < 0) throw new FerryError('FERRY_INTERNAL', `primary key column ${col} of ${table.schema}.${table.name} not among its columns`);
    table.primaryKey.push(idx);
  }
  // No primary key: the unique index with the fewest columns, all NOT NULL and not prefixes,
  // identifies rows just as well (the target table gets it as its primary key).
  const uniques = new Map<string, { columns: string[]; usable: boolean }>();
  for (const r of uniqueRows as unknown as unknown[][]) {
    const key = `${str(r[0])}\u0000${str(r[1])}\u0000${str(r[2])}`;
    const u = uniques.get(key) ?? { columns: [], usable: true };
    u.columns.push(str(r[3]) ?? '');
    if (r[4] !== null && r[4] !== undefined) u.usable = false;
    if (str(r[5]) !== 'NO') u.usable = false;
    uniques.set(key, u);
  }
  for (const [key, u] of uniques) {
    if (!u.usable) continue;
    const [schema, name] = key.split('\u0000');
    const table = byTable.get(`${schema}\u0000${name}`);
    if (!table || (table.primaryKey.length > 0 && !table.uniqueKeyUsed)) continue;
    if (table.uniqueKeyUsed && table.primaryKey.length <= u.columns.length) continue;
    const idx = u.columns.map((c) => table.columns.findIndex((col) => col.name === c));
    if (idx.some((i) => i < 0)) continue;
    table.primaryKey = idx;
    table.uniqueKeyUsed = true;
    table.keyIndex = key.split('\u0000')[2] ?? '';
  }
  for (const t of byTable.values()) delete t.uniqueKeyUsed;
  // Tables with neither: the key columns the user named (`source.key-columns`), which the user
  // vouches are unique. They must exist and be NOT NULL (a NULL key cannot be paged or matched).
  for (const t of byTable.values()) {
    if (t.primaryKey.length > 0 || t.columns.length === 0) continue;
    const named = keyColumns[`${t.schema}.${t.name}`];
    if (!named) continue;
    const idx = named.map((n) => {
      const i = t.columns.findIndex((c) => c.name.toLowerCase() === n.toLowerCase());
      const col = t.columns[i];
      if (!col) {
        throw new FerryError('FERRY_CONFIG_INVALID', `source.key-columns names column ${n} for ${t.schema}.${t.name}, which has no such column`, {
          fix: `Name columns of the table: ${t.columns.map((c) => c.name).join(', ')}.`,
        });
      }
      if (col.nullable || col.generated) {
        throw new FerryError('FERRY_CONFIG_INVALID', `source.key-columns names ${n} for ${t.schema}.${t.name}, but it is ${col.generated ? 'a generated column' : 'nullable'}: a key column must be a stored NOT NULL column`, {
          fix: `ALTER TABLE ... MODIFY ${n} ... NOT NULL on the source, or name other columns.`,
        });
      }
      return i;
    });
    t.primaryKey = idx;
    t.keyIndex = '';
  }
  // A table dropped between the two queries has no columns: leave it out.
  return [...byTable.values()].filter((t) => t.columns.length > 0);
}

/**
 * MariaDB stores JSON as LONGTEXT with a `json_valid(col)` CHECK constraint named after the
 * column. Returns `db\0table\0column` for each such column. MySQL has a real JSON type, and
 * servers without CHECK_CONSTRAINTS (MySQL < 8.0.16) give an empty set.
 */
async function readMariaDbJsonColumns(conn: Connection, dbs: string[]): Promise<Set<string>> {
  const out = new Set<string>();
  let rows: unknown[][];
  try {
    const [r] = await conn.query<RowDataPacket[]>({
      sql: 'SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA IN (?)',
      rowsAsArray: true,
      values: [dbs],
    });
    rows = r as unknown as unknown[][];
  } catch (e) {
    // ER_UNKNOWN_TABLE (1109) on servers without the view.
    if ((e as { errno?: number }).errno === 1109) return out;
    throw e;
  }
  for (const r of rows) {
    const col = jsonValidColumn(str(r[2]) ?? '');
    if (col !== null) out.add(`${str(r[0])}\u0000${str(r[1])}\u0000${col}`);
  }
  return out;
}
