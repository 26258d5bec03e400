import type { PendingRow, Row } from '../../../core/change.js';
import type { ColumnSchema } from '../../../core/schema.js';

/** Fields every decoded event carries. */
export interface EventBase {
  /** Event type code from the header (see EventCode). */
  code: number;
  /** Header timestamp, seconds since the epoch (0 for artificial events). */
  timestamp: number;
  /** Server id from the header (for MariaDB GTID events this is the GTID's server id). */
  serverId: number;
  /** Binlog file this event belongs to (tracked through Rotate events). */
  file: string;
  /**
   * Position right after this event in `file`: the header's end_log_pos when it is non-zero,
   * otherwise the last known good position (MariaDB writes 0 for artificial events and some
   * events sent at dump start; those do not move the position).
   */
  nextPos: number;
  /** The header's raw end_log_pos (0 when the server did not set it). */
  logPos: number;
  /** LOG_EVENT_ARTIFICIAL_F: made up by the server for this dump, not in the binlog file. */
  artificial: boolean;
}

export interface FormatDescriptionEvent extends EventBase {
  type: 'format-description';
  binlogVersion: number;
  serverVersion: string;
  createTimestamp: number;
  headerLength: number;
  checksum: 'none' | 'crc32';
  /** Post-header length of event type i+1 at index i. */
  postHeaderLengths: Uint8Array;
}

export interface RotateEvent extends EventBase {
  type: 'rotate';
  nextFile: string;
  position: number;
}

/** Optional Table_map metadata (binlog_row_metadata = MINIMAL or FULL), per column index. */
export interface TableMapMetadata {
  /** true = UNSIGNED, for numeric columns; undefined for others. */
  unsigned?: (boolean | undefined)[];
  /** Collation id per character / ENUM / SET column; undefined for others. */
  collations?: (number | undefined)[];
  columnNames?: string[];
  enumValues?: (string[] | undefined)[];
  setValues?: (string[] | undefined)[];
  geometryTypes?: (number | undefined)[];
  primaryKey?: number[];
  /** Prefix length per primary key column (0 = whole column), aligned with primaryKey. */
  primaryKeyPrefixes?: number[];
  visible?: boolean[];
}

export interface TableMapEvent extends EventBase {
  type: 'table-map';
  tableId: number;
  schema: string;
  table: string;
  columnCount: number;
  /** Column type code as written in the table map (STRING hides ENUM/SET/CHAR: see realTypes). */
  columnTypes: Uint8Array;
  /** The real type: ENUM/SET/STRING for type STRING, otherwise equal to columnTypes. */
  realTypes: Uint8Array;
  /**
   * Per-type metadata: FLOAT/DOUBLE pack length, BLOB/JSON/GEOMETRY length bytes, VARCHAR and
   * CHAR max byte length, BIT bit count, DECIMAL precision, ENUM/SET pack length, temporal fsp.
   */
  meta1: Uint32Array;
  /** DECIMAL scale; 0 for other types. */
  meta2: Uint8Array;
  nullable: boolean[];
  metadata: TableMapMetadata;
}

export type RowsKind = 'insert' | 'update' | 'delete';

/** Decoded row images of one rows event; `before`/`after` are null where the kind has none. */
export interface RowImages {
  before: Row[] | null;
  after: Row[] | null;
  /**
   * With `afterPending`, when the images are full: the after images as pending rows (`after` is
   * then null).
   */
  afterPending?: PendingRow[];
}

export interface RowsEvent extends EventBase {
  type: 'rows';
  kind: RowsKind;
  /** 1 (MySQL v1 / MariaDB), 2 (MySQL v2). */
  version: 1 | 2;
  tableId: number;
  table: TableMapEvent;
  flags: number;
  /** STMT_END_F: the last rows event of its statement. */
  statementEnd: boolean;
  columnCount: number;
  /** Bytes of row images in the event (after decompression): what decoding will turn into values. */
  readonly rowBytes: number;
  /**
   * Decodes the rows (lazily; the event keeps its raw bytes). `columns` is the schema in force
   * for the table at this position; it supplies what the table map lacks without FULL metadata
   * (unsigned-ness, charset, ENUM/SET labels, JSON/UUID/INET semantics). Without either, text
   * columns come back as Buffer and ENUM/SET as their numeric index/bitmask.
   * Throws FERRY_SCHEMA_MISMATCH when `columns` does not have the table map's column count.
   */
  decodeRows(columns?: readonly ColumnSchema[], options?: DecodeRowsOptions): RowImages;
}

export interface DecodeRowsOptions {
  /**
   * Decode only these columns (indexes) of full before images (update, delete); every other
   * column of such an image is `undefined`, as if absent. For a consumer that needs the key of
   * the old row and nothing else: the values it skips cost no strings or buffers. Partial
   * images (binlog_row_image MINIMAL/NOBLOB) are always decoded in full.
   */
  beforeKeyOnly?: readonly number[] | null;
  /**
   * Leave full after images (insert, update) as bytes, in `afterPending` (each with the values
   * of these columns, the key, decoded), and `after` null. Only with `beforeKeyOnly` naming the
   * same columns; partial images are decoded as usual (no `afterPending`).
   */
  afterPending?: readonly number[] | null;
}

export interface XidEvent extends EventBase {
  type: 'xid';
  xid: bigint;
}

export interface QueryEvent extends EventBase {
  type: 'query';
  /** Default database of the statement ('' if none). */
  schema: string;
  sql: string;
  threadId: number;
  executionTime: number;
  errorCode: number;
}

/** MySQL GTID (33) or ANONYMOUS_GTID (34). */
export interface MysqlGtidEvent extends EventBase {
  type: 'gtid';
  anonymous: boolean;
  uuid: string;
  gno: bigint;
  /** `uuid:gno` ('' for anonymous). */
  gtid: string;
  commitFlag: number;
}

export interface MariadbGtidEvent extends EventBase {
  type: 'mariadb-gtid';
  domainId: number;
  seqNo: bigint;
  /** `domain-server-seq`. */
  gtid: string;
  flags: number;
  /** FL_STANDALONE: a statement without BEGIN (DDL, non-transactional); no XID/COMMIT follows. */
  standalone: boolean;
  /** The event group is a transaction that starts here (BEGIN implied) and ends with XID or COMMIT. */
  startsTransaction: boolean;
  commitId: bigint | null;
}

export interface MariadbGtid {
  domainId: number;
  serverId: number;
  seqNo: bigint;
}

export interface MariadbGtidListEvent extends EventBase {
  type: 'mariadb-gtid-list';
  gtids: MariadbGtid[];
  /** Comma-separated `domain-server-seq` list. */
  text: string;
}

export interface PreviousGtidsEvent extends EventBase {
  type: 'previous-gtids';
  /** MySQL GTID set text `uuid:1-5:7,uuid2:1-3`. */
  text: string;
}

export interface HeartbeatEvent extends EventBase {
  type: 'heartbeat';
  /** File the server is at (v1: from the body; v2: the tracked file). */
  logFile: string;
  /** Position the server has sent up to. */
  logPosition: number;
}

export interface AnnotateRowsEvent extends EventBase {
  type: 'annotate-rows';
  sql: string;
}

export interface RowsQueryEvent extends EventBase {
  type: 'rows-query';
  sql: string;
}

export interface StopEvent extends EventBase {
  type: 'stop';
}

export interface OtherEvent extends EventBase {
  type: 'other';
}

export type BinlogEvent =
  | FormatDescriptionEvent
  | RotateEvent
  | TableMapEvent
  | RowsEvent
  | XidEvent
  | QueryEvent
  | MysqlGtidEvent
  | MariadbGtidEvent
  | MariadbGtidListEvent
  | PreviousGtidsEvent
  | HeartbeatEvent
  | AnnotateRowsEvent
  | RowsQueryEvent
  | StopEvent
  | OtherEvent;

export type BinlogEventType = BinlogEvent['type'];
