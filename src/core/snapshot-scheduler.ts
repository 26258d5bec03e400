import type { Row, Value } from './change.js';
import type { PipelineConfig } from './config-types.js';
import type { Source } from './contracts.js';
import { ChunkMerger, type OpenChunk } from './chunk-merge.js';
import { FerryError, isFerryError } from './errors.js';
import { crashPoint } from './faults.js';
import type { PipelineMetrics } from './metrics.js';
import { RateLimiter } from './rate-limit.js';
import type { Logger, RuntimeObserver } from './runtime.js';
import type { TableSchema } from './schema.js';
import { Notifier, sleep } from './async-queue.js';
import { decodeValues, encodeValues } from './value-json.js';
import type { StateStore } from '../state/store.js';

/**
 * Snapshot while streaming: reads table chunks in primary-key order on a few connections,
 * hands each read chunk to the ChunkMerger (watermarks), and records a chunk as copied once the
 * lanes have made its rows durable. The stream never waits for the snapshot; the snapshot waits
 * for the stream only to pass a chunk's high watermark.
 *
 * Resumable: per table the highest key below which every chunk is durable is recorded; a
 * restart reads on from there (a chunk read twice is merged twice, which changes nothing).
 */
export interface SnapshotSchedulerDeps<P> {
  config: PipelineConfig;
  source: Source<P>;
  state: StateStore;
  metrics: PipelineMetrics;
  log: Logger;
  observer: RuntimeObserver;
  merger: ChunkMerger<P>;
  /** The schema the stream holds for a table now (undefined: dropped). */
  schemaOf(tableId: string): TableSchema | undefined;
  /** Hands the chunks the stream has passed to the lanes; returns nothing. */
  emitReady(): void;
  /** Too much is queued for the lanes: read no more for now. */
  backlogged(): boolean;
  /** A source error a reconnect may cure. */
  isTransient(e: unknown): boolean;
  outageLimitMs: number;
}

interface TableTask {
  id: string;
  /** Read cursor: key of the last row read (null: from the start). */
  afterKey: Value[] | null;
  /** Durable frontier: rows copied up to and including this chunk order. */
  rowsCopied: number;
  rowsRead: number;
  chunkRows: number;
  /** Reads of this table in flight. */
  readers: number;
  /**
   * The read cursor is being moved: a keyset read (its end is known only after it) or a probe for
   * the end of the next range is in flight. Another reader may join once it is free.
   */
  cursorBusy: boolean;
  /** A second reader joined this table (logged once). */
  joined: boolean;
  readsDone: boolean;
  /** Bumped when pending chunks are thrown away (schema change, re-snapshot request). */
  generation: number;
  /** Chunks handed to the lanes, oldest first, not yet durable. */
  emitted: EmittedChunk[];
  /** Start key of each pending chunk, for rewinding the cursor. */
  starts: Map<OpenChunk<unknown>, Value[] | null>;
  estimate: number;
  done: boolean;
  /** Chunks recorded as copied in this run. */
  chunksDone: number;
}

export interface EmittedChunk {
  /** Per lane: the lane's enqueue sequence number the chunk's rows are under. */
  seqs: number[];
  lastKey: Value[] | null;
  rows: number;
  last: boolean;
}

export class SnapshotScheduler<P> {
  readonly #d: SnapshotSchedulerDeps<P>;
  readonly #tables = new Map<string, TableTask>();
  readonly #rows: RateLimiter;
  readonly #bytes: RateLimiter;
  #workers: Promise<void>[] = [];
  #failure: unknown = null;
  readonly #wakeUp = new Notifier();
  /** Workers waiting for something to read. */
  #idle = 0;

  constructor(deps: SnapshotSchedulerDeps<P>) {
    this.#d = deps;
    this.#rows = new RateLimiter(deps.config.source.rateLimit.rowsPerSecond);
    this.#bytes = new RateLimiter(deps.config.source.rateLimit.bytesPerSecond);
  }

  get failure(): unknown {
    return this.#failure;
  }

  /** Tables still being copied. */
  get active(): number {
    let n = 0;
    for (const t of this.#tables.values()) if (!t.done) n++;
    return n;
  }

  /** Per table being copied: chunks copied in this run, chunks read or waiting for their watermark, rows per chunk now. */
  chunkProgress(): Map<string, { chunksDone: number; chunksInFlight: number; chunkRows: number }> {
    const out = new Map<string, { chunksDone: number; chunksInFlight: number; chunkRows: number }>();
    for (const t of this.#tables.values()) {
      out.set(t.id, { chunksDone: t.chunksDone, chunksInFlight: this.#d.merger.pendingOf(t.id) + t.emitted.length, chunkRows: t.chunkRows });
    }
    return out;
  }

  /** What each unfinished table waits for, for the stall diagnostic in the runtime's status log. */
  describe(): { table: string; readers: number; cursorBusy: boolean; readsDone: boolean; rowsRead: number; rowsCopied: number; emitted: number[][] }[] {
    const out: { table: string; readers: number; cursorBusy: boolean; readsDone: boolean; rowsRead: number; rowsCopied: number; emitted: number[][] }[] = [];
    for (const t of this.#tables.values()) {
      if (t.done) continue;
      out.push({ table: t.id, readers: t.readers, cursorBusy: t.cursorBusy, readsDone: t.readsDone, rowsRead: t.rowsRead, rowsCopied: t.rowsCopied, emitted: t.emitted.map((e) => e.seqs) });
    }
    return out;
  }

  /** Adds a table to copy, resuming from its recorded progress (or from the start). */
  add(tableId: string): void {
    const existing = this.#tables.get(tableId);
    if (existing && !existing.done) return;
    const p = this.#d.state.getSnapshotProgress(tableId);
    if (p?.done) return;
    const t: TableTask = {
      id: tableId,
      afterKey: p?.lastKeyJson ? decodeValues(p.lastKeyJson) : null,
      rowsCopied: p?.rowsCopied ?? 0,
      rowsRead: p?.rowsCopied ?? 0,
      chunkRows: this.#d.config.source.snapshotChunkSize,
      readers: 0,
      cursorBusy: false,
      joined: false,
      readsDone: false,
      generation: 0,
      emitted: [],
      starts: new Map(),
      estimate: p?.estimatedRows ?? 0,
      done: false,
      chunksDone: 0,
    };
    if (!p) this.#d.state.setSnapshotEstimate(tableId, 0);
    if (t.afterKey !== null) {
      this.#d.log.info({ table: tableId, resumeFrom: 'key', rowsCopied: t.rowsCopied }, 'snapshot of table resumed after its last recorded chunk');
      this.#d.observer.snapshotTableStarted?.(tableId, t.estimate, t.rowsCopied);
    }
    this.#tables.set(tableId, t);
    this.#wakeUp.notify();
  }

  /** Copies a table again from its first key (repair), also while it is being copied. */
  restart(tableId: string): void {
    const t = this.#tables.get(tableId);
    if (t) this.#discardPending(t);
    this.#tables.delete(tableId);
    this.#d.state.resetTableSnapshot(tableId);
    this.add(tableId);
  }

  /**
   * The table's schema changed in the stream: chunks read with the old schema are thrown away and
   * read again with the new one.
   */
  schemaChanged(tableId: string): void {
    const t = this.#tables.get(tableId);
    if (!t || t.done) return;
    this.#discardPending(t);
  }

  /** The table was dropped on the source: nothing more to copy. */
  dropped(tableId: string): void {
    const t = this.#tables.get(tableId);
    if (!t) return;
    this.#discardPending(t);
    t.done = true;
  }

  #discardPending(t: TableTask): void {
    const chunks = this.#d.merger.invalidate(t.id);
    let rewind: Value[] | null | undefined;
    for (const c of chunks) {
      const start = t.starts.get(c);
      if (rewind === undefined) rewind = start ?? null;
      else if (start === null || start === undefined) rewind = null;
      this.#d.merger.abandon(c);
    }
    t.starts.clear();
    t.generation++;
    if (rewind !== undefined) t.afterKey = rewind;
    t.readsDone = false;
    this.#wakeUp.notify();
  }

  start(signal: AbortSignal): void {
    const n = Math.max(1, this.#d.config.pipeline.snapshotParallelism);
    for (let i = 0; i < n; i++) this.#workers.push(this.#work(signal));
  }

  async stop(): Promise<void> {
    this.#wakeUp.notify();
    await Promise.all(this.#workers);
  }

  /**
   * A table to read a chunk of: reads not done, its cursor free, few chunks pending. Tables nobody
   * reads come first (one reader per table spreads the work); then a second reader joins a table
   * already being read, on a range of its own (`#readChunk`).
   */
  #pick(): TableTask | null {
    const n = Math.max(1, this.#d.config.pipeline.snapshotParallelism);
    if (this.#d.merger.pending >= 2 * n) return null;
    let join: TableTask | null = null;
    for (const t of this.#tables.values()) {
      if (t.done || t.readsDone || t.cursorBusy) continue;
      if (this.#d.merger.pendingOf(t.id) >= n + 1) continue;
      if (t.readers === 0) return t;
      join ??= t;
    }
    return join;
  }

  async #work(signal: AbortSignal): Promise<void> {
    let outageStart = 0;
    let delay = 500;
    while (!signal.aborted && this.#failure === null) {
      const t = this.#pick();
      if (!t) {
        this.#idle++;
        try {
          await this.#wakeUp.waitAtMost(250, signal);
        } finally {
          this.#idle--;
        }
        continue;
      }
      t.readers++;
      try {
        await this.#readChunk(t, signal);
        outageStart = 0;
        delay = 500;
      } catch (e) {
        if (signal.aborted || isFerryError(e, 'FERRY_ABORTED')) break;
        if (this.#d.isTransient(e)) {
          outageStart ||= Date.now();
          if (Date.now() - outageStart < this.#d.outageLimitMs) {
            this.#d.log.warn({ table: t.id, error: e instanceof Error ? e.message : String(e), retryInMs: delay }, 'snapshot read failed; retrying');
            await sleep(delay, signal);
            delay = Math.min(delay * 2, 15_000);
            continue;
          }
        }
        this.#failure = e;
        break;
      } finally {
        t.readers--;
        this.#wakeUp.notify();
      }
    }
  }

  /**
   * Reads one chunk of `t`. Alone on a table, a reader pages by key: `LIMIT n` after the cursor,
   * and the cursor moves once the rows are in. When other readers are idle or already on the
   * table, it first asks the source where the next n rows end (`chunkEnd`, a key-only probe),
   * moves the cursor there at once, and reads that range while the next reader probes the next
   * one. Either way the chunk is opened (low watermark) before its rows are read, and opened
   * while the cursor is held, so chunk ids follow key order and the merger emits them in order.
   */
  async #readChunk(t: TableTask, signal: AbortSignal): Promise<void> {
    while (this.#d.backlogged() && !signal.aborted) await sleep(50, signal);
    const schema = this.#d.schemaOf(t.id);
    if (!schema) {
      t.done = true;
      return;
    }
    if (t.cursorBusy || t.readsDone || t.done) return; // someone else moved on meanwhile
    if (t.estimate === 0 && t.rowsRead === 0 && t.readers === 1) {
      t.cursorBusy = true;
      try {
        t.estimate = await this.#d.source.estimateRows(schema, signal);
      } finally {
        t.cursorBusy = false;
      }
      this.#d.state.setSnapshotEstimate(t.id, t.estimate);
      this.#d.observer.snapshotTableStarted?.(t.id, t.estimate, t.rowsCopied);
      this.#d.log.info({ table: t.id, estimate: t.estimate, resumeFrom: t.afterKey === null ? null : 'key' }, 'snapshot of table started');
    }
    if (t.cursorBusy || t.readsDone || t.done) return;
    await this.#rows.take(t.chunkRows, signal);
    if (t.cursorBusy || t.readsDone || t.done) return;
    const generation = t.generation;
    const start = t.afterKey;
    const limit = t.chunkRows;
    const { chunkEnd, readRange } = this.#d.source;
    const ranged = chunkEnd !== undefined && readRange !== undefined && (t.readers > 1 || this.#idle > 0);
    t.cursorBusy = true;
    let holdsCursor = true;
    const releaseCursor = (): void => {
      if (!holdsCursor) return;
      holdsCursor = false;
      t.cursorBusy = false;
      this.#wakeUp.notify();
    };
    // Open before reading: from here on the stream notes this table's keys (low watermark).
    const chunk = this.#d.merger.open(t.id);
    t.starts.set(chunk, start);
    let rows: Row[];
    let lastKey: Value[] | null;
    let last: boolean;
    let high: P;
    try {
      let end: Value[] | null = null;
      if (ranged) {
        end = await chunkEnd.call(this.#d.source, schema, start, limit, signal);
        if (generation !== t.generation || chunk.invalid) {
          this.#d.merger.abandon(chunk);
          t.starts.delete(chunk);
          releaseCursor();
          return;
        }
      }
      if (end !== null && readRange) {
        // The range (start, end] is this reader's: the next reader starts after `end`.
        t.afterKey = end;
        if (t.readers > 1 && !t.joined) {
          t.joined = true;
          this.#d.log.info({ table: t.id, readers: t.readers }, 'snapshot of table read by several readers at once (key ranges)');
        }
        releaseCursor();
        // The cursor is past this range now: the range must be read by this chunk, or the whole
        // pipeline stops (a restart resumes below it). So transient failures are retried here,
        // with the chunk kept open (it holds back later chunks of the table meanwhile).
        const res = await this.#readRangeRetrying(t, schema, start, end, signal);
        high = res.high;
        rows = res.rows;
        lastKey = end;
        last = false;
      } else {
        const res = await this.#d.source.readChunk(schema, start, limit, signal);
        high = await this.#d.source.currentPosition(signal);
        rows = res.rows;
        lastKey = res.lastKey;
        last = rows.length < limit;
      }
    } catch (e) {
      // The read failed (it is retried from the same cursor): give up the chunk and the cursor.
      this.#d.merger.abandon(chunk);
      t.starts.delete(chunk);
      releaseCursor();
      throw e;
    }
    // A keyset read still holds the cursor: it moves to the chunk's last key below, then is free.
    if (generation !== t.generation) releaseCursor();
    try {
      if (generation !== t.generation || chunk.invalid) {
        // A schema change (or a restart request) came in while reading: read again.
        this.#d.merger.abandon(chunk);
        t.starts.delete(chunk);
        return;
      }
      if (holdsCursor) {
        if (lastKey !== null) t.afterKey = lastKey;
        if (last) t.readsDone = true;
      }
    } finally {
      releaseCursor();
    }
    const bytes = approximateBytes(rows);
    if (rows.length > 0) {
      const perRow = Math.max(1, bytes / rows.length);
      const max = this.#d.config.source.snapshotChunkSize * 16;
      t.chunkRows = Math.max(64, Math.min(max, Math.round(this.#d.config.source.snapshotChunkBytes / perRow)));
    }
    t.rowsRead += rows.length;
    this.#d.merger.ready(chunk, schema, rows, high, lastKey ?? start, last);
    this.#d.metrics.rowsRead.inc({ pipeline: this.#d.config.pipeline.name, table: t.id, op: 'read' }, rows.length);
    this.#d.emitReady();
    await this.#bytes.take(bytes, signal);
  }

  async #readRangeRetrying(t: TableTask, schema: TableSchema, start: Value[] | null, end: Value[], signal: AbortSignal): Promise<{ rows: Row[]; high: P }> {
    const readRange = this.#d.source.readRange as NonNullable<Source<P>['readRange']>;
    let firstFailure = 0;
    let delay = 500;
    for (;;) {
      try {
        const res = await readRange.call(this.#d.source, schema, start, end, signal);
        const high = await this.#d.source.currentPosition(signal);
        return { rows: res.rows, high };
      } catch (e) {
        firstFailure ||= Date.now();
        if (signal.aborted || isFerryError(e, 'FERRY_ABORTED')) throw e; // shutting down
        if (!this.#d.isTransient(e) || Date.now() - firstFailure >= this.#d.outageLimitMs) {
          // Not retried by the worker either: its cursor is already past this range.
          this.#failure ??= e;
          throw e;
        }
        this.#d.log.warn({ table: t.id, error: e instanceof Error ? e.message : String(e), retryInMs: delay }, 'snapshot range read failed; retrying');
        await sleep(delay, signal);
        delay = Math.min(delay * 2, 15_000);
      }
    }
  }

  /** The runtime handed a chunk's rows to the lanes. */
  emitted(chunk: OpenChunk<P>, seqs: number[]): void {
    const t = this.#tables.get(chunk.table);
    if (!t) return;
    t.starts.delete(chunk);
    t.emitted.push({ seqs, lastKey: chunk.lastKey, rows: chunk.rows?.length ?? 0, last: chunk.last });
  }

  /**
   * Records the chunks whose rows every lane has made durable, oldest first per table.
   * `durableSeq(lane)` is the lane's durable enqueue sequence number.
   */
  recordDurable(durableSeq: (lane: number) => number): void {
    const name = this.#d.config.pipeline.name;
    for (const t of this.#tables.values()) {
      while (t.emitted.length > 0) {
        const c = t.emitted[0] as EmittedChunk;
        if (!c.seqs.every((s, lane) => durableSeq(lane) >= s)) break;
        t.emitted.shift();
        t.rowsCopied += c.rows;
        t.chunksDone++;
        if (c.lastKey !== null && c.rows > 0) this.#d.state.recordChunkDone(t.id, encodeValues(c.lastKey), t.rowsCopied);
        crashPoint('snapshot.after-chunk-record');
        this.#d.metrics.snapshotRows.inc({ pipeline: name, table: t.id }, c.rows);
        this.#d.metrics.snapshotChunks.inc({ pipeline: name, table: t.id });
        this.#d.observer.snapshotProgress?.(t.id, t.rowsCopied);
        if (c.last) {
          this.#d.state.markTableSnapshotted(t.id);
          t.done = true;
          this.#d.observer.snapshotTableDone?.(t.id, t.rowsCopied);
          this.#d.log.info({ table: t.id, rows: t.rowsCopied }, 'snapshot of table done');
        }
      }
    }
  }
}

/** A cheap estimate of a chunk's size in bytes (for the byte budget and the byte rate limit). */
export function approximateBytes(rows: Row[]): number {
  const sample = Math.min(rows.length, 64);
  if (sample === 0) return 0;
  let bytes = 0;
  for (let i = 0; i < sample; i++) {
    const r = rows[Math.floor((i * rows.length) / sample)] as Row;
    for (const v of r) {
      if (v === null || v === undefined) bytes += 1;
      else if (typeof v === 'string') bytes += v.length + 2;
      else if (Buffer.isBuffer(v)) bytes += v.length + 2;
      else bytes += 8;
    }
  }
  return Math.round((bytes / sample) * rows.length);
}

export function snapshotFailure(e: unknown): FerryError {
  return isFerryError(e) ? e : new FerryError('FERRY_INTERNAL', `snapshot failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}
