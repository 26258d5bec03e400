/**
 * The state store of one pipeline: its checkpoint, pipeline meta, snapshot progress, schema
 * history, status snapshot and the single-runner lock. The default implementation is one
 * SQLite file per pipeline (sqlite-store.ts).
 *
 * The store keeps what it is given; it does not interpret positions. Positions are opaque
 * encoded strings here: ordering them is the caller's job, through the source's PositionCodec.
 *
 * All methods are synchronous. Every write method is atomic (one SQLite transaction) and is
 * durable when it returns (WAL with `synchronous=FULL`), except `setStatus`, which is advisory.
 */

/** Names of the pipeline meta entries Ferry writes; other keys are allowed. */
export type KnownMetaKey =
  /** 'snapshot' | 'stream' | 'done'. */
  | 'phase'
  /** Encoded position recorded before the snapshot read anything (rule 1). */
  | 'snapshot.start'
  /** Number of lanes the lane checkpoints in the sink were written with. */
  | 'parallelism'
  /** JSON array of the table ids captured when the pipeline started. */
  | 'tables'
  /** Source server identity, compared at start to detect a different server. */
  | 'server.uuid'
  | 'server.id'
  /** ISO time the pipeline state was created. */
  | 'created_at'
  /** The pipeline name the file belongs to (written at creation, checked at open). */
  | 'pipeline_name';

export type MetaKey = KnownMetaKey | (string & {});

/** Extra information stored with a checkpoint, for debugging. Must be JSON-serialisable. */
export interface CheckpointMeta {
  phase?: 'snapshot' | 'stream';
  [key: string]: unknown;
}

export interface CheckpointRecord {
  position: string;
  meta: CheckpointMeta;
  /** ISO time of the commit. */
  committedAt: string;
}

export interface SnapshotProgress {
  tableId: string;
  /** Encoded primary key of the last row copied (resume point), null before the first chunk. */
  lastKeyJson: string | null;
  /** Rows of this table copied so far. */
  rowsCopied: number;
  /** Row estimate for progress display (may be stale), null when unknown. */
  estimatedRows: number | null;
  /** Every row of the table is copied. */
  done: boolean;
  /** ISO time of the last change to this record. */
  updatedAt: string;
}

export interface SchemaHistoryInput {
  tableId: string;
  /** JSON of the TableSchema in force from the position on; null = the table was dropped. */
  schemaJson: string | null;
}

export interface SchemaHistoryEntry extends SchemaHistoryInput {
  /** Assigned by the store: strictly increasing in append order, never reused. */
  seq: number;
  /** Encoded position from which this schema is in force. */
  position: string;
}

export interface StateStore {
  /** Absolute path of the state file. */
  readonly file: string;

  // Checkpoint --------------------------------------------------------------------------------

  /** The last committed checkpoint position (encoded), or null before the first commit. */
  getCheckpoint(): string | null;
  /**
   * Stores `position` as the pipeline checkpoint. Store only: the caller guarantees that
   * everything up to `position` is already durable in the sink, that `position` is at a
   * source-transaction boundary and that it does not move backwards (it has the codec).
   * Durable when it returns. The last few checkpoints are kept for debugging.
   */
  commitCheckpoint(position: string, meta?: CheckpointMeta): void;
  /** The most recent checkpoints, newest first (a short history, for debugging). */
  checkpointHistory(): CheckpointRecord[];

  // Pipeline meta -----------------------------------------------------------------------------

  getMeta(key: MetaKey): string | null;
  /** Durable when it returns. */
  setMeta(key: MetaKey, value: string): void;

  // Snapshot progress -------------------------------------------------------------------------

  getSnapshotProgress(tableId: string): SnapshotProgress | null;
  /** Every table with snapshot progress, ordered by table id. */
  listSnapshotProgress(): SnapshotProgress[];
  /** Records the row estimate of a table (creates its progress record if needed). */
  setSnapshotEstimate(tableId: string, estimatedRows: number): void;
  /**
   * Records that a chunk is copied: `lastKeyJson` is the resume point and `rowsCopied` the
   * table's running total (not the chunk's count), so a repeated call is harmless. Call only
   * after the chunk is durable in the sink. Not necessarily durable itself when it returns (a
   * power loss may lose the newest records, never an older one while keeping a newer): a lost
   * record only makes a resume copy its chunk again.
   */
  recordChunkDone(tableId: string, lastKeyJson: string, rowsCopied: number): void;
  /** Marks the table as fully copied. Idempotent. */
  markTableSnapshotted(tableId: string): void;
  /** Forgets all snapshot progress (the snapshot starts over). */
  resetSnapshot(): void;
  /** Forgets the snapshot progress of one table (it is copied again from its first key). */
  resetTableSnapshot(tableId: string): void;

  // Schema history ----------------------------------------------------------------------------

  /**
   * Appends schemas in force from `position` on, in one transaction, and returns the seq of the
   * last entry. Call in log order: the store numbers entries in append order (seq), and
   * `allSchemaHistory` returns them in that order, so among entries at equal positions the
   * later one wins.
   */
  appendSchemaHistory(position: string, entries: SchemaHistoryInput[]): number;
  /**
   * The whole schema history, ordered by seq. The caller, who has the position codec, picks
   * the schema in force at a position (the last entry per table whose position is not after it).
   */
  allSchemaHistory(): SchemaHistoryEntry[];
  /** The latest entry per table (by seq); dropped tables appear with `schemaJson: null`. */
  latestSchemas(): Map<string, { seq: number; position: string; schemaJson: string | null }>;
  /** Deletes every entry with seq > `seq` (e.g. after rewinding to an older position). */
  truncateSchemaHistoryAfter(seq: number): void;

  // Status ------------------------------------------------------------------------------------

  /**
   * Replaces the status snapshot (JSON text) read by `ferry status`. Advisory: written with
   * `synchronous=NORMAL`, so the last update may be lost in a power cut (never the checkpoint).
   */
  setStatus(json: string): void;
  /** The last status snapshot, or null. */
  getStatus(): string | null;

  // Single-runner lock ------------------------------------------------------------------------

  /**
   * Takes the exclusive run lock of this pipeline, or throws FERRY_STATE_LOCKED naming the PID
   * that holds it. The lock is an OS file lock: it is released when the process exits, however
   * it exits (crash, SIGKILL), so a stale lock is impossible. Idempotent within one store.
   */
  acquireRunLock(): void;
  /** Releases the run lock if this store holds it. Idempotent. */
  releaseRunLock(): void;
  /**
   * The PID of the process running this pipeline, or null when none runs. 0 when a process
   * holds the lock but has not recorded its PID yet (a few microseconds after it took it).
   */
  runLockHolder(): number | null;

  /** Releases the run lock (if held) and closes the file. Idempotent. */
  close(): void;
}
