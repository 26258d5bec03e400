/**
 * An invariant checker independent of Ferry's own code: it reads every row of a source table
 * (MariaDB) and of its target (MariaDB or PostgreSQL) through plain client queries, renders each
 * value in one canonical text form, and compares by primary key. It shares no code with the
 * sinks or the decoder, so a bug there cannot hide itself here.
 */
import mysql from 'mysql2/promise';
import pg from 'pg';
import { mysqlOptions, pgOptions } from './env.js';

export interface TableDiff {
  table: string;
  sourceRows: number;
  targetRows: number;
  missing: string[];
  extra: string[];
  different: string[];
}

type Canon = string;

/** Canonical text of a JSON document: keys sorted, numbers as written, no whitespace. */
export function canonicalJson(text: string): string {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const value = (): string => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const entries: [string, string][] = [];
      ws();
      if (text[i] === '}') {
        i++;
        return '{}';
      }
      for (;;) {
        ws();
        const k = str();
        ws();
        i++; // :
        const v = value();
        entries.push([k, v]);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        i++; // }
        break;
      }
      entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      return `{${entries.map(([k, v]) => `${k}:${v}`).join(',')}}`;
    }
    if (c === '[') {
      i++;
      const items: string[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return '[]';
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        i++;
        break;
      }
      return `[${items.join(',')}]`;
    }
    if (c === '"') return JSON.stringify(JSON.parse(str()));
    const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?|^true|^false|^null/.exec(text.slice(i));
    if (!m) throw new Error(`bad JSON at ${i}: ${text.slice(i, i + 20)}`);
    i += m[0].length;
    return /^[-\d]/.test(m[0]) ? canonicalNumber(m[0]) : m[0];
  };
  const str = (): string => {
    const start = i;
    i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return text.slice(start, i);
  };
  return value();
}

/**
 * The exact value of a JSON number as plain decimal text: exponent expanded, insignificant zeros
 * and the sign of zero dropped (`1e2` → `100`, `-0.0` → `0`, `1.50` → `1.5`). jsonb keeps numbers
 * exactly but not their spelling.
 */
export function canonicalNumber(t: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(t);
  if (!m) return t;
  let digits = (m[2] ?? '') + (m[3] ?? '');
  let point = (m[2] ?? '').length + Number(m[4] ?? 0);
  while (point > digits.length) digits += '0';
  while (point < 1) {
    digits = '0' + digits;
    point++;
  }
  let int = digits.slice(0, point).replace(/^0+(?=\d)/, '');
  const frac = digits.slice(point).replace(/0+$/, '');
  if (int === '') int = '0';
  const body = frac ? `${int}.${frac}` : int;
  return m[1] === '-' && /[1-9]/.test(body) ? `-${body}` : body;
}

/** A double's text with the sign of zero kept (`String(-0)` is `0`). */
function doubleText(n: number): string {
  return Object.is(n, -0) ? '-0' : String(n);
}

/** Zero and partial-zero dates (`0000-00-00`, `2024-00-15`, year 0000): PostgreSQL has none of them. */
function isZeroDateText(s: string): boolean {
  return /^0000-|^\d{4}-00-|^\d{4}-\d\d-00/.test(s);
}

const TEMPORAL_DATE_TYPES = new Set(['date', 'datetime', 'timestamp']);
const TEXT_TYPES = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', 'enum', 'set']);
const BYTES_TYPES = new Set([
  'tinyblob', 'blob', 'mediumblob', 'longblob', 'binary', 'varbinary',
  'geometry', 'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon', 'geometrycollection',
]);
const GEOMETRY_TYPES = new Set(['geometry', 'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon', 'geometrycollection']);

/** How the source's value is expected in a PostgreSQL target (the documented mapping, TYPES.md). */
function canonSourceForPg(v: unknown, col: ColumnInfo): Canon {
  if (v === null || v === undefined) return 'NULL';
  if (!Buffer.isBuffer(v)) {
    const s = String(v);
    // Zero dates become NULL (the default zero-date policy), U+0000 is stripped from text.
    if (TEMPORAL_DATE_TYPES.has(col.dataType) && isZeroDateText(s)) return 'NULL';
    if (TEXT_TYPES.has(col.dataType) && !col.json) return canonSource(s.replaceAll('\u0000', ''), col);
  }
  return canonSource(v, col);
}

function trimFraction(s: string): string {
  // '2024-01-01 10:00:00.120000' and '2024-01-01 10:00:00.12' are the same instant.
  return s.replace(/(\d\d:\d\d:\d\d)\.(\d*?)0*$/, (_m, t: string, f: string) => (f ? `${t}.${f}` : t));
}

interface ColumnInfo {
  name: string;
  dataType: string;
  json: boolean;
}

function canonSource(v: unknown, col: ColumnInfo): Canon {
  if (v === null || v === undefined) return 'NULL';
  if (Buffer.isBuffer(v)) return `x${v.toString('hex')}`;
  const s = String(v);
  if (col.json) return canonicalJson(s);
  if (col.dataType === 'datetime' || col.dataType === 'timestamp') return trimFraction(s);
  if (col.dataType === 'time') return trimFraction(s);
  if (col.dataType === 'float') return doubleText(Math.fround(Number(s)));
  if (col.dataType === 'double') return doubleText(Number(s));
  if (col.dataType === 'decimal') return s;
  return s;
}

function canonTargetPg(v: unknown, col: ColumnInfo): Canon {
  if (v === null || v === undefined) return 'NULL';
  const s = String(v);
  if (col.json) return canonicalJson(s);
  if (BYTES_TYPES.has(col.dataType)) return `x${s.replace(/^\\x/, '')}`;
  switch (col.dataType) {
    case 'bit': {
      // bit varying(n) prints n binary digits; the source gives ceil(n/8) big-endian bytes.
      const bytes = Math.ceil(s.length / 8);
      return `x${BigInt(`0b${s || '0'}`).toString(16).padStart(bytes * 2, '0')}`;
    }
    case 'datetime':
      return trimFraction(s);
    case 'timestamp':
      return trimFraction(s.replace(/\+00$/, ''));
    case 'time':
      return trimFraction(s);
    case 'float':
      return doubleText(Math.fround(Number(s)));
    case 'double':
      return doubleText(Number(s));
    default:
      return s;
  }
}

async function sourceColumns(conn: mysql.Connection, db: string, table: string): Promise<{ cols: ColumnInfo[]; pk: string[] }> {
  const [rows] = (await conn.query(
    `SELECT c.COLUMN_NAME AS name, c.DATA_TYPE AS dataType, c.COLUMN_KEY AS k,
            EXISTS (SELECT 1 FROM information_schema.CHECK_CONSTRAINTS cc WHERE cc.CONSTRAINT_SCHEMA = c.TABLE_SCHEMA
                    AND cc.TABLE_NAME = c.TABLE_NAME AND cc.CHECK_CLAUSE LIKE CONCAT('%json_valid(\`', c.COLUMN_NAME, '\`)%')) AS isJson
       FROM information_schema.COLUMNS c WHERE c.TABLE_SCHEMA = ? AND c.TABLE_NAME = ? ORDER BY c.ORDINAL_POSITION`,
    [db, table],
  )) as unknown as [{ name: string; dataType: string; k: string; isJson: number | string }[]];
  const [pkRows] = (await conn.query(
    `SELECT COLUMN_NAME AS name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`,
    [db, table],
  )) as unknown as [{ name: string }[]];
  return {
    cols: rows.map((r) => ({ name: r.name, dataType: r.dataType, json: r.dataType === 'json' || Number(r.isJson) === 1 })),
    pk: pkRows.map((r) => r.name),
  };
}

const q = (s: string): string => `\`${s.replace(/`/g, '``')}\``;
const qp = (s: string): string => `"${s.replace(/"/g, '""')}"`;

/**
 * Reads a MariaDB table. With `like`, the columns are those of another table (by name, in its
 * order, with its types): a target is read through its source's column list.
 */
export async function readSourceRows(db: string, table: string, like?: { cols: ColumnInfo[]; pk: string[] }, forPg = false): Promise<{ rows: Map<string, string>; cols: ColumnInfo[]; pk: string[] }> {
  const conn = await mysql.createConnection({ ...mysqlOptions, multipleStatements: false });
  try {
    await conn.query("SET time_zone = '+00:00'");
    const own = await sourceColumns(conn, db, table);
    if (own.cols.length === 0) return { rows: new Map(), cols: [], pk: [] };
    const { cols, pk } = like ?? own;
    const select = cols
      .map((c) => (c.dataType === 'float' ? `CAST(${q(c.name)} AS DOUBLE)` : GEOMETRY_TYPES.has(c.dataType) ? `CAST(${q(c.name)} AS BINARY)` : q(c.name)))
      .join(', ');
    const [rows] = (await conn.query({ sql: `SELECT ${select} FROM ${q(db)}.${q(table)}`, rowsAsArray: true })) as unknown as [unknown[][]];
    const out = new Map<string, string>();
    const pkIdx = pk.map((p) => cols.findIndex((c) => c.name === p));
    const canon = forPg ? canonSourceForPg : canonSource;
    for (const r of rows) {
      const whole = r.map((v, i) => canon(v, cols[i] as ColumnInfo)).join('\u0001');
      // No primary key: the whole row is the key (rows compared as a set).
      const key = pkIdx.length > 0 ? pkIdx.map((i) => canon(r[i], cols[i] as ColumnInfo)).join('|') : whole;
      out.set(key, whole);
    }
    return { rows: out, cols, pk };
  } finally {
    await conn.end();
  }
}

export async function readPgRows(database: string, schema: string, table: string, cols: ColumnInfo[], pk: string[]): Promise<Map<string, string>> {
  const client = new pg.Client({ ...pgOptions, database, types: { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig });
  await client.connect();
  try {
    await client.query("SET TimeZone = 'UTC'; SET extra_float_digits = 3");
    const res = await client.query({ text: `SELECT ${cols.map((c) => qp(c.name)).join(', ')} FROM ${qp(schema)}.${qp(table)}`, rowMode: 'array' });
    const out = new Map<string, string>();
    const pkIdx = pk.map((p) => cols.findIndex((c) => c.name === p));
    for (const r of res.rows as unknown[][]) {
      const whole = r.map((v, i) => canonTargetPg(v, cols[i] as ColumnInfo)).join('\u0001');
      const key = pkIdx.length > 0 ? pkIdx.map((i) => canonTargetPg(r[i], cols[i] as ColumnInfo)).join('|') : whole;
      out.set(key, whole);
    }
    return out;
  } finally {
    await client.end();
  }
}

function diff(table: string, src: Map<string, string>, dst: Map<string, string>): TableDiff {
  const d: TableDiff = { table, sourceRows: src.size, targetRows: dst.size, missing: [], extra: [], different: [] };
  for (const [k, v] of src) {
    const t = dst.get(k);
    if (t === undefined) d.missing.push(k);
    else if (t !== v) d.different.push(`${k}: source ${v.replace(/\u0001/g, ' | ')} / target ${t.replace(/\u0001/g, ' | ')}`);
  }
  for (const k of dst.keys()) if (!src.has(k)) d.extra.push(k);
  return d;
}

/** Compares a MariaDB source table with its PostgreSQL target (schema = source db unless routed). */
export async function compareToPostgres(db: string, table: string, pgDatabase: string, pgSchema = db, pgTable = table): Promise<TableDiff> {
  const src = await readSourceRows(db, table, undefined, true);
  if (src.cols.length === 0) return diff(`${db}.${table}`, src.rows, new Map());
  const dst = await readPgRows(pgDatabase, pgSchema, pgTable, src.cols, src.pk).catch((e: unknown) => {
    if (/does not exist/.test(String(e))) return new Map<string, string>();
    throw e;
  });
  return diff(`${db}.${table}`, src.rows, dst);
}

/** Compares a MariaDB source table with a MariaDB target table (same server or not). */
export async function compareToMySql(db: string, table: string, targetDb: string, targetTable = table): Promise<TableDiff> {
  const src = await readSourceRows(db, table);
  const dst = await readSourceRows(targetDb, targetTable, src).catch((e: unknown) => {
    if (/Unknown column|doesn't exist/.test(String(e))) return { rows: new Map<string, string>() };
    throw e;
  });
  return diff(`${db}.${table}`, src.rows, dst.rows);
}

export function summarize(d: TableDiff): string {
  return `${d.table}: source ${d.sourceRows}, target ${d.targetRows}, missing ${d.missing.length}, extra ${d.extra.length}, different ${d.different.length}${
    d.missing.length + d.extra.length + d.different.length > 0 ? `\n  e.g. ${[...d.missing.slice(0, 3).map((k) => `missing ${k}`), ...d.extra.slice(0, 3).map((k) => `extra ${k}`), ...d.different.slice(0, 3)].join('\n  ')}` : ''
  }`;
}

export function isEqual(d: TableDiff): boolean {
  return d.missing.length === 0 && d.extra.length === 0 && d.different.length === 0;
}
