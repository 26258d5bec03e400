import type { ChangeBatch, PendingRow, Row, RowChange, SchemaChange, Value } from './change.js';
import type { PositionCodec } from './position.js';
import type { TableRef, TableSchema } from './schema.js';
import type { SnapshotTextChunk } from './text-rows.js';

/** One finding of a `check()`: what is wrong and the exact statement or setting that fixes it. */
export interface CheckProblem {
  severity: 'error' | 'warning';
  /** Stable code (FERRY_...). */
  code: string;
  message: string;
  fix: string;
}

/** Schemas of the captured tables as they were at one position of the log. */
export interface SchemaSnapshot<P> {
  position: P;
  tables: TableSchema[];
}

/** Chunk of a snapshot: rows in primary-key order, and the key of the last row (the resume point). */
export interface SnapshotChunk {
  rows: Row[];
  /** Primary-key values of the last row, or null when the chunk is empty (table done). */
  lastKey: Value[] | null;
}

/**
 * A source connector. Every async method takes an AbortSignal; `close()` releases everything.
 */
export interface Source<P> {
  readonly codec: PositionCodec<P>;
  /**
   * Verifies settings, grants and server identity. Never throws for a misconfiguration: returns
   * each problem with its fix. Throws only when the server cannot be reached.
   */
  check(signal: AbortSignal): Promise<CheckProblem[]>;
  /** Current schemas of the tables matching the pipeline's `tables` patterns. */
  discover(signal: AbortSignal): Promise<TableSchema[]>;
  /**
   * A stable identity of the source server's change log (MySQL: server_uuid; MariaDB: server_id
   * and binlog base name). Stored when a pipeline starts; a different identity later means the
   * checkpoint belongs to another server's log and the pipeline stops (FERRY_SERVER_CHANGED).
   */
  identity(signal: AbortSignal): Promise<string>;
  /** The current end of the change log, at a transaction boundary. Recorded before a snapshot reads. */
  currentPosition(signal: AbortSignal): Promise<P>;
  /**
   * The current end of the change log, good only for `codec.compare` with other positions (never
   * to start from or to record: parts that compare ignores, such as a GTID state, may be left
   * out). Optional: where absent, `currentPosition` serves. For sources where the full position
   * costs more to read.
   */
  logEnd?(signal: AbortSignal): Promise<P>;
  /**
   * The position right after the transactions of a GTID set (startup mode specific-offset with
   * only `gtid-set`). Optional: sources without GTIDs do not have it.
   */
  positionAtGtid?(gtidSet: string, signal: AbortSignal): Promise<P>;
  /** Position of the first transaction committed at or after `timeMs` (startup mode timestamp). */
  positionAtTime(timeMs: number, signal: AbortSignal): Promise<P>;
  /** Row count estimate for progress display (may be stale). */
  estimateRows(table: TableRef, signal: AbortSignal): Promise<number>;
  /**
   * Reads up to `limit` rows with primary key strictly greater than `afterKey` (or from the
   * start when null), in key order, in one consistent query.
   */
  readChunk(table: TableSchema, afterKey: Value[] | null, limit: number, signal: AbortSignal): Promise<SnapshotChunk>;
  /**
   * Where a chunk of `rows` rows after `afterKey` would end (the key of its last row), or null
   * when fewer remain. With `readRange`, lets several readers copy one table at once.
   */
  chunkEnd?(table: TableSchema, afterKey: Value[] | null, rows: number, signal: AbortSignal): Promise<Value[] | null>;
  /**
   * `readChunk` with the rows in text form (core/text-rows.ts), for sinks that load text
   * (`Sink.writeSnapshotText`): the same rows, without a JS value per field. Null when this
   * table cannot be read so (then `readChunk` is used).
   */
  readChunkText?(table: TableSchema, afterKey: Value[] | null, limit: number, signal: AbortSignal): Promise<SnapshotTextChunk | null>;
  /** Every row with key in (`afterKey`, `upTo`], in key order; `lastKey` is `upTo`. */
  readRange?(table: TableSchema, afterKey: Value[] | null, upTo: Value[], signal: AbortSignal): Promise<SnapshotChunk>;
  /**
   * Follows the change log from `from` (a transaction boundary). `schemas` are the schemas in
   * force at `from`. Every yielded batch ends at a transaction boundary. The iterator ends only
   * when the signal aborts; errors are thrown as FerryError.
   */
  stream(from: P, schemas: TableSchema[], signal: AbortSignal): AsyncIterable<ChangeBatch<P>>;
  /** The source keeps no history for us (binlog): releasing is a no-op there. */
  releaseHistory(upTo: P, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** Where a source table lands. */
export interface TargetTable {
  /** MariaDB database / PostgreSQL schema. */
  schema: string;
  name: string;
  /** The source table's schema (column names and types are kept). */
  source: TableSchema;
}

/**
 * The per-key final action of a lane batch, after merging all changes to that key in the batch.
 */
export type KeyAction =
  /**
   * `pending`: the row image is still the source's bytes (PendingRow); `row` then decodes it on
   * each read. Sinks take it through the write plan (lane-actions.ts) and decode it where they
   * encode it.
   */
  | { kind: 'upsert'; table: TargetTable; row: Row; readonly pending?: PendingRow }
  | { kind: 'delete'; table: TargetTable; key: Value[] };

export interface LaneBatch {
  /** Deletes and upserts; at most one action per (table, key); deletes are applied first. */
  actions: KeyAction[];
  /** Encoded source position this lane has applied everything up to once the batch commits. */
  checkpoint: string;
}

export interface LaneCheckpoint {
  lane: number;
  position: string;
}

/**
 * A sink connector.
 */
export interface Sink {
  /**
   * Creates target tables (and their schema/database) that do not exist, with mapped types and
   * the same primary key, and the checkpoint table. Idempotent.
   */
  prepare(tables: TargetTable[], signal: AbortSignal): Promise<void>;
  /**
   * Applies a schema change to the target. Called only after every lane is flushed. Idempotent
   * (adding a column that already exists is not an error), so a replay after a crash is safe.
   */
  applySchemaChange(change: SchemaChange, target: TargetTable, signal: AbortSignal): Promise<void>;
  /**
   * Writes snapshot rows (upsert by key, idempotent). Durable when the promise resolves.
   */
  writeSnapshotRows(table: TargetTable, rows: Row[], signal: AbortSignal): Promise<void>;
  /**
   * Writes a snapshot chunk given in text form (core/text-rows.ts), like `writeSnapshotRows`
   * (durable when it resolves true). Resolves false having written nothing when the chunk needs
   * the rows path (e.g. keys of the chunk already in the target, or a value the target refuses):
   * the caller then reads the chunk as rows and calls `writeSnapshotRows`, which merges and
   * reports a refused row by its key. Throws only what `writeSnapshotRows` would throw for the
   * same chunk regardless of the path (connection failures, a policy such as zero-date: fail).
   */
  writeSnapshotText?(table: TargetTable, chunk: SnapshotTextChunk, signal: AbortSignal): Promise<boolean>;
  /** Opens the writer of one lane (its own connection). */
  openLane(lane: number): Promise<SinkLane>;
  /** Lane checkpoints stored in the target for this pipeline (empty before the first stream write). */
  readLaneCheckpoints(signal: AbortSignal): Promise<LaneCheckpoint[]>;
  /**
   * Running totals of values the sink could not store exactly and mapped as documented (e.g.
   * PostgreSQL: U+0000 stripped from text, zero dates written as NULL), by kind. Optional.
   */
  lossStats?(): Record<string, number>;
  /** Removes this pipeline's lane checkpoints (used when the pipeline restarts from scratch). */
  resetLaneCheckpoints(signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface SinkLane {
  /**
   * Applies the batch and stores `checkpoint` as this lane's row in `_ferry_checkpoint`, in one
   * target transaction: either both are durable or neither is. Idempotent by key.
   */
  write(batch: LaneBatch, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export type { ChangeBatch, RowChange };
