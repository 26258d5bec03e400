import type { TableSchema } from './schema.js';

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

export interface RowChange {
  op: RowOp;
  /** The schema in force at this change's position in the log. */
  table: TableSchema;
  /** Row image before the change (update, delete). */
  before: Row | null;
  /** Row image after the change (insert, update, read). */
  after: Row | null;
}

/** The closed set of schema changes a pipeline can meet (more kinds come with the DDL catalogue). */
export type SchemaChange =
  /** `needsSnapshot`: the table arrives with rows the stream never carried (e.g. renamed into the captured set). */
  | { kind: 'create-table'; table: TableSchema; ddl: string; needsSnapshot?: boolean }
  /** `table` is the schema after the change; `columns` the names added, in statement order. */
  | { kind: 'add-column'; table: TableSchema; columns: string[]; ddl: string }
  | { kind: 'alter-table'; table: TableSchema; ddl: string }
  | { kind: 'drop-table'; schema: string; name: string; ddl: string }
  | { kind: 'truncate-table'; table: TableSchema; ddl: string };

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
