import type { ColumnSchema, LogicalType, TableSchema } from './schema.js';

/**
 * Canonical value forms. Every source produces exactly these, through snapshot and stream
 * alike, so that a row read by a snapshot equals the same row decoded from the log.
 *
 * | logical kind      | JS value                                                        |
 * | ----------------- | --------------------------------------------------------------- |
 * | int (<= 32 bits)  | number                                                          |
 * | int (64 bits)     | number when a safe integer, else bigint                         |
 * | decimal           | string, exact, as MySQL prints it (`-12.340`, scale digits kept)|
 * | float, double     | number (FLOAT widened exactly from its 32-bit value)            |
 * | bit               | Buffer, big-endian, ceil(bits/8) bytes                          |
 * | year              | number (0 for the zero year)                                    |
 * | date              | string `YYYY-MM-DD` (zero dates kept as the source prints them) |
 * | datetime          | string `YYYY-MM-DD HH:MM:SS[.ffffff]` (fsp digits), wall clock   |
 * | timestamp         | string `YYYY-MM-DD HH:MM:SS[.ffffff]` (fsp digits), in UTC       |
 * | time              | string `[-]HH:MM:SS[.ffffff]` (hours may have 3 digits)         |
 * | string, enum, set | string (set: labels joined by `,`)                              |
 * | binary            | Buffer                                                          |
 * | json              | string: JSON text with numbers exactly as stored                |
 * | geometry          | Buffer (MySQL internal: 4-byte SRID + WKB)                      |
 * | uuid, inet4/6     | string                                                          |
 *
 * `null` is SQL NULL. `undefined` in a row means "not present in this row image"
 * (partial images); sinks must leave such columns untouched.
 */
export type Value = null | number | bigint | string | Buffer;

/** Values aligned with `TableSchema.columns` by index. */
export type Row = (Value | undefined)[];

export type RowOp = 'insert' | 'update' | 'delete' | 'read';

/**
 * A full row image kept as the source's bytes until a sink reads it. Rows wait in the lanes
 * until their batch is written; held as decoded values (strings, buffers, one array per row)
 * they outlived the young generation and most of the worker's garbage-collection time was
 * spent copying them. Held as bytes, each row is this object and its key, and its values are
 * made where the sink encodes them and die there. `materialize` decodes the image anew on every
 * call (nothing cached: a cached row would be held again).
 */
export interface PendingRow {
  /** Values of the image's primary-key columns, in key order (as a delete's key). */
  readonly key: Value[];
  /** Bytes of the image in the source's format (for memory estimates). */
  readonly bytes: number;
  /** The full row image: every column decoded, as the source would have produced it. */
  materialize(): Row;
}

/** A row image as a write plan carries it: decoded, or pending (see PendingRow). */
export type RowRef = Row | PendingRow;

/** The values of a row image, decoding a pending one. */
export function rowOf(r: RowRef): Row {
  return Array.isArray(r) ? r : (r as PendingRow).materialize();
}

export interface RowChange {
  op: RowOp;
  /** The schema in force at this change's position in the log. */
  table: TableSchema;
  /**
   * Row image before the change (update, delete). Sources may fill in only the primary-key
   * columns (the others `undefined`): applies are by key, and only the old key is ever read
   * from it (an update that changes the key deletes the old one).
   */
  before: Row | null;
  /** Row image after the change (insert, update, read). */
  after: Row | null;
  /**
   * Set when the after image is pending (a full image kept as source bytes): `after` then
   * decodes it on every read, and the key's values are in `pending.key` without decoding.
   */
  readonly pending?: PendingRow;
}

/** An insert or update whose after image is pending: `after` decodes it on each read. */
export class PendingRowChange implements RowChange {
  constructor(
    readonly op: 'insert' | 'update',
    readonly table: TableSchema,
    readonly before: Row | null,
    readonly pending: PendingRow,
  ) {}

  get after(): Row {
    return this.pending.materialize();
  }
}

/**
 * One column-level step of an ALTER TABLE, in statement order. The definitions after the change
 * are in the change's `table`, the ones before it in `before`.
 */
export type ColumnChange =
  | { op: 'add'; column: string }
  | { op: 'drop'; column: string }
  | { op: 'rename'; from: string; to: string }
  /** Type, nullability, charset or default changed (CHANGE/MODIFY, ALTER ... SET/DROP DEFAULT). */
  | { op: 'modify'; column: string }
  /** Position changed (FIRST/AFTER) and nothing else. */
  | { op: 'move'; column: string }
  /** The primary key changed: `table.primaryKey` is the new key (empty: the table lost its key). */
  | { op: 'primary-key' };

/**
 * What a RENAME TABLE statement does to the captured set, step by step (source names).
 * - `rename`: a captured table moved to another captured name.
 * - `leave`: a captured table moved out of the captured set (its target table is kept).
 * - `enter`: a table moved into the captured set; its rows never went through the stream, so it
 *   is snapshotted.
 * - `replace`: a captured name now holds another table (the gh-ost / pt-online-schema-change
 *   swap): the target takes the new schema (`changes`, computed by column name) and the table is
 *   snapshotted again.
 */
export type TableMove =
  | { step: 'rename'; from: TableSchema; table: TableSchema }
  | { step: 'leave'; from: TableSchema }
  | { step: 'enter'; table: TableSchema }
  /** `truncate`: the new table is not a copy of the old one (not a shadow table): under evolve the target is emptied before the snapshot. */
  | { step: 'replace'; before: TableSchema; table: TableSchema; changes: ColumnChange[]; truncate: boolean };

/**
 * The closed set of schema changes a pipeline can meet. A source emits one change per DDL
 * statement (so a statement is applied, and checkpointed, as a whole). Every kind but
 * `drop-table` names in `table` a table the captured set holds after the change.
 */
export type SchemaChange =
  /** `needsSnapshot`: the table arrives with rows the stream never carried (e.g. renamed into the captured set). */
  | { kind: 'create-table'; table: TableSchema; ddl: string; needsSnapshot?: boolean }
  /** `table` is the schema after the change; `columns` the names added, in statement order. */
  | { kind: 'add-column'; table: TableSchema; columns: string[]; ddl: string }
  /** Any other ALTER TABLE that changes columns or the key: DROP/RENAME/CHANGE/MODIFY/ALTER COLUMN, FIRST/AFTER, ADD/DROP PRIMARY KEY. */
  | {
      kind: 'alter-columns';
      before: TableSchema;
      table: TableSchema;
      changes: ColumnChange[];
      ddl: string;
      /**
       * Set by the runtime under `lenient`: a dropped column is kept (made nullable); a renamed
       * column is added under its new name (values copied) and the old one kept (made nullable);
       * a type change is applied only when widening (lenientColumnChanges).
       */
      lenient?: boolean;
    }
  /** An ALTER TABLE Ferry cannot follow exactly (e.g. CONVERT TO CHARACTER SET): sinks refuse it. */
  | { kind: 'alter-table'; table: TableSchema; ddl: string }
  /** RENAME TABLE (or ALTER TABLE ... RENAME TO), all its steps; `table` is the last table the statement leaves captured. */
  | { kind: 'rename-tables'; moves: TableMove[]; table: TableSchema; ddl: string }
  /**
   * Sink-side form of one `rename` step, built by the runtime: `from` is the *target* table to
   * rename, the sink's `target` argument the new name.
   */
  | { kind: 'rename-table'; from: { schema: string; name: string }; table: TableSchema; ddl: string }
  /** `schema`/`name`: the first table dropped; `tables`: every captured table the statement dropped (or renamed away). */
  | { kind: 'drop-table'; schema: string; name: string; ddl: string; tables?: { schema: string; name: string }[] }
  | { kind: 'truncate-table'; table: TableSchema; ddl: string };

/**
 * Whether changing a column from `a` to `b` keeps every value `a` can hold (`lenient` applies
 * only these): a larger integer, a longer string, a DECIMAL with at least as many integer and
 * fraction digits, more fractional seconds, FLOAT to DOUBLE, more ENUM/SET labels (same order),
 * any string to a TEXT type, NOT NULL to NULL. Anything else is not widening.
 */
export function isWidening(a: ColumnSchema, b: ColumnSchema): boolean {
  if (!a.nullable && b.nullable && sameType(a.type, b.type)) return true;
  if (a.nullable && !b.nullable) return false;
  return widensType(a.type, b.type);
}

function sameType(x: LogicalType, y: LogicalType): boolean {
  return JSON.stringify(x) === JSON.stringify(y);
}

function widensType(x: LogicalType, y: LogicalType): boolean {
  if (sameType(x, y)) return true;
  if (x.kind === 'int' && y.kind === 'int') {
    if (x.unsigned === y.unsigned) return y.bits >= x.bits;
    return !x.unsigned ? false : y.bits > x.bits; // unsigned n bits fits signed > n bits
  }
  if (x.kind === 'int' && y.kind === 'decimal') {
    const digits = { 8: 3, 16: 5, 24: 8, 32: 10, 64: 20 }[x.bits];
    return (!y.unsigned || x.unsigned) && y.precision - y.scale >= digits;
  }
  if (x.kind === 'decimal' && y.kind === 'decimal') return y.scale >= x.scale && y.precision - y.scale >= x.precision - x.scale && (!y.unsigned || x.unsigned);
  if (x.kind === 'float' && y.kind === 'double') return true;
  if ((x.kind === 'datetime' && y.kind === 'datetime') || (x.kind === 'time' && y.kind === 'time') || (x.kind === 'timestamp' && y.kind === 'timestamp')) return y.fsp >= x.fsp;
  if (x.kind === 'string' && y.kind === 'string') {
    if (x.charset !== y.charset && y.charset !== 'utf8mb4') return false;
    return y.maxChars === null || (x.maxChars !== null && y.maxChars >= x.maxChars);
  }
  if (x.kind === 'binary' && y.kind === 'binary') return y.maxBytes === null || (x.maxBytes !== null && y.maxBytes >= x.maxBytes && (x.fixed || !y.fixed));
  if ((x.kind === 'enum' && y.kind === 'enum') || (x.kind === 'set' && y.kind === 'set')) return x.values.every((v, i) => y.values[i] === v);
  if (x.kind === 'bit' && y.kind === 'bit') return y.bits >= x.bits;
  return false;
}

/**
 * The column changes `lenient` applies: all but type changes that are not widening (isWidening).
 * `before` and `after` are the table before and after the statement.
 */
export function lenientColumnChanges(before: TableSchema, after: TableSchema, changes: ColumnChange[]): ColumnChange[] {
  const oldName = new Map<string, string>();
  for (const c of changes) if (c.op === 'rename') oldName.set(c.to, oldName.get(c.from) ?? c.from);
  return changes.filter((c) => {
    if (c.op !== 'modify') return true;
    const b = before.columns.find((x) => x.name === (oldName.get(c.column) ?? c.column));
    const a = after.columns.find((x) => x.name === c.column);
    return b !== undefined && a !== undefined && isWidening(b, a);
  });
}

/**
 * What flows from a source to the runtime. Every batch ends at a source-transaction boundary:
 * `position` is where to resume to read what comes after it, and it becomes the checkpoint once
 * every change in this batch (and all before it) is durable in the sink.
 */
export type ChangeBatch<P> =
  | {
      kind: 'rows';
      changes: RowChange[];
      position: P;
      /** Source commit time of the last transaction in the batch, ms since epoch. */
      sourceTimeMs: number;
      /** Transactions in the batch (for metrics). */
      transactions: number;
    }
  | { kind: 'schema'; change: SchemaChange; position: P; sourceTimeMs: number }
  | { kind: 'heartbeat'; position: P; sourceTimeMs: number };
