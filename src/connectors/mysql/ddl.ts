/**
 * A small parser for the schema changes Ferry follows mid-stream (Query events in the binlog),
 * and the functions that apply them to the schema model.
 *
 * Recognised: CREATE TABLE (column list, or LIKE), ALTER TABLE ... ADD [COLUMN], DROP TABLE,
 * TRUNCATE [TABLE], RENAME TABLE. Any other ALTER TABLE is reported as `other-alter` so the caller
 * can re-read that table's schema or stop, by policy. Everything else is `null` (not a table DDL
 * Ferry tracks). It never guesses: a statement it cannot read completely gives `unparsed`.
 *
 * Types are mapped with `logicalTypeFromColumnType`, the same function schema-reader uses.
 */
import { FerryError } from '../../core/errors.js';
import type { ColumnChange } from '../../core/change.js';
import type { ColumnSchema, TableRef, TableSchema } from '../../core/schema.js';
import { logicalTypeFromColumnType, unescapeSqlString } from './schema-reader.js';

// ---------------------------------------------------------------------------------------------
// Tokens

type TokKind = 'word' | 'ident' | 'string' | 'number' | 'punct';

interface Token {
  kind: TokKind;
  /** word: as written; ident: unquoted name; string: unescaped value; number/punct: text. */
  value: string;
  /** The source text of the token (for DEFAULT and type texts). */
  raw: string;
}

const WORD_CH = /[A-Za-z0-9_$\u0080-\uffff]/;

/**
 * Splits SQL into tokens, dropping comments. Executable comments (`/*! ... *\/`, `/*!50100 ... *\/`,
 * `/*M!100100 ... *\/`) are kept as SQL, as the server would run them.
 */
export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const ch = sql[i] as string;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === '#' || (ch === '-' && sql[i + 1] === '-' && (i + 2 >= n || /\s/.test(sql[i + 2] as string)))) {
      while (i < n && sql[i] !== '\n') i++;
      continue;
    }
    if (ch === '/' && sql[i + 1] === '*') {
      const m = /^\/\*M?!\d{0,6}/.exec(sql.slice(i, i + 10));
      if (m) {
        // Executable comment: keep its body, drop the opening and the matching `*/`.
        i += m[0].length;
        const end = sql.indexOf('*/', i);
        const body = end < 0 ? sql.slice(i) : sql.slice(i, end);
        for (const t of tokenize(body)) out.push(t);
        i = end < 0 ? n : end + 2;
        continue;
      }
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    if (ch === '`') {
      let j = i + 1;
      let name = '';
      for (;;) {
        if (j >= n) throw new FerryError('FERRY_DDL_UNSUPPORTED', 'unterminated quoted identifier in DDL');
        if (sql[j] === '`') {
          if (sql[j + 1] === '`') {
            name += '`';
            j += 2;
            continue;
          }
          break;
        }
        name += sql[j];
        j++;
      }
      out.push({ kind: 'ident', value: name, raw: sql.slice(i, j + 1) });
      i = j + 1;
      continue;
    }
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= n) throw new FerryError('FERRY_DDL_UNSUPPORTED', 'unterminated string in DDL');
        const c = sql[j];
        if (c === '\\') {
          j += 2;
          continue;
        }
        if (c === ch) {
          if (sql[j + 1] === ch) {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      out.push({ kind: 'string', value: unescapeSqlString(sql.slice(i + 1, j), ch), raw: sql.slice(i, j + 1) });
      i = j + 1;
      continue;
    }
    if (/[0-9]/.test(ch) || (ch === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      const m = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(sql.slice(i));
      const text = m ? m[0] : ch;
      // `1abc` is a valid identifier in MySQL: a digit run followed by word characters.
      if (!/[eE.]/.test(text) && WORD_CH.test(sql[i + text.length] ?? '')) {
        let j = i;
        while (j < n && WORD_CH.test(sql[j] as string)) j++;
        out.push({ kind: 'word', value: sql.slice(i, j), raw: sql.slice(i, j) });
        i = j;
        continue;
      }
      out.push({ kind: 'number', value: text, raw: text });
      i += text.length;
      continue;
    }
    if (WORD_CH.test(ch)) {
      let j = i;
      while (j < n && WORD_CH.test(sql[j] as string)) j++;
      const w = sql.slice(i, j);
      // Charset introducers and hex/bit literals: _utf8mb4'x', x'0A', b'01'.
      if ((sql[j] === "'" || sql[j] === '"') && (/^_\w+$/.test(w) || /^[xXbB]$/.test(w) || /^[nN]$/.test(w))) {
        const next = tokenize(sql.slice(j, findStringEnd(sql, j) + 1))[0];
        if (next) {
          out.push({ kind: 'string', value: next.value, raw: w + next.raw });
          i = j + next.raw.length;
          continue;
        }
      }
      out.push({ kind: 'word', value: w, raw: w });
      i = j;
      continue;
    }
    // Multi-character operators that matter for skipping: keep them whole.
    const op = /^(<=>|<=|>=|<>|!=|:=|\|\||&&|<<|>>)/.exec(sql.slice(i, i + 3));
    const text = op ? op[0] : ch;
    out.push({ kind: 'punct', value: text, raw: text });
    i += text.length;
  }
  return out;
}

function findStringEnd(sql: string, start: number): number {
  const q = sql[start];
  let j = start + 1;
  while (j < sql.length) {
    const c = sql[j];
    if (c === '\\') j += 2;
    else if (c === q && sql[j + 1] === q) j += 2;
    else if (c === q) return j;
    else j++;
  }
  return sql.length - 1;
}

// ---------------------------------------------------------------------------------------------
// Statement model

/** A column as declared in DDL. */
export interface ColumnDef {
  name: string;
  /** Type text as written, normalised (`int(10) unsigned`, `enum('a','b')`, `varchar(20)`). */
  typeText: string;
  /** CHARACTER SET given on the column (or implied by NATIONAL/BINARY), lower case. */
  charset: string | null;
  collation: string | null;
  /** The BINARY attribute on a character type: the charset's binary collation. */
  binaryCollation: boolean;
  nullable: boolean;
  /** Whether NULL/NOT NULL was written (an inline PRIMARY KEY makes it NOT NULL). */
  nullSpecified: boolean;
  /** DEFAULT as SQL text (`'a,b'`, `0`, `current_timestamp()`, `NULL`), or null. */
  defaultValue: string | null;
  generated: boolean;
  autoIncrement: boolean;
  /** Inline PRIMARY KEY. */
  primaryKey: boolean;
}

export type ColumnPosition = { kind: 'last' } | { kind: 'first' } | { kind: 'after'; column: string };

/** One column- or key-changing spec of an ALTER TABLE. */
export type AlterSpec =
  | { spec: 'add'; column: ColumnDef; position: ColumnPosition; ifNotExists: boolean }
  | { spec: 'drop'; column: string; ifExists: boolean }
  /** CHANGE old new-def (MODIFY: `from` is the column's own name); `position` null when not given. */
  | { spec: 'change'; from: string; column: ColumnDef; position: ColumnPosition | null; ifExists: boolean }
  | { spec: 'rename-column'; from: string; to: string; ifExists: boolean }
  /** ALTER COLUMN x SET DEFAULT v (`value` as SQL text) / DROP DEFAULT (`value` null). */
  | { spec: 'default'; column: string; value: string | null }
  | { spec: 'add-primary-key'; columns: string[] }
  | { spec: 'drop-primary-key' };

export interface TableOptions {
  charset: string | null;
  collation: string | null;
}

export type DdlStatement =
  | {
      kind: 'create-table';
      table: TableRef;
      ifNotExists: boolean;
      orReplace: boolean;
      temporary: boolean;
      columns: ColumnDef[];
      /** Column names of the primary key in key order (table-level or inline), empty when none. */
      primaryKey: string[];
      options: TableOptions;
    }
  | { kind: 'create-table-like'; table: TableRef; like: TableRef; ifNotExists: boolean; orReplace: boolean; temporary: boolean }
  /** CREATE TABLE ... SELECT: columns come from a query; re-read the table from the server. */
  | { kind: 'create-table-select'; table: TableRef; temporary: boolean }
  | { kind: 'add-columns'; table: TableRef; columns: { column: ColumnDef; position: ColumnPosition; ifNotExists: boolean }[] }
  | { kind: 'drop-table'; tables: TableRef[]; ifExists: boolean; temporary: boolean }
  | { kind: 'truncate-table'; table: TableRef }
  | { kind: 'rename-table'; renames: { from: TableRef; to: TableRef }[] }
  /** An ALTER TABLE that changes columns or the primary key (beyond ADD COLUMN), specs in statement order. */
  | { kind: 'alter-columns'; table: TableRef; specs: AlterSpec[] }
  /** An ALTER TABLE that changes no column and no key: indexes, constraints, table options, ALGORITHM/LOCK. */
  | { kind: 'alter-no-columns'; table: TableRef }
  /** An ALTER TABLE Ferry cannot follow exactly (CONVERT TO CHARACTER SET, RENAME TO mixed with other specs, ...). */
  | { kind: 'other-alter'; table: TableRef }
  /** A table DDL Ferry could not read completely. */
  | { kind: 'unparsed'; reason: string };

// ---------------------------------------------------------------------------------------------
// Parser

class Parser {
  private i = 0;
  constructor(
    private readonly toks: Token[],
    private readonly defaultSchema: string,
  ) {}

  peek(k = 0): Token | undefined {
    return this.toks[this.i + k];
  }
  next(): Token {
    const t = this.toks[this.i++];
    if (!t) throw new ParseError('unexpected end of statement');
    return t;
  }
  /** Whether the next token is the (case-insensitive) keyword `w`; unquoted words only. */
  isWord(w: string, k = 0): boolean {
    const t = this.peek(k);
    return t !== undefined && t.kind === 'word' && t.value.toUpperCase() === w;
  }
  isPunct(p: string, k = 0): boolean {
    const t = this.peek(k);
    return t !== undefined && t.kind === 'punct' && t.value === p;
  }
  accept(...words: string[]): boolean {
    for (let k = 0; k < words.length; k++) if (!this.isWord(words[k] as string, k)) return false;
    this.i += words.length;
    return true;
  }
  acceptPunct(p: string): boolean {
    if (this.isPunct(p)) {
      this.i++;
      return true;
    }
    return false;
  }
  expect(...words: string[]): void {
    if (!this.accept(...words)) throw new ParseError(`expected ${words.join(' ')} near "${this.peek()?.raw ?? 'end'}"`);
  }
  expectPunct(p: string): void {
    if (!this.acceptPunct(p)) throw new ParseError(`expected "${p}" near "${this.peek()?.raw ?? 'end'}"`);
  }
  name(): string {
    const t = this.next();
    if (t.kind === 'ident' || t.kind === 'word') return t.value;
    // Some servers accept double-quoted names in places; keep them.
    if (t.kind === 'string' && t.raw.startsWith('"')) return t.value;
    throw new ParseError(`expected a name near "${t.raw}"`);
  }
  tableRef(): TableRef {
    const first = this.name();
    if (this.acceptPunct('.')) return { schema: first, name: this.name() };
    return { schema: this.defaultSchema, name: first };
  }
  /** Skips tokens up to (not including) a `,` or `)` at depth 0. */
  skipItem(): void {
    let depth = 0;
    while (this.peek()) {
      if (depth === 0 && (this.isPunct(',') || this.isPunct(')'))) return;
      if (this.isPunct('(')) depth++;
      else if (this.isPunct(')')) depth--;
      this.i++;
    }
  }
  /** Consumes a balanced `( ... )` group and returns its source text. */
  group(): string {
    if (!this.isPunct('(')) throw new ParseError(`expected "(" near "${this.peek()?.raw ?? 'end'}"`);
    let depth = 0;
    const parts: string[] = [];
    do {
      const t = this.next();
      if (t.kind === 'punct' && t.value === '(') depth++;
      if (t.kind === 'punct' && t.value === ')') depth--;
      parts.push(t.raw);
    } while (depth > 0);
    return joinRaw(parts);
  }
}

class ParseError extends Error {}

/** Joins token texts with spaces where SQL needs them (between words), none around punctuation. */
function joinRaw(parts: string[]): string {
  let out = '';
  for (const p of parts) {
    if (out.length > 0 && /[\w`'"]$/.test(out) && /^[\w`'"]/.test(p)) out += ' ';
    out += p;
  }
  return out;
}

/** Multi-word type names, normalised to what logicalTypeFromColumnType knows. */
const MULTI_WORD_TYPES: [string[], string][] = [
  [['DOUBLE', 'PRECISION'], 'double'],
  [['NATIONAL', 'CHARACTER', 'VARYING'], 'varchar'],
  [['NATIONAL', 'CHAR', 'VARYING'], 'varchar'],
  [['NATIONAL', 'VARCHAR'], 'varchar'],
  [['NATIONAL', 'CHARACTER'], 'char'],
  [['NATIONAL', 'CHAR'], 'char'],
  [['CHARACTER', 'VARYING'], 'varchar'],
  [['CHAR', 'VARYING'], 'varchar'],
  [['LONG', 'VARBINARY'], 'mediumblob'],
  [['LONG', 'VARCHAR'], 'mediumtext'],
  [['LONG', 'CHAR', 'VARYING'], 'mediumtext'],
];

const TYPE_ALIASES: Record<string, string> = {
  bool: 'tinyint(1)',
  boolean: 'tinyint(1)',
  integer: 'int',
  int1: 'tinyint',
  int2: 'smallint',
  int3: 'mediumint',
  middleint: 'mediumint',
  int4: 'int',
  int8: 'bigint',
  dec: 'decimal',
  numeric: 'decimal',
  fixed: 'decimal',
  real: 'double',
  float4: 'float',
  float8: 'double',
  character: 'char',
  nchar: 'char',
  nvarchar: 'varchar',
  long: 'mediumtext',
  geomcollection: 'geometrycollection',
};

/** Parses `name type attributes...` of one column definition. */
function parseColumnDef(p: Parser): ColumnDef {
  const name = p.name();
  const def: ColumnDef = {
    name,
    typeText: '',
    charset: null,
    collation: null,
    binaryCollation: false,
    nullable: true,
    nullSpecified: false,
    defaultValue: null,
    generated: false,
    autoIncrement: false,
    primaryKey: false,
  };
  // Type name.
  let base: string | null = null;
  let national = false;
  for (const [words, norm] of MULTI_WORD_TYPES) {
    if (p.accept(...words)) {
      base = norm;
      national = words[0] === 'NATIONAL';
      break;
    }
  }
  if (base === null) {
    const t = p.next();
    if (t.kind !== 'word') throw new ParseError(`expected a type for column ${name} near "${t.raw}"`);
    base = t.value.toLowerCase();
    national = base === 'nchar' || base === 'nvarchar';
  }
  if (base === 'serial') {
    def.typeText = 'bigint(20) unsigned';
    def.nullable = false;
    def.nullSpecified = true;
    def.autoIncrement = true;
  } else {
    let typeText = TYPE_ALIASES[base] ?? base;
    if (p.isPunct('(')) {
      const g = p.group();
      // `bool` has no arguments; anything else takes the written ones.
      typeText = typeText.replace(/\(.*\)$/, '') + g;
    }
    const flags: string[] = [];
    for (;;) {
      if (p.accept('UNSIGNED')) flags.push('unsigned');
      else if (p.accept('SIGNED')) continue;
      else if (p.accept('ZEROFILL')) flags.push('zerofill');
      else break;
    }
    // ZEROFILL implies UNSIGNED.
    if (flags.includes('zerofill') && !flags.includes('unsigned')) flags.unshift('unsigned');
    def.typeText = [typeText, ...flags].join(' ');
  }
  if (national) def.charset = 'utf8mb3';
  if (base === 'char' && p.accept('BYTE')) def.typeText = def.typeText.replace(/^char/, 'binary');

  // Attributes, in any order, until `,` or `)` at depth 0 (or the end of an ALTER spec).
  while (p.peek() && !p.isPunct(',') && !p.isPunct(')') && !p.isPunct(';')) {
    if (p.accept('NOT', 'NULL')) {
      def.nullable = false;
      def.nullSpecified = true;
    } else if (p.accept('NULL')) {
      def.nullable = true;
      def.nullSpecified = true;
    } else if (p.accept('DEFAULT')) {
      def.defaultValue = parseDefault(p);
    } else if (p.accept('AUTO_INCREMENT')) {
      def.autoIncrement = true;
    } else if (p.accept('SERIAL', 'DEFAULT', 'VALUE')) {
      def.autoIncrement = true;
      def.nullable = false;
      def.nullSpecified = true;
    } else if (p.accept('PRIMARY', 'KEY') || p.accept('KEY')) {
      def.primaryKey = true;
    } else if (p.accept('UNIQUE')) {
      p.accept('KEY');
    } else if (p.accept('COMMENT')) {
      p.next();
    } else if (p.accept('CHARACTER', 'SET') || p.accept('CHARSET')) {
      def.charset = p.name().toLowerCase();
    } else if (p.accept('COLLATE')) {
      def.collation = p.name().toLowerCase();
    } else if (p.accept('BINARY')) {
      def.binaryCollation = true;
    } else if (p.accept('ASCII')) {
      def.charset = 'latin1';
    } else if (p.accept('UNICODE')) {
      def.charset = 'ucs2';
    } else if (p.accept('GENERATED', 'ALWAYS', 'AS') || p.accept('AS')) {
      // MariaDB also has GENERATED ALWAYS AS ROW START/END (system versioning).
      if (p.isPunct('(')) p.group();
      else p.next();
      def.generated = true;
    } else if (p.accept('VIRTUAL') || p.accept('STORED') || p.accept('PERSISTENT')) {
      def.generated = true;
    } else if (p.accept('ON', 'UPDATE')) {
      parseDefault(p);
    } else if (p.accept('INVISIBLE') || p.accept('VISIBLE')) {
      continue;
    } else if (p.accept('CONSTRAINT')) {
      if (!p.isWord('CHECK')) p.name();
    } else if (p.accept('CHECK')) {
      p.group();
    } else if (p.accept('REFERENCES')) {
      p.tableRef();
      if (p.isPunct('(')) p.group();
      while (p.peek() && !p.isPunct(',') && !p.isPunct(')') && !p.isPunct(';') && !p.isWord('COMMENT')) p.next();
    } else if (p.accept('COLUMN_FORMAT') || p.accept('STORAGE') || p.accept('SRID')) {
      p.next();
    } else if (p.accept('COMPRESSED')) {
      if (p.acceptPunct('=')) p.next();
    } else if (p.accept('ENGINE_ATTRIBUTE') || p.accept('SECONDARY_ENGINE_ATTRIBUTE')) {
      p.acceptPunct('=');
      p.next();
    } else if (p.isWord('FIRST') || p.isWord('AFTER')) {
      return def; // position of an ALTER ... ADD, read by the caller
    } else if (p.accept('WITH', 'SYSTEM', 'VERSIONING') || p.accept('WITHOUT', 'SYSTEM', 'VERSIONING')) {
      continue;
    } else {
      throw new ParseError(`unexpected "${p.peek()?.raw}" in the definition of column ${name}`);
    }
  }
  if (def.primaryKey) {
    def.nullable = false;
  }
  return def;
}

/** Reads a DEFAULT (or ON UPDATE) expression and returns its SQL text. */
function parseDefault(p: Parser): string {
  if (p.isPunct('(')) return p.group();
  const t = p.next();
  if (t.kind === 'punct' && (t.value === '-' || t.value === '+')) {
    const n = p.next();
    return t.value === '-' ? `-${n.raw}` : n.raw;
  }
  if (t.kind === 'string') {
    // Charset introducers and hex literals keep their form; plain strings are normalised.
    if (/^['"]/.test(t.raw)) return `'${t.value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
    return t.raw;
  }
  if (t.kind === 'word' && p.isPunct('(')) return `${t.value.toLowerCase()}${p.group()}`;
  if (t.kind === 'word' && /^(CURRENT_TIMESTAMP|NOW|LOCALTIME|LOCALTIMESTAMP)$/i.test(t.value)) return `${t.value.toLowerCase()}()`;
  if (t.kind === 'word' && /^NULL$/i.test(t.value)) return 'NULL';
  return t.raw;
}

/** Skips a table-level definition: index, key, constraint, check, period. Returns PK columns if it is the PRIMARY KEY. */
function parseTableConstraint(p: Parser): string[] | null {
  if (p.accept('CONSTRAINT')) {
    if (!p.isWord('PRIMARY') && !p.isWord('UNIQUE') && !p.isWord('FOREIGN') && !p.isWord('CHECK')) p.name();
  }
  if (p.accept('PRIMARY', 'KEY')) {
    // Optional index name / USING type before the column list.
    while (p.peek() && !p.isPunct('(')) p.next();
    const cols = keyColumns(p);
    p.skipItem();
    return cols;
  }
  p.skipItem();
  return null;
}

/** `(a, b(10) DESC, `c`)` → ['a','b','c']. */
function keyColumns(p: Parser): string[] {
  p.expectPunct('(');
  const cols: string[] = [];
  for (;;) {
    cols.push(p.name());
    // Prefix length, ASC/DESC.
    while (p.peek() && !p.isPunct(',') && !p.isPunct(')')) {
      if (p.isPunct('(')) p.group();
      else p.next();
    }
    if (p.acceptPunct(')')) return cols;
    p.expectPunct(',');
  }
}

function startsTableConstraint(p: Parser): boolean {
  return (
    p.isWord('PRIMARY') || p.isWord('KEY') || p.isWord('INDEX') || p.isWord('UNIQUE') || p.isWord('FULLTEXT') ||
    p.isWord('SPATIAL') || p.isWord('CONSTRAINT') || p.isWord('FOREIGN') || p.isWord('CHECK') ||
    (p.isWord('PERIOD') && p.isWord('FOR', 1))
  );
}

function parseTableOptions(p: Parser): TableOptions {
  const opts: TableOptions = { charset: null, collation: null };
  while (p.peek() && !p.isPunct(';')) {
    if (p.isWord('PARTITION') || p.isWord('AS') || p.isWord('SELECT') || p.isWord('IGNORE') || p.isWord('REPLACE') || p.isPunct('(')) break;
    p.accept('DEFAULT');
    if (p.accept('CHARACTER', 'SET') || p.accept('CHARSET')) {
      p.acceptPunct('=');
      opts.charset = p.name().toLowerCase();
    } else if (p.accept('COLLATE')) {
      p.acceptPunct('=');
      opts.collation = p.name().toLowerCase();
    } else {
      p.next();
      // `UNION = (t1, t2)` and other parenthesised option values.
      if (p.acceptPunct('=') && p.isPunct('(')) p.group();
    }
  }
  return opts;
}

function parseCreate(p: Parser): DdlStatement | null {
  const orReplace = p.accept('OR', 'REPLACE');
  const temporary = p.accept('TEMPORARY');
  if (!p.accept('TABLE')) return null; // CREATE INDEX / VIEW / DATABASE ...: not tracked here
  const ifNotExists = p.accept('IF', 'NOT', 'EXISTS');
  const table = p.tableRef();
  if (p.accept('LIKE')) return { kind: 'create-table-like', table, like: p.tableRef(), ifNotExists, orReplace, temporary };
  if (p.isPunct('(') && p.isWord('LIKE', 1)) {
    p.expectPunct('(');
    p.expect('LIKE');
    const like = p.tableRef();
    p.expectPunct(')');
    return { kind: 'create-table-like', table, like, ifNotExists, orReplace, temporary };
  }
  const columns: ColumnDef[] = [];
  let primaryKey: string[] = [];
  if (p.acceptPunct('(')) {
    if (p.isWord('SELECT')) return { kind: 'create-table-select', table, temporary };
    for (;;) {
      if (startsTableConstraint(p)) {
        const pk = parseTableConstraint(p);
        if (pk) primaryKey = pk;
      } else {
        columns.push(parseColumnDef(p));
      }
      if (p.acceptPunct(')')) break;
      p.expectPunct(',');
    }
  }
  const options = parseTableOptions(p);
  if (p.isWord('AS') || p.isWord('SELECT') || p.isWord('IGNORE') || p.isWord('REPLACE') || p.isPunct('(') || columns.length === 0) {
    return { kind: 'create-table-select', table, temporary };
  }
  if (primaryKey.length === 0) primaryKey = columns.filter((c) => c.primaryKey).map((c) => c.name);
  return { kind: 'create-table', table, ifNotExists, orReplace, temporary, columns, primaryKey, options };
}

/** ALTER specs that change no column and no primary key. */
function isHarmlessAlterSpec(p: Parser): boolean {
  if (p.isWord('ADD')) {
    const k = 1;
    if (p.isWord('PRIMARY', k)) return false;
    if (p.isWord('CONSTRAINT', k)) {
      // ADD CONSTRAINT [name] PRIMARY KEY changes the key.
      for (let j = k + 1; j <= k + 2; j++) if (p.isWord('PRIMARY', j)) return false;
      return true;
    }
    return ['INDEX', 'KEY', 'UNIQUE', 'FULLTEXT', 'SPATIAL', 'FOREIGN', 'CHECK', 'PARTITION', 'PERIOD', 'SYSTEM'].some((w) => p.isWord(w, k));
  }
  if (p.isWord('DROP')) {
    if (p.isWord('PRIMARY', 1)) return false;
    return ['INDEX', 'KEY', 'FOREIGN', 'CONSTRAINT', 'CHECK', 'PARTITION', 'PERIOD', 'SYSTEM'].some((w) => p.isWord(w, 1));
  }
  if (p.isWord('RENAME')) return p.isWord('INDEX', 1) || p.isWord('KEY', 1);
  if (p.isWord('ALTER')) return p.isWord('INDEX', 1) || p.isWord('KEY', 1) || p.isWord('CONSTRAINT', 1) || p.isWord('CHECK', 1);
  if (p.isWord('ENABLE') || p.isWord('DISABLE')) return p.isWord('KEYS', 1);
  if (p.isWord('ORDER') && p.isWord('BY', 1)) return true;
  if (p.isWord('CONVERT')) return false;
  // Table options: ENGINE=, COMMENT=, AUTO_INCREMENT=, ROW_FORMAT=, [DEFAULT] CHARSET= (the default for
  // columns added later, not a change of existing ones), ALGORITHM=, LOCK=, FORCE, ...
  return (
    p.isWord('ALGORITHM') || p.isWord('LOCK') || p.isWord('FORCE') || p.isWord('ENGINE') || p.isWord('COMMENT') || p.isWord('AUTO_INCREMENT') ||
    p.isWord('ROW_FORMAT') || p.isWord('KEY_BLOCK_SIZE') || p.isWord('STATS_PERSISTENT') || p.isWord('STATS_AUTO_RECALC') ||
    p.isWord('STATS_SAMPLE_PAGES') || p.isWord('PACK_KEYS') || p.isWord('CHECKSUM') || p.isWord('DELAY_KEY_WRITE') || p.isWord('AVG_ROW_LENGTH') ||
    p.isWord('MAX_ROWS') || p.isWord('MIN_ROWS') || p.isWord('PAGE_CHECKSUM') || p.isWord('TRANSACTIONAL') || p.isWord('ENCRYPTED') ||
    p.isWord('ENCRYPTION_KEY_ID') || p.isWord('PAGE_COMPRESSED') || p.isWord('PAGE_COMPRESSION_LEVEL') || p.isWord('CHARSET') || p.isWord('COLLATE') ||
    (p.isWord('CHARACTER') && p.isWord('SET', 1)) || (p.isWord('DEFAULT') && (p.isWord('CHARSET', 1) || p.isWord('CHARACTER', 1) || p.isWord('COLLATE', 1)))
  );
}

function columnPosition(p: Parser): ColumnPosition | null {
  if (p.accept('FIRST')) return { kind: 'first' };
  if (p.accept('AFTER')) return { kind: 'after', column: p.name() };
  return null;
}

function parseAlter(p: Parser): DdlStatement | null {
  p.accept('ONLINE');
  p.accept('IGNORE');
  if (!p.accept('TABLE')) return null;
  p.accept('IF', 'EXISTS');
  const table = p.tableRef();
  const specs: AlterSpec[] = [];
  // `WAIT n` / `NOWAIT` (MariaDB) come before the specs.
  if (p.accept('WAIT')) p.next();
  p.accept('NOWAIT');
  let other = false;
  let renameTo: TableRef | null = null;
  while (p.peek() && !p.isPunct(';')) {
    if (isHarmlessAlterSpec(p)) {
      p.skipItem();
    } else if (p.isWord('ADD') && !p.isWord('PRIMARY', 1) && !p.isWord('CONSTRAINT', 1)) {
      p.expect('ADD');
      p.accept('COLUMN');
      const ifNotExists = p.accept('IF', 'NOT', 'EXISTS');
      if (p.acceptPunct('(')) {
        // ADD COLUMN (a int, b int): no positions inside the list.
        for (;;) {
          if (startsTableConstraint(p)) {
            const pk = parseTableConstraint(p);
            if (pk) specs.push({ spec: 'add-primary-key', columns: pk });
          } else {
            specs.push({ spec: 'add', column: parseColumnDef(p), position: { kind: 'last' }, ifNotExists });
          }
          if (p.acceptPunct(')')) break;
          p.expectPunct(',');
        }
      } else {
        const column = parseColumnDef(p);
        specs.push({ spec: 'add', column, position: columnPosition(p) ?? { kind: 'last' }, ifNotExists });
      }
    } else if (p.isWord('ADD')) {
      // ADD PRIMARY KEY (...) / ADD CONSTRAINT [name] PRIMARY KEY (...)
      p.expect('ADD');
      const pk = parseTableConstraint(p);
      if (pk) specs.push({ spec: 'add-primary-key', columns: pk });
    } else if (p.accept('DROP', 'PRIMARY', 'KEY')) {
      specs.push({ spec: 'drop-primary-key' });
    } else if (p.isWord('DROP')) {
      p.expect('DROP');
      p.accept('COLUMN');
      const ifExists = p.accept('IF', 'EXISTS');
      specs.push({ spec: 'drop', column: p.name(), ifExists });
      p.accept('RESTRICT');
      p.accept('CASCADE');
    } else if (p.isWord('CHANGE') || p.isWord('MODIFY')) {
      const modify = p.next().value.toUpperCase() === 'MODIFY';
      p.accept('COLUMN');
      const ifExists = p.accept('IF', 'EXISTS');
      const from = modify ? (p.peek()?.value ?? '') : p.name();
      const column = parseColumnDef(p);
      specs.push({ spec: 'change', from, column, position: columnPosition(p), ifExists });
    } else if (p.isWord('RENAME') && p.isWord('COLUMN', 1)) {
      p.expect('RENAME', 'COLUMN');
      const ifExists = p.accept('IF', 'EXISTS');
      const from = p.name();
      p.expect('TO');
      specs.push({ spec: 'rename-column', from, to: p.name(), ifExists });
    } else if (p.isWord('RENAME')) {
      p.expect('RENAME');
      if (!p.accept('TO')) p.accept('AS');
      renameTo = p.tableRef();
    } else if (p.isWord('ALTER')) {
      p.expect('ALTER');
      p.accept('COLUMN');
      p.accept('IF', 'EXISTS');
      const column = p.name();
      if (p.accept('SET', 'DEFAULT')) specs.push({ spec: 'default', column, value: parseDefault(p) });
      else if (p.accept('DROP', 'DEFAULT')) specs.push({ spec: 'default', column, value: null });
      else if (p.accept('SET', 'VISIBLE') || p.accept('SET', 'INVISIBLE')) {
        // Invisible columns are still in every row image: nothing Ferry models changes.
      } else {
        other = true;
        p.skipItem();
      }
    } else {
      other = true;
      p.skipItem();
    }
    if (!p.acceptPunct(',')) break;
  }
  if (p.peek() && !p.isPunct(';')) other = true; // PARTITION BY ... and other trailing clauses
  if (renameTo) {
    if (other || specs.length > 0) return { kind: 'other-alter', table };
    return { kind: 'rename-table', renames: [{ from: table, to: renameTo }] };
  }
  if (other) return { kind: 'other-alter', table };
  if (specs.length === 0) return { kind: 'alter-no-columns', table };
  if (specs.every((s) => s.spec === 'add' && !s.column.primaryKey)) {
    return { kind: 'add-columns', table, columns: specs.map((s) => s as Extract<AlterSpec, { spec: 'add' }>) };
  }
  return { kind: 'alter-columns', table, specs };
}

function parseDrop(p: Parser): DdlStatement | null {
  const temporary = p.accept('TEMPORARY');
  if (!p.accept('TABLE')) return null;
  const ifExists = p.accept('IF', 'EXISTS');
  const tables: TableRef[] = [p.tableRef()];
  while (p.acceptPunct(',')) tables.push(p.tableRef());
  return { kind: 'drop-table', tables, ifExists, temporary };
}

function parseRename(p: Parser): DdlStatement | null {
  if (!p.accept('TABLE') && !p.accept('TABLES')) return null;
  p.accept('IF', 'EXISTS');
  const renames: { from: TableRef; to: TableRef }[] = [];
  for (;;) {
    const from = p.tableRef();
    if (p.accept('WAIT')) p.next();
    p.accept('NOWAIT');
    p.expect('TO');
    renames.push({ from, to: p.tableRef() });
    if (!p.acceptPunct(',')) break;
    p.accept('IF', 'EXISTS');
  }
  return { kind: 'rename-table', renames };
}

/**
 * Parses one DDL statement from the binlog. Returns null when the statement is not a table DDL
 * Ferry tracks (DML, CREATE INDEX, CREATE DATABASE, GRANT ...), `unparsed` when it is one but
 * Ferry cannot read it completely.
 *
 * @param defaultSchema the database in force for the statement (the Query event's db), used for
 *   unqualified table names.
 */
export function parseDdl(sql: string, defaultSchema: string): DdlStatement | null {
  let toks: Token[];
  try {
    toks = tokenize(sql);
  } catch (e) {
    return /\b(CREATE|ALTER|DROP|RENAME|TRUNCATE)\b/i.test(sql) ? { kind: 'unparsed', reason: (e as Error).message } : null;
  }
  const p = new Parser(toks, defaultSchema);
  try {
    if (p.accept('CREATE')) {
      // CREATE DEFINER=... applies to views/routines only; those are not tracked.
      return parseCreate(p);
    }
    if (p.accept('ALTER')) return parseAlter(p);
    if (p.accept('DROP')) return parseDrop(p);
    if (p.accept('RENAME')) return parseRename(p);
    if (p.accept('TRUNCATE')) {
      p.accept('TABLE');
      return { kind: 'truncate-table', table: p.tableRef() };
    }
    return null;
  } catch (e) {
    if (e instanceof ParseError || e instanceof FerryError) return { kind: 'unparsed', reason: e.message };
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Applying statements to the schema model

/** The character set and collation a column gets when its DDL names none. */
export interface CharsetDefaults {
  charset: string;
  collation: string | null;
}

/** Charset and collation of a character column, resolved the way the server does. */
function resolveCharset(def: ColumnDef, table: TableOptions | null, defaults: CharsetDefaults): { charset: string; collation: string | null } {
  let charset = def.charset;
  let collation = def.collation;
  if (charset === null && collation !== null) charset = charsetOfCollation(collation);
  if (charset === null) {
    if (table && table.charset !== null) {
      charset = table.charset;
      collation = collation ?? table.collation;
    } else if (table && table.collation !== null) {
      charset = charsetOfCollation(table.collation);
      collation = collation ?? table.collation;
    } else {
      charset = defaults.charset;
      collation = collation ?? defaults.collation;
    }
  }
  if (def.binaryCollation && charset !== 'binary') collation = `${charset}_bin`;
  return { charset, collation };
}

/** `utf8mb4_unicode_ci` → `utf8mb4`. */
export function charsetOfCollation(collation: string): string {
  if (collation === 'binary') return 'binary';
  const i = collation.indexOf('_');
  return i < 0 ? collation : collation.slice(0, i);
}

function isCharacterType(typeText: string): boolean {
  return /^(char|varchar|tinytext|text|mediumtext|longtext|enum|set)\b/i.test(typeText);
}

/** Builds the ColumnSchema of a DDL column definition, mapped like schema-reader maps COLUMN_TYPE. */
export function columnFromDef(def: ColumnDef, table: TableOptions | null, defaults: CharsetDefaults): ColumnSchema {
  const character = isCharacterType(def.typeText);
  const cs = character ? resolveCharset(def, table, defaults) : { charset: null, collation: null };
  let typeText = def.typeText;
  // CHAR/VARCHAR/TEXT CHARACTER SET binary are BINARY/VARBINARY/BLOB.
  if (character && cs.charset === 'binary') {
    typeText = typeText.replace(/^char\b/i, 'binary').replace(/^varchar\b/i, 'varbinary').replace(/text\b/i, 'blob');
  }
  return {
    name: def.name,
    type: logicalTypeFromColumnType(typeText, cs.charset, cs.collation),
    sourceType: typeText,
    nullable: def.nullable,
    defaultValue: def.defaultValue ?? (def.nullable && !def.generated ? 'NULL' : null),
    generated: def.generated,
  };
}

/**
 * The schema of a table from its CREATE TABLE statement.
 * @param defaults the database's default charset/collation (used when neither the column nor
 *   the table names one).
 */
export function tableFromCreate(stmt: Extract<DdlStatement, { kind: 'create-table' }>, defaults: CharsetDefaults): TableSchema {
  const columns = stmt.columns.map((c) => columnFromDef(c, stmt.options, defaults));
  const primaryKey = stmt.primaryKey.map((name) => {
    const i = columns.findIndex((c) => c.name.toLowerCase() === name.toLowerCase());
    if (i < 0) throw new FerryError('FERRY_DDL_UNSUPPORTED', `primary key column ${name} is not a column of ${stmt.table.schema}.${stmt.table.name}`);
    return i;
  });
  for (const i of primaryKey) (columns[i] as ColumnSchema).nullable = false;
  return { schema: stmt.table.schema, name: stmt.table.name, columns, primaryKey };
}

/**
 * The schema after `ALTER TABLE ... ADD COLUMN ...`. Returns a new TableSchema (the input is not
 * changed). A column that already exists is skipped when the statement said IF NOT EXISTS, and
 * is an error otherwise (the held schema does not match the server's).
 */
export function applyAddColumns(
  schema: TableSchema,
  stmt: Extract<DdlStatement, { kind: 'add-columns' }>,
  defaults: CharsetDefaults,
): TableSchema {
  const columns = schema.columns.slice();
  const pkNames = schema.primaryKey.map((i) => (schema.columns[i] as ColumnSchema).name);
  const find = (name: string): number => columns.findIndex((c) => c.name.toLowerCase() === name.toLowerCase());
  for (const add of stmt.columns) {
    if (find(add.column.name) >= 0) {
      if (add.ifNotExists) continue;
      throw new FerryError('FERRY_SCHEMA_MISMATCH', `column ${add.column.name} already exists in ${schema.schema}.${schema.name}`);
    }
    const col = columnFromDef(add.column, null, defaults);
    if (add.position.kind === 'first') columns.unshift(col);
    else if (add.position.kind === 'after') {
      const at = find(add.position.column);
      if (at < 0) throw new FerryError('FERRY_SCHEMA_MISMATCH', `ADD COLUMN ... AFTER ${add.position.column}: no such column in ${schema.schema}.${schema.name}`);
      columns.splice(at + 1, 0, col);
    } else columns.push(col);
  }
  return { schema: schema.schema, name: schema.name, columns, primaryKey: pkNames.map((n) => find(n)), ...keyIndexOf(schema) };
}

/** The index the key is read through, kept across column changes (not across key changes). */
function keyIndexOf(schema: TableSchema): { keyIndex?: string } {
  return schema.keyIndex === undefined ? {} : { keyIndex: schema.keyIndex };
}

/**
 * The schema after an ALTER TABLE that changes columns or the key, and the column-level changes
 * it made, in statement order. Specs apply one after the other, as the server applies them.
 * Returns a new TableSchema (the input is not changed). A spec that names a column the held
 * schema lacks is an error (the held schema does not match the server's) unless it said IF EXISTS.
 *
 * CHANGE/MODIFY replace the whole definition, as on the server: an omitted NULL/NOT NULL means
 * NULL, an omitted DEFAULT means none (key columns stay NOT NULL).
 */
export function applyAlterSpecs(schema: TableSchema, specs: AlterSpec[], defaults: CharsetDefaults): { table: TableSchema; changes: ColumnChange[] } {
  const columns = schema.columns.slice();
  let pkNames = schema.primaryKey.map((i) => (schema.columns[i] as ColumnSchema).name);
  const changes: ColumnChange[] = [];
  const where = `${schema.schema}.${schema.name}`;
  const find = (name: string): number => columns.findIndex((c) => c.name.toLowerCase() === name.toLowerCase());
  const mustFind = (name: string, what: string): number => {
    const i = find(name);
    if (i < 0) throw new FerryError('FERRY_SCHEMA_MISMATCH', `${what}: no column ${name} in ${where}`);
    return i;
  };
  const place = (col: ColumnSchema, position: ColumnPosition): void => {
    if (position.kind === 'first') columns.unshift(col);
    else if (position.kind === 'after') columns.splice(mustFind(position.column, `AFTER ${position.column}`) + 1, 0, col);
    else columns.push(col);
  };
  const renameInKey = (from: string, to: string): void => {
    pkNames = pkNames.map((n) => (n.toLowerCase() === from.toLowerCase() ? to : n));
  };
  for (const sp of specs) {
    switch (sp.spec) {
      case 'add': {
        if (find(sp.column.name) >= 0) {
          if (sp.ifNotExists) break;
          throw new FerryError('FERRY_SCHEMA_MISMATCH', `column ${sp.column.name} already exists in ${where}`);
        }
        place(columnFromDef(sp.column, null, defaults), sp.position);
        changes.push({ op: 'add', column: sp.column.name });
        if (sp.column.primaryKey) {
          pkNames = [sp.column.name];
          changes.push({ op: 'primary-key' });
        }
        break;
      }
      case 'drop': {
        const i = find(sp.column);
        if (i < 0) {
          if (sp.ifExists) break;
          mustFind(sp.column, 'DROP COLUMN');
        }
        const name = (columns[i] as ColumnSchema).name;
        columns.splice(i, 1);
        changes.push({ op: 'drop', column: name });
        // The server removes a dropped column from its indexes; a key left without columns is gone.
        const before = pkNames.length;
        pkNames = pkNames.filter((n) => n.toLowerCase() !== name.toLowerCase());
        if (pkNames.length !== before) changes.push({ op: 'primary-key' });
        break;
      }
      case 'change': {
        const i = find(sp.from);
        if (i < 0) {
          if (sp.ifExists) break;
          mustFind(sp.from, sp.from === sp.column.name ? 'MODIFY' : 'CHANGE');
        }
        const old = columns[i] as ColumnSchema;
        const col = columnFromDef(sp.column, null, defaults);
        const inKey = pkNames.some((n) => n.toLowerCase() === old.name.toLowerCase());
        if (inKey) col.nullable = false;
        if (inKey && col.defaultValue === 'NULL') col.defaultValue = null;
        if (old.name !== col.name) {
          changes.push({ op: 'rename', from: old.name, to: col.name });
          renameInKey(old.name, col.name);
        }
        if (JSON.stringify({ ...old, name: col.name }) !== JSON.stringify(col)) changes.push({ op: 'modify', column: col.name });
        if (sp.position) {
          columns.splice(i, 1);
          place(col, sp.position);
          if (find(col.name) !== i) changes.push({ op: 'move', column: col.name });
        } else columns[i] = col;
        break;
      }
      case 'rename-column': {
        const i = find(sp.from);
        if (i < 0) {
          if (sp.ifExists) break;
          mustFind(sp.from, 'RENAME COLUMN');
        }
        const old = columns[i] as ColumnSchema;
        columns[i] = { ...old, name: sp.to };
        changes.push({ op: 'rename', from: old.name, to: sp.to });
        renameInKey(old.name, sp.to);
        break;
      }
      case 'default': {
        const i = mustFind(sp.column, 'ALTER COLUMN');
        const old = columns[i] as ColumnSchema;
        columns[i] = { ...old, defaultValue: sp.value ?? (old.nullable && !old.generated ? 'NULL' : null) };
        changes.push({ op: 'modify', column: old.name });
        break;
      }
      case 'add-primary-key': {
        for (const n of sp.columns) mustFind(n, 'ADD PRIMARY KEY');
        pkNames = sp.columns.map((n) => (columns[find(n)] as ColumnSchema).name);
        // Key columns are NOT NULL (the server makes them so).
        for (const n of pkNames) {
          const i = find(n);
          const c = columns[i] as ColumnSchema;
          if (c.nullable) {
            columns[i] = { ...c, nullable: false, defaultValue: c.defaultValue === 'NULL' ? null : c.defaultValue };
            changes.push({ op: 'modify', column: c.name });
          }
        }
        changes.push({ op: 'primary-key' });
        break;
      }
      case 'drop-primary-key':
        pkNames = [];
        changes.push({ op: 'primary-key' });
        break;
    }
  }
  const keyChanged = changes.some((c) => c.op === 'primary-key');
  return { table: { schema: schema.schema, name: schema.name, columns, primaryKey: pkNames.map((n) => find(n)), ...(keyChanged ? {} : keyIndexOf(schema)) }, changes };
}

/**
 * The column-level changes that turn `before` into `after` (two tables with the same name, e.g.
 * the original and the gh-ost ghost table at the swap), matched by column name: a renamed column
 * shows as a drop and an add.
 */
export function diffTables(before: TableSchema, after: TableSchema): ColumnChange[] {
  const out: ColumnChange[] = [];
  const byName = new Map(before.columns.map((c) => [c.name.toLowerCase(), c]));
  const afterNames = new Set(after.columns.map((c) => c.name.toLowerCase()));
  for (const c of before.columns) if (!afterNames.has(c.name.toLowerCase())) out.push({ op: 'drop', column: c.name });
  // Moved: the kept columns outside a longest run that keeps its old relative order (the fewest
  // moves that give the new order).
  const kept = after.columns.filter((c) => byName.has(c.name.toLowerCase())).map((c) => c.name.toLowerCase());
  const oldIndex = kept.map((n) => before.columns.findIndex((c) => c.name.toLowerCase() === n));
  const best = oldIndex.map(() => 1);
  const prev = oldIndex.map(() => -1);
  for (let i = 0; i < oldIndex.length; i++) {
    for (let j = 0; j < i; j++) {
      if ((oldIndex[j] as number) < (oldIndex[i] as number) && (best[j] as number) + 1 > (best[i] as number)) {
        best[i] = (best[j] as number) + 1;
        prev[i] = j;
      }
    }
  }
  const inOrder = new Set<string>();
  let end = best.indexOf(Math.max(0, ...best));
  while (end >= 0) {
    inOrder.add(kept[end] as string);
    end = prev[end] as number;
  }
  for (const c of after.columns) {
    const old = byName.get(c.name.toLowerCase());
    if (!old) out.push({ op: 'add', column: c.name });
    else {
      if (JSON.stringify(old) !== JSON.stringify(c)) out.push({ op: 'modify', column: c.name });
      if (!inOrder.has(c.name.toLowerCase())) out.push({ op: 'move', column: c.name });
    }
  }
  const pk = (t: TableSchema): string => t.primaryKey.map((i) => t.columns[i]?.name.toLowerCase()).join(',');
  if (pk(before) !== pk(after)) out.push({ op: 'primary-key' });
  return out;
}
