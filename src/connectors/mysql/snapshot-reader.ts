/**
 * Snapshot reads: one primary-key range (chunk) of a table per query, keyset-paginated, with
 * values in exactly the canonical forms of core/change.ts, equal to what the binlog decoder
 * produces for the same row.
 *
 * How each value gets its canonical form over the text protocol (connection.ts sets the session):
 * - BIGINT arrives as an exact string (bigNumberStrings) and becomes number or bigint here.
 * - FLOAT is printed with 6 digits by the server, so it is selected as
 *   `CAST(CAST(col AS DOUBLE) AS CHAR)`: the 32-bit value widened exactly, as text.
 * - DOUBLE is selected as `CAST(col AS CHAR)` and parsed with Number(): read as a plain column,
 *   about 1 in 100 values came back one unit in the last place off (40,000 values checked here:
 *   412 off as a column, none through CAST AS CHAR), e.g. 910040.7869100955 read as ...956.
 * - DECIMAL, DATE, DATETIME, TIMESTAMP (UTC session), TIME keep the server's text, fsp digits
 *   included; the binary protocol would drop `.000000` fractions, so it is not used.
 * - GEOMETRY is selected as `CAST(col AS BINARY)`: the raw SRID + WKB bytes, not the driver's
 *   parsed object.
 * - BIT, BINARY, BLOB arrive as Buffers (binary charset); ENUM/SET as labels; JSON as text.
 */
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { Row, Value } from '../../core/change.js';
import type { SnapshotChunk } from '../../core/contracts.js';
import { FerryError, throwIfAborted } from '../../core/errors.js';
import type { ColumnSchema, LogicalType, TableRef, TableSchema } from '../../core/schema.js';
import type { SnapshotTextChunk, TextRows } from '../../core/text-rows.js';
import { quoteMySqlIdent, quoteMySqlTable } from './quote.js';
import { queryText } from './text-result-query.js';

const quoteId = quoteMySqlIdent;

function quoteTable(t: TableRef): string {
  return quoteMySqlTable(t.schema, t.name);
}

/** BIGINT text → number when it is a safe integer, else bigint (canonical 64-bit form). */
export function int64FromText(s: string): number | bigint {
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : BigInt(s);
}

function selectExpr(c: ColumnSchema): string {
  const q = quoteId(c.name);
  switch (c.type.kind) {
    case 'float':
      return `CAST(CAST(${q} AS DOUBLE) AS CHAR)`;
    case 'double':
      return `CAST(${q} AS CHAR)`;
    case 'geometry':
      return `CAST(${q} AS BINARY)`;
    default:
      return q;
  }
}

/** One primary-key column in a key bound: the column side, the placeholder side, the parameter. */
interface KeyPart {
  col: string;
  ph: string;
  param: (v: Value) => unknown;
}

/**
 * The SQL for a key bound, in the expanded form (shown for `after`, key > bound)
 *   k1 >= ? AND (k1 > ? OR (k1 = ? AND k2 > ?) OR (k1 = ? AND k2 = ? AND k3 > ?))
 * and for `upTo` (key <= bound)
 *   k1 <= ? AND (k1 < ? OR (k1 = ? AND k2 < ?) OR (k1 = ? AND k2 = ? AND k3 <= ?))
 * The leading `k1 >= ?` (`<=`) makes it one index range on every server; the row constructor
 * `(k1,k2) > (?,?)` is not range-optimised by all versions (see the EXPLAIN test). Both take the
 * same parameters (`boundParams`).
 */
function keyBoundSql(keys: KeyPart[], side: 'after' | 'upTo' = 'after'): string {
  const first = keys[0] as KeyPart;
  const wide = side === 'after' ? '>=' : '<=';
  const strict = side === 'after' ? '>' : '<';
  const lastOp = side === 'after' ? '>' : '<=';
  if (keys.length === 1) return `${first.col} ${lastOp} ${first.ph}`;
  const ors: string[] = [];
  for (let i = 0; i < keys.length; i++) {
    const parts: string[] = [];
    for (let j = 0; j < i; j++) parts.push(`${(keys[j] as KeyPart).col} = ${(keys[j] as KeyPart).ph}`);
    parts.push(`${(keys[i] as KeyPart).col} ${i === keys.length - 1 ? lastOp : strict} ${(keys[i] as KeyPart).ph}`);
    ors.push(parts.length === 1 ? (parts[0] as string) : `(${parts.join(' AND ')})`);
  }
  return `${first.col} ${wide} ${first.ph} AND (${ors.join(' OR ')})`;
}

function keyPartFor(c: ColumnSchema): KeyPart {
  const col = quoteId(c.name);
  const t = c.type;
  switch (t.kind) {
    case 'decimal':
      // A string compared with a DECIMAL column is compared as a double: cast it back to exact.
      return { col, ph: `CAST(? AS DECIMAL(${t.precision},${t.scale}))`, param: (v) => v };
    case 'enum':
      // ORDER BY sorts an ENUM by its index; comparing with a number compares the index too.
      return { col, ph: '?', param: (v) => enumIndex(t.values, v) };
    case 'set':
      return { col, ph: '?', param: (v) => setBits(t.values, v) };
    default:
      return { col, ph: '?', param: (v) => v };
  }
}

function enumIndex(values: string[], v: Value): number {
  if (v === '') return 0;
  const i = values.indexOf(String(v));
  if (i < 0) throw new FerryError('FERRY_SCHEMA_MISMATCH', `ENUM key value "${String(v)}" is not a label of the column`);
  return i + 1;
}

function setBits(values: string[], v: Value): bigint {
  let bits = 0n;
  const s = String(v);
  if (s === '') return 0n;
  for (const label of s.split(',')) {
    const i = values.indexOf(label);
    if (i < 0) throw new FerryError('FERRY_SCHEMA_MISMATCH', `SET key value "${s}" has a label the column does not have`);
    bits |= 1n << BigInt(i);
  }
  return bits;
}

interface ChunkPlan {
  firstSql: string;
  nextSql: string;
  /** Rows in (after, end]: the range form, for chunks read in parallel (no LIMIT). */
  rangeFirstSql: string;
  rangeNextSql: string;
  /** The key of the n-th row after a key (OFFSET n-1): where a chunk of n rows would end. */
  probeFirstSql: string;
  probeNextSql: string;
  keyParams: ((v: Value) => unknown)[];
  /** Columns whose driver value needs converting: BIGINT text → number | bigint. */
  int64Columns: number[];
  /** FLOAT and DOUBLE columns, selected as text (see selectExpr): text → number. */
  floatColumns: number[];
  pk: number[];
}

const plans = new WeakMap<TableSchema, ChunkPlan>();

function planFor(table: TableSchema): ChunkPlan {
  const cached = plans.get(table);
  if (cached) return cached;
  if (table.primaryKey.length === 0) {
    throw new FerryError('FERRY_NO_PRIMARY_KEY', `table ${table.schema}.${table.name} has no primary key: it cannot be read in chunks`, {
      fix: `ALTER TABLE ${quoteTable(table)} ADD PRIMARY KEY (<unique not-null columns>);`,
    });
  }
  const pkCols = table.primaryKey.map((i) => {
    const c = table.columns[i];
    if (!c) throw new FerryError('FERRY_INTERNAL', `primary key index ${i} out of range in ${table.schema}.${table.name}`);
    return c;
  });
  const select = table.columns.map(selectExpr).join(', ');
  // keyIndex: undefined = the primary key; a name = the unique index standing in for it; '' = key
  // columns named in `source.key-columns`, which may have no index (the server picks the plan).
  const from =
    table.keyIndex === '' ? quoteTable(table) : `${quoteTable(table)} FORCE INDEX (${table.keyIndex ? quoteMySqlIdent(table.keyIndex) : 'PRIMARY'})`;
  const order = pkCols.map((c) => quoteId(c.name)).join(', ');
  const keys = pkCols.map(keyPartFor);
  const keySelect = pkCols.map(selectExpr).join(', ');
  const plan: ChunkPlan = {
    firstSql: `SELECT ${select} FROM ${from} ORDER BY ${order} LIMIT ?`,
    nextSql: `SELECT ${select} FROM ${from} WHERE ${keyBoundSql(keys)} ORDER BY ${order} LIMIT ?`,
    rangeFirstSql: `SELECT ${select} FROM ${from} WHERE ${keyBoundSql(keys, 'upTo')} ORDER BY ${order}`,
    rangeNextSql: `SELECT ${select} FROM ${from} WHERE ${keyBoundSql(keys)} AND ${keyBoundSql(keys, 'upTo')} ORDER BY ${order}`,
    probeFirstSql: `SELECT ${keySelect} FROM ${from} ORDER BY ${order} LIMIT 1 OFFSET ?`,
    probeNextSql: `SELECT ${keySelect} FROM ${from} WHERE ${keyBoundSql(keys)} ORDER BY ${order} LIMIT 1 OFFSET ?`,
    keyParams: keys.map((k) => k.param),
    int64Columns: table.columns.flatMap((c, i) => (c.type.kind === 'int' && c.type.bits === 64 ? [i] : [])),
    floatColumns: table.columns.flatMap((c, i) => (c.type.kind === 'float' || c.type.kind === 'double' ? [i] : [])),
    pk: table.primaryKey,
  };
  plans.set(table, plan);
  return plan;
}

/** The SQL `readChunk` runs for `table` (first chunk, or after a key): for EXPLAIN checks and logs. */
export function chunkSql(table: TableSchema, afterKey: boolean): string {
  const plan = planFor(table);
  return afterKey ? plan.nextSql : plan.firstSql;
}

/** Parameters for `keyBoundSql`: per disjunct i, the first i key values then value i. */
function boundParams(plan: ChunkPlan, afterKey: Value[]): unknown[] {
  if (afterKey.length !== plan.pk.length) {
    throw new FerryError('FERRY_INTERNAL', `resume key has ${afterKey.length} values, the primary key ${plan.pk.length} columns`);
  }
  const enc = afterKey.map((v, i) => {
    if (v === null) throw new FerryError('FERRY_INTERNAL', 'resume key contains NULL');
    return (plan.keyParams[i] as (v: Value) => unknown)(v);
  });
  if (enc.length === 1) return enc;
  const out: unknown[] = [enc[0]];
  for (let i = 0; i < enc.length; i++) {
    for (let j = 0; j <= i; j++) out.push(enc[j]);
  }
  return out;
}

/**
 * Reads up to `limit` rows of `table` with primary key strictly greater than `afterKey` (from
 * the start when null), in key order, in one query (one consistent read under InnoDB).
 * Rows are aligned with `table.columns`, generated columns included, values canonical.
 * `lastKey` is null when the chunk is empty: the table is done.
 *
 * @throws FerryError FERRY_NO_PRIMARY_KEY when the table has no primary key.
 */
export async function readChunk(
  conn: Connection,
  table: TableSchema,
  afterKey: Value[] | null,
  limit: number,
  signal?: AbortSignal,
): Promise<SnapshotChunk> {
  throwIfAborted(signal);
  if (!Number.isSafeInteger(limit) || limit <= 0) throw new FerryError('FERRY_INTERNAL', `chunk limit must be a positive integer, got ${limit}`);
  const plan = planFor(table);
  const sql = afterKey === null ? plan.firstSql : plan.nextSql;
  const params = afterKey === null ? [limit] : [...boundParams(plan, afterKey), limit];
  const [result] = await conn.query<RowDataPacket[]>({ sql, rowsAsArray: true, values: params });
  throwIfAborted(signal);
  // rowsAsArray gives one plain array per row, aligned with the select list: use it as the Row.
  const rows = result as unknown as Row[];
  convertInt64(plan, rows);
  const last = rows[rows.length - 1];
  return { rows, lastKey: last ? plan.pk.map((i) => last[i] as Value) : null };
}

/**
 * Where a chunk of `rows` rows after `afterKey` ends: the key of its last row, or null when
 * fewer rows than that remain (the rest is read as the table's last chunk). A key-only scan of
 * the index on the server; nothing but the one key crosses the network. Used to hand ranges of
 * one table to several readers at once.
 */
export async function chunkEnd(conn: Connection, table: TableSchema, afterKey: Value[] | null, rows: number, signal?: AbortSignal): Promise<Value[] | null> {
  throwIfAborted(signal);
  if (!Number.isSafeInteger(rows) || rows <= 0) throw new FerryError('FERRY_INTERNAL', `chunk rows must be a positive integer, got ${rows}`);
  const plan = planFor(table);
  const sql = afterKey === null ? plan.probeFirstSql : plan.probeNextSql;
  const params = afterKey === null ? [rows - 1] : [...boundParams(plan, afterKey), rows - 1];
  const [result] = await conn.query<RowDataPacket[]>({ sql, rowsAsArray: true, values: params });
  throwIfAborted(signal);
  const row = (result as unknown as unknown[][])[0];
  if (!row) return null;
  return plan.pk.map((colIndex, i) => {
    const v = row[i] as Value;
    const c = table.columns[colIndex] as ColumnSchema;
    return c.type.kind === 'int' && c.type.bits === 64 && typeof v === 'string' ? int64FromText(v) : v;
  });
}

/**
 * Reads every row with key in (`afterKey`, `upTo`] (from the start when `afterKey` is null), in
 * key order, in one query. The range was sized by `chunkEnd`; rows inserted into it since are
 * read too (no LIMIT, so none is missed). `lastKey` is `upTo`: the whole range was read.
 */
export async function readRange(conn: Connection, table: TableSchema, afterKey: Value[] | null, upTo: Value[], signal?: AbortSignal): Promise<SnapshotChunk> {
  throwIfAborted(signal);
  const plan = planFor(table);
  const sql = afterKey === null ? plan.rangeFirstSql : plan.rangeNextSql;
  const params = afterKey === null ? boundParams(plan, upTo) : [...boundParams(plan, afterKey), ...boundParams(plan, upTo)];
  const [result] = await conn.query<RowDataPacket[]>({ sql, rowsAsArray: true, values: params });
  throwIfAborted(signal);
  const rows = result as unknown as Row[];
  convertInt64(plan, rows);
  return { rows, lastKey: upTo };
}

function convertInt64(plan: ChunkPlan, rows: Row[]): void {
  const conv = plan.int64Columns;
  const floats = plan.floatColumns;
  if (conv.length === 0 && floats.length === 0) return;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r] as Row;
    for (let k = 0; k < conv.length; k++) {
      const i = conv[k] as number;
      const v = row[i];
      if (typeof v === 'string') row[i] = int64FromText(v);
    }
    for (let k = 0; k < floats.length; k++) {
      const i = floats[k] as number;
      const v = row[i];
      if (typeof v === 'string') row[i] = Number(v);
    }
  }
}

/**
 * A key value from its text-protocol bytes, exactly as `readChunk` gets it (mysql2's text
 * parser with the session options of connection.ts, then `convertInt64`).
 */
function keyValueFromText(t: LogicalType, data: Buffer, start: number, end: number): Value {
  switch (t.kind) {
    case 'int':
      return t.bits === 64 ? int64FromText(data.toString('latin1', start, end)) : Number(data.toString('latin1', start, end));
    case 'year':
    case 'float':
    case 'double':
      return Number(data.toString('latin1', start, end));
    case 'bit':
    case 'binary':
    case 'geometry':
      return Buffer.from(data.subarray(start, end));
    default:
      return data.toString('utf8', start, end);
  }
}

function keyFromText(table: TableSchema, text: TextRows, row: number): Value[] {
  return table.primaryKey.map((i) => {
    const cell = row * text.columns + i;
    const start = text.starts[cell] as number;
    if (start < 0) throw new FerryError('FERRY_INTERNAL', `NULL in primary key column ${table.columns[i]?.name ?? i} of ${table.schema}.${table.name}`);
    return keyValueFromText((table.columns[i] as ColumnSchema).type, text.buffers[text.rowBuffer[row] as number] as Buffer, start, text.ends[cell] as number);
  });
}

/** Key kinds whose text the MySQL text protocol prints exactly as readChunk's values (all the keyable ones). */
const TEXT_KEY_KINDS = new Set<LogicalType['kind']>(['int', 'year', 'float', 'double', 'bit', 'binary', 'decimal', 'date', 'datetime', 'timestamp', 'time', 'string', 'enum', 'set', 'uuid', 'inet4', 'inet6']);

/** Whether `readChunkText` can read this table (its key columns decode from text). */
export function canReadText(table: TableSchema): boolean {
  return table.primaryKey.length > 0 && table.primaryKey.every((i) => TEXT_KEY_KINDS.has((table.columns[i] as ColumnSchema).type.kind));
}

/**
 * `readChunk` with the rows kept as text (core/text-rows.ts): the same query, the same rows, but
 * no JS value per field — only the first and last rows' keys are decoded. The text of each value
 * is what the text protocol prints for the select list of `planFor` (FLOAT, DOUBLE as exact
 * decimal text, GEOMETRY as bytes), which is the text form TextRows documents.
 */
export async function readChunkText(conn: Connection, table: TableSchema, afterKey: Value[] | null, limit: number, signal?: AbortSignal): Promise<SnapshotTextChunk> {
  throwIfAborted(signal);
  if (!Number.isSafeInteger(limit) || limit <= 0) throw new FerryError('FERRY_INTERNAL', `chunk limit must be a positive integer, got ${limit}`);
  const plan = planFor(table);
  const sql = afterKey === null ? plan.firstSql : plan.nextSql;
  const params = afterKey === null ? [limit] : [...boundParams(plan, afterKey), limit];
  const text = await queryText(conn, sql, params, table.columns.length, limit);
  throwIfAborted(signal);
  const n = text.rowCount;
  return { text, firstKey: n > 0 ? keyFromText(table, text, 0) : null, lastKey: n > 0 ? keyFromText(table, text, n - 1) : null };
}

/** Row count estimate from information_schema.TABLES.TABLE_ROWS (InnoDB: an estimate, may be stale). */
export async function estimateRows(conn: Connection, table: TableRef): Promise<number> {
  const [rows] = await conn.query<RowDataPacket[]>({
    sql: 'SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    rowsAsArray: true,
    values: [table.schema, table.name],
  });
  const v = (rows as unknown as unknown[][])[0]?.[0];
  const n = v === null || v === undefined ? 0 : Number(v);
  return Number.isFinite(n) ? n : 0;
}
