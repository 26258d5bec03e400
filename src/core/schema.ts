/**
 * The schema model: what Ferry knows about a captured table at one position of the log.
 * Sources fill it; sinks map it to their own DDL. It is plain data (JSON-serialisable) so
 * it can be stored in the schema history keyed by position.
 */

/** The logical type of a column: what its values mean, independent of any engine. */
export type LogicalType =
  | { kind: 'int'; bits: 8 | 16 | 24 | 32 | 64; unsigned: boolean }
  | { kind: 'decimal'; precision: number; scale: number; unsigned: boolean }
  | { kind: 'float' }
  | { kind: 'double' }
  | { kind: 'bit'; bits: number }
  | { kind: 'year' }
  | { kind: 'date' }
  | { kind: 'datetime'; fsp: number }
  | { kind: 'timestamp'; fsp: number }
  | { kind: 'time'; fsp: number }
  /** CHAR/VARCHAR/TEXT. maxChars null for TEXT types beyond 65535. */
  | { kind: 'string'; maxChars: number | null; fixed: boolean; charset: string; collation: string | null; lob: boolean }
  /** BINARY/VARBINARY/BLOB. */
  | { kind: 'binary'; maxBytes: number | null; fixed: boolean; lob: boolean }
  | { kind: 'json' }
  | { kind: 'enum'; values: string[] }
  | { kind: 'set'; values: string[] }
  | { kind: 'geometry'; subtype: string }
  | { kind: 'uuid' }
  | { kind: 'inet4' }
  | { kind: 'inet6' };

export interface ColumnSchema {
  name: string;
  type: LogicalType;
  /** The source engine's own type text (MySQL `COLUMN_TYPE`, e.g. `int(10) unsigned`). */
  sourceType: string;
  nullable: boolean;
  /** Default as the source reports it (SQL text), or null. Informational. */
  defaultValue: string | null;
  /** Generated (virtual/stored) column: its value is not written to the sink. */
  generated: boolean;
}

export interface TableRef {
  /** MySQL database / PostgreSQL schema. */
  schema: string;
  name: string;
}

export interface TableSchema extends TableRef {
  columns: ColumnSchema[];
  /** Indexes into `columns` of the primary key, in key order. Empty when the table has none. */
  primaryKey: number[];
  /**
   * Source index that `primaryKey` stands for, when it is not the PRIMARY KEY (a unique index
   * over NOT NULL columns of a table without one). Absent: the primary key. Empty string: columns
   * named in `source.key-columns` for a table with neither (possibly without any index).
   */
  keyIndex?: string;
}

export function tableId(t: TableRef): string {
  return `${t.schema}.${t.name}`;
}

export function sameTable(a: TableRef, b: TableRef): boolean {
  return a.schema === b.schema && a.name === b.name;
}
