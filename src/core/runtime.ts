import type { ChangeBatch, RowChange, Value } from './change.js';
import type { SnapshotTextChunk } from './text-rows.js';
import type { PipelineConfig } from './config-types.js';
import type { KeyAction, Sink, Source, TargetTable } from './contracts.js';
import { FerryError, isFerryError } from './errors.js';
import type { KeyedStep } from './key-merge.js';
import { keyString, LANE_SCHEME, stepKey, stepsOf } from './key-merge.js';
import { ChunkMerger, untouchedRows } from './chunk-merge.js';
import { SnapshotScheduler, approximateBytes, snapshotFailure } from './snapshot-scheduler.js';
import type { Row } from './change.js';
import { LaneWriter, isTransientSinkError } from './lane-writer.js';
import type { PipelineMetrics } from './metrics.js';
import type { TableRef, TableSchema } from './schema.js';
import { tableId } from './schema.js';
import { Notifier, sleep } from './async-queue.js';
import { decodeValues, encodeValues } from './value-json.js';
import { crashPoint } from './faults.js';
import type { StateStore } from '../state/store.js';

/**
 * The pipeline runtime: snapshot, then stream, with lanes, the ack tracker and checkpoints.
 *
 * The three ordering rules (ARCHITECTURE.md) live here:
 * 1. The stream start position is recorded before the snapshot reads anything, and the stream
 *    starts from it (`snapshot.start` in the state store).
 * 2. The checkpoint advances only to positions at source-transaction boundaries (every batch
 *    position is one) and only once every lane has made everything up to it durable.
 * 3. Source history is released only after the checkpoint is durable (`releaseHistory`).
 */

export interface RuntimeObserver {
  snapshotTableStarted?(table: string, estimatedRows: number, copiedRows: number): void;
  snapshotProgress?(table: string, copiedRows: number): void;
  snapshotTableDone?(table: string, copiedRows: number): void;
  phase?(phase: PipelinePhase): void;
  streamStats?(stats: StreamStats): void;
}

export type PipelinePhase = 'starting' | 'snapshot' | 'stream' | 'done' | 'stopped' | 'failed';

export interface StreamStats {
  position: string;
  lagSeconds: number;
  rowsPerSecond: number;
  rowsApplied: number;
  queueRows: number;
}

export interface Logger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
  debug(obj: Record<string, unknown>, msg: string): void;
}

export interface RuntimeDeps<P> {
  config: PipelineConfig;
  source: Source<P>;
  sink: Sink;
  state: StateStore;
  metrics: PipelineMetrics;
  log: Logger;
  resolveTarget: (table: TableRef) => TableRef;
  observer?: RuntimeObserver;
}

const META_PHASE = 'phase';
const META_SNAPSHOT_START = 'snapshot.start';
const META_PARALLELISM = 'parallelism';

/** What META_PARALLELISM holds: the lane count and how keys are assigned to lanes. */
function laneLayout(lanes: number): string {
  return `${lanes} ${LANE_SCHEME}`;
}
const META_TABLES = 'tables';
const META_SERVER = 'server.identity';
/** JSON array of table ids `ferry snapshot --table` asked to copy again. */
export const META_SNAPSHOT_REQUESTS = 'snapshot.requests';
/** How long the stream keeps reconnecting to a lost source before the pipeline fails. */
const SOURCE_OUTAGE_LIMIT_MS = Number(process.env.FERRY_SOURCE_OUTAGE_LIMIT_MS ?? 10 * 60_000);

/** One table of a rows batch, as handleBatch meets it (see there). */
interface BatchTable {
  table: TableSchema;
  target: TargetTable;
  counts: Partial<Record<string, number>>;
  watchedId: string | null;
}

export async function runPipeline<P>(deps: RuntimeDeps<P>, signal: AbortSignal): Promise<'done' | 'stopped'> {
  const { config, source, sink, state, log } = deps;
  const codec = source.codec;
  const name = config.pipeline.name;
  const observer = deps.observer ?? {};

  observer.phase?.('starting');
  const discovered = await source.discover(signal);
  if (discovered.length === 0) {
    throw new FerryError('FERRY_NO_TABLES', `no source table matches tables: ${config.source.tables}`, {
      fix: 'Check the `source.tables` patterns: they are regular expressions over "database.table", e.g. `shop\\..*`.',
    });
  }
  for (const t of discovered) {
    if (t.primaryKey.length === 0) {
      throw new FerryError('FERRY_NO_PRIMARY_KEY', `table ${tableId(t)} has no primary key`, {
        fix: `Add a primary key (ALTER TABLE ... ADD PRIMARY KEY (...)) or exclude the table from \`source.tables\`.`,
      });
    }
  }
  const targetOf = makeTargetResolver(deps.resolveTarget);

  let phase = state.getMeta(META_PHASE) as PipelinePhase | 'snapshot' | 'stream' | 'done' | null;
  const mode = config.source.startup.mode;

  /** The source identity, when a fresh pipeline has just read it (read once, not twice). */
  let freshIdentity: string | null = null;
  if (phase === null) {
    // A fresh pipeline: rule 1 — record where the stream must start before reading anything.
    await sink.resetLaneCheckpoints(signal);
    let start: P;
    if (mode === 'initial' || mode === 'snapshot' || mode === 'latest-offset') {
      start = await source.currentPosition(signal);
    } else if (mode === 'timestamp') {
      start = await source.positionAtTime(config.source.startup.timestampMillis ?? 0, signal);
    } else {
      const so = config.source.startup.specificOffset;
      if (so.file === null && so.gtidSet !== null) {
        if (!source.positionAtGtid) throw new FerryError('FERRY_CONFIG_INVALID', 'this source cannot start from a GTID set alone', { fix: 'Give scan.startup.specific-offset.file and .pos.' });
        start = await source.positionAtGtid(so.gtidSet, signal);
      } else {
        start = codec.decode(JSON.stringify({ file: so.file ?? '', pos: so.pos ?? 4, gtid: so.gtidSet ?? '' }));
      }
    }
    const startText = codec.encode(start);
    state.appendSchemaHistory(startText, discovered.map((t) => ({ tableId: tableId(t), schemaJson: JSON.stringify(t) })));
    state.setMeta(META_SNAPSHOT_START, startText);
    freshIdentity = await source.identity(signal);
    state.setMeta(META_SERVER, freshIdentity);
    state.setMeta(META_PARALLELISM, laneLayout(config.pipeline.parallelism));
    state.setMeta(META_TABLES, JSON.stringify(discovered.map(tableId)));
    state.commitCheckpoint(startText);
    // initial: the snapshot runs alongside the stream (watermarks); every table starts pending.
    if (mode === 'initial') for (const t of discovered) state.setSnapshotEstimate(tableId(t), 0);
    phase = mode === 'snapshot' ? 'snapshot' : 'stream';
    state.setMeta(META_PHASE, phase);
    log.info({ start: codec.format(start), mode }, 'pipeline initialised');
  }

  const identity = freshIdentity ?? (await source.identity(signal));
  const knownIdentity = state.getMeta(META_SERVER);
  if (knownIdentity !== null && knownIdentity !== identity) {
    throw new FerryError('FERRY_SERVER_CHANGED', `the source is not the server this pipeline's checkpoint belongs to (was: ${knownIdentity}; now: ${identity})`, {
      fix: `Point the pipeline back at the original server, or start it over: move the state file ${state.file} away (and drop the target tables or accept a full re-snapshot).`,
    });
  }

  await sink.prepare(discovered.map((t) => targetOf(t)), signal);

  // State written by an older Ferry (snapshot first, then stream) continues the new way.
  if (phase === 'snapshot' && mode === 'initial') phase = 'stream';
  // Tables added to `tables:` since the pipeline started are copied while the others stream.
  const known = new Set(JSON.parse(state.getMeta(META_TABLES) ?? '[]') as string[]);
  const added = discovered.filter((t) => !known.has(tableId(t)));
  if (added.length > 0) {
    if (mode === 'initial') {
      for (const t of added) if (!state.getSnapshotProgress(tableId(t))) state.setSnapshotEstimate(tableId(t), 0);
      log.info({ tables: added.map(tableId) }, 'tables added to the pipeline: they are copied while the others stream');
    }
    state.setMeta(META_TABLES, JSON.stringify(discovered.map(tableId)));
  }

  if (phase === 'snapshot') {
    observer.phase?.('snapshot');
    writeStatus(state, { phase: 'snapshot' });
    await runSnapshot(deps, discovered, targetOf, signal);
    if (signal.aborted) return 'stopped';
    if (mode === 'snapshot') {
      state.setMeta(META_PHASE, 'done');
      writeStatus(state, { phase: 'done' });
      observer.phase?.('done');
      return 'done';
    }
    state.setMeta(META_PHASE, 'stream');
    phase = 'stream';
  }
  if (phase === 'done') {
    log.info({}, 'snapshot-only pipeline already done');
    observer.phase?.('done');
    return 'done';
  }

  observer.phase?.('stream');
  await runStream(deps, discovered, targetOf, signal);
  return 'stopped';
}

function makeTargetResolver(resolve: (t: TableRef) => TableRef): (t: TableSchema) => TargetTable {
  const cache = new Map<TableSchema, TargetTable>();
  return (t) => {
    let target = cache.get(t);
    if (!target) {
      const ref = resolve(t);
      target = { schema: ref.schema, name: ref.name, source: t };
      cache.set(t, target);
    }
    return target;
  };
}

function writeStatus(state: StateStore, status: Record<string, unknown>): void {
  state.setStatus(JSON.stringify({ ...status, updatedAt: new Date().toISOString(), pid: process.pid }));
}

// ---------------------------------------------------------------------------------------------
// Snapshot

async function runSnapshot<P>(deps: RuntimeDeps<P>, tables: TableSchema[], targetOf: (t: TableSchema) => TargetTable, signal: AbortSignal): Promise<void> {
  const { state, source, sink, config, metrics, log } = deps;
  const observer = deps.observer ?? {};
  const name = config.pipeline.name;
  const progress = new Map(state.listSnapshotProgress().map((p) => [p.tableId, p]));
  const todo = tables.filter((t) => !progress.get(tableId(t))?.done);
  for (const t of tables) {
    const p = progress.get(tableId(t));
    if (p?.done) observer.snapshotTableDone?.(tableId(t), p.rowsCopied);
  }
  const parallel = Math.max(1, Math.min(config.pipeline.parallelism, 4));
  let next = 0;
  let failure: unknown = null;
  const worker = async (): Promise<void> => {
    while (!signal.aborted && failure === null) {
      const table = todo[next++];
      if (!table) return;
      try {
        await snapshotTable(table);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  const snapshotTable = async (table: TableSchema): Promise<void> => {
    const id = tableId(table);
    const target = targetOf(table);
    const p = progress.get(id);
    let afterKey = p?.lastKeyJson ? decodeValues(p.lastKeyJson) : null;
    let copied = p?.rowsCopied ?? 0;
    // The row estimate (for progress) is asked while the first chunk is read.
    const estimating = source.estimateRows(table, signal);
    const limit = config.source.snapshotChunkSize;
    // Chunks go in text form (no JS value per field) when the source can read them so and the
    // sink can load them (text-rows.ts); as rows otherwise, or when the sink asks for them.
    // (A chunk the sink hands back is read again by range: the next chunk's read has started.)
    let asText = source.readChunkText !== undefined && source.readRange !== undefined && sink.writeSnapshotText !== undefined;
    const read = async (after: Value[] | null): Promise<ReadChunk> => {
      if (asText) {
        const chunk = await (source.readChunkText as NonNullable<typeof source.readChunkText>).call(source, table, after, limit, signal);
        if (chunk !== null) return { text: chunk, rows: null, count: chunk.text.rowCount, lastKey: chunk.lastKey };
        asText = false; // this table cannot be read as text
      }
      const chunk = await source.readChunk(table, after, limit, signal);
      return { text: null, rows: chunk.rows, count: chunk.rows.length, lastKey: chunk.lastKey };
    };
    // Read the next chunk while the current one is written. A read is always awaited unless the
    // table failed meanwhile (estimate, write): then its rejection must not go unhandled.
    const readAhead = (after: Value[] | null): Promise<ReadChunk> => {
      const p = read(after);
      p.catch(() => undefined);
      return p;
    };
    let pending = readAhead(afterKey);
    const estimate = await estimating;
    state.setSnapshotEstimate(id, estimate);
    observer.snapshotTableStarted?.(id, estimate, copied);
    log.info({ table: id, estimate, resumeFrom: afterKey === null ? null : 'key', copied }, 'snapshot of table started');
    for (;;) {
      const chunk = await pending;
      if (signal.aborted) return;
      if (chunk.count === 0 || chunk.lastKey === null) break;
      const more = chunk.count >= limit;
      if (more) pending = readAhead(chunk.lastKey);
      let written = chunk.count;
      if (chunk.text !== null) {
        if (!(await (sink.writeSnapshotText as NonNullable<typeof sink.writeSnapshotText>).call(sink, target, chunk.text, signal))) {
          // The sink needs this chunk as rows (to merge it, or to name a row it refuses): the
          // same key range, read again as rows. The next read already started after its end.
          const rows = (await (source.readRange as NonNullable<typeof source.readRange>).call(source, table, afterKey, chunk.lastKey, signal)).rows;
          await sink.writeSnapshotRows(target, rows, signal);
          written = rows.length;
        }
      } else await sink.writeSnapshotRows(target, chunk.rows ?? [], signal);
      crashPoint('snapshot.after-chunk-write');
      copied += written;
      afterKey = chunk.lastKey;
      // The chunk is durable in the sink before its progress is recorded: a crash in between
      // re-reads and re-upserts the chunk, which changes nothing.
      state.recordChunkDone(id, encodeValues(afterKey), copied);
      metrics.snapshotRows.inc({ pipeline: config.pipeline.name, table: id }, written);
      metrics.snapshotChunks.inc({ pipeline: config.pipeline.name, table: id });
      metrics.rowsWritten.inc({ pipeline: config.pipeline.name, table: id, op: 'read' }, written);
      observer.snapshotProgress?.(id, copied);
      if (!more) break;
    }
    if (signal.aborted) return;
    state.markTableSnapshotted(id);
    observer.snapshotTableDone?.(id, copied);
    log.info({ table: id, rows: copied }, 'snapshot of table done');
  };
  const statusTimer = setInterval(() => {
    writeStatus(state, { phase: 'snapshot', tables: state.listSnapshotProgress() });
  }, 1000);
  try {
    await Promise.all(Array.from({ length: Math.min(parallel, todo.length) }, () => worker()));
  } finally {
    clearInterval(statusTimer);
  }
  if (failure !== null) throw failure;
  void name;
}

/** A chunk read by runSnapshot: in text form or as rows. */
interface ReadChunk {
  text: SnapshotTextChunk | null;
  rows: Row[] | null;
  count: number;
  lastKey: Value[] | null;
}

// ---------------------------------------------------------------------------------------------
// Stream

async function runStream<P>(deps: RuntimeDeps<P>, discovered: TableSchema[], targetOf: (t: TableSchema) => TargetTable, signal: AbortSignal): Promise<void> {
  const { state, source, sink, config, metrics, log } = deps;
  const codec = source.codec;
  const observer = deps.observer ?? {};
  const name = config.pipeline.name;
  const lanes = config.pipeline.parallelism;

  // Where each lane stands. A lane without a row in the target has applied nothing after the
  // state store's checkpoint. The stream resumes from the lowest; each lane skips what its own
  // checkpoint says it already applied (exactly-once apply).
  const stored = state.getCheckpoint();
  if (stored === null) throw new FerryError('FERRY_STATE_CORRUPT', 'the state store has a stream phase but no checkpoint', { fix: `Move the state file of pipeline "${name}" away to start over.` });
  const globalCp = codec.decode(stored);
  // The end of the log (for the check below) is read alongside: the log only grows, and the
  // checkpoint it is compared with was made durable before either read.
  const [laneRows, end] = await Promise.all([sink.readLaneCheckpoints(signal), source.logEnd ? source.logEnd(signal) : source.currentPosition(signal)]);
  // Same lane count and same assignment of keys to lanes (a state written before LANE_SCHEME
  // has the count alone): else no lane's checkpoint says what it owns now.
  const sameLanes = state.getMeta(META_PARALLELISM) === laneLayout(lanes);
  const laneStart: P[] = [];
  for (let i = 0; i < lanes; i++) {
    const row = sameLanes ? laneRows.find((r) => r.lane === i) : undefined;
    const p = row ? codec.decode(row.position) : globalCp;
    laneStart.push(codec.compare(p, globalCp) < 0 ? globalCp : p);
  }
  if (!sameLanes) {
    // Lane assignment changed: no lane may skip anything; replays are idempotent.
    for (let i = 0; i < lanes; i++) laneStart[i] = globalCp;
    state.setMeta(META_PARALLELISM, laneLayout(lanes));
    await sink.resetLaneCheckpoints(signal);
  }
  let resume = globalCp;
  for (const p of laneStart) if (codec.compare(p, resume) < 0) resume = p;
  const laneSkipUntil: (P | null)[] = laneStart.map((p) => (codec.compare(p, resume) > 0 ? p : null));

  // A checkpoint past the end of the log means the log is not the one the checkpoint was taken
  // from (restored backup, reset binlog): never "carry on from the current position".
  if (codec.compare(resume, end) > 0) {
    throw new FerryError('FERRY_CHECKPOINT_AHEAD', `the checkpoint ${codec.format(resume)} is past the end of the source binlog ${codec.format(end)}`, {
      fix: `The source lost binlog (RESET MASTER, restored backup, or a different server). Start the pipeline over: move ${state.file} away and re-snapshot.`,
    });
  }
  const schemas = schemasAt(state, codec, resume, discovered);
  log.info({ from: codec.format(resume), lanes }, 'streaming');

  // Ack tracker: a lane's durable position only moves forward; the pipeline checkpoint is the
  // lowest lane position — everything up to it is durable in every lane (rule 2).
  const laneDurable: P[] = laneStart.slice();
  /** Position of the last batch enqueued per lane (never behind the lane's own checkpoint). */
  const laneLatest: P[] = laneStart.slice();
  let lastDispatched = resume;
  const merger = new ChunkMerger<P>((a, b) => codec.compare(a, b));
  let committed = resume;
  let lastCommitAt = 0;
  let fatal: FerryError | null = null;
  const stopOnError = new AbortController();
  // The source stops on shutdown or on a lane failure; lanes stop on a failure, or after the
  // graceful flush that follows a shutdown.
  const sourceSignal = AbortSignal.any([signal, stopOnError.signal]);
  const laneCtl = new AbortController();
  const laneSignal = AbortSignal.any([laneCtl.signal, stopOnError.signal]);
  let appliedRows = 0;
  let lastSourceTimeMs = Date.now();
  let caughtUp = false;
  const positionTime = new Map<string, number>();

  const commitCheckpoint = (force: boolean): void => {
    let low = laneDurable[0] as P;
    for (const p of laneDurable) if (codec.compare(p, low) < 0) low = p;
    if (codec.compare(low, committed) <= 0) return;
    const now = Date.now();
    if (!force && now - lastCommitAt < 500) return;
    state.commitCheckpoint(codec.encode(low));
    crashPoint('stream.after-checkpoint');
    committed = low;
    lastCommitAt = now;
    metrics.checkpointCommits.inc({ pipeline: name });
    // Rule 3: history is released only after the checkpoint is durable.
    source.releaseHistory(low, signal).catch((e: unknown) => log.warn({ error: String(e) }, 'releasing source history failed'));
  };

  /** Notified whenever a lane committed (the source waits on it while the lanes are full). */
  const laneProgress = new Notifier();
  const writers = Array.from({ length: lanes }, (_, lane) =>
    new LaneWriter({
      lane,
      sink,
      maxRows: config.sink.batchMaxRows,
      flushIntervalMs: config.pipeline.flushIntervalMs,
      maxAttempts: 12,
      log: (msg, details) => log.warn(details ?? {}, msg),
      fail: (e) => {
        fatal ??= e;
        stopOnError.abort(e);
      },
      markDurable: (l, checkpoint, actions) => {
        const p = codec.decode(checkpoint);
        if (codec.compare(p, laneDurable[l] as P) > 0) laneDurable[l] = p;
        countWritten(l, actions);
        const t = positionTime.get(checkpoint);
        if (t !== undefined) lastSourceTimeMs = Math.max(lastSourceTimeMs, t);
        commitCheckpoint(false);
        scheduler.recordDurable((lane) => (writers[lane] as LaneWriter).durableSeq);
        laneProgress.notify();
      },
    }),
  );
  const countWritten = (lane: number, actions: KeyAction[]): void => {
    // Counted per table object (no per-action strings): [upserts, deletes].
    const counts = new Map<TargetTable, [number, number]>();
    for (const a of actions) {
      let c = counts.get(a.table);
      if (!c) counts.set(a.table, (c = [0, 0]));
      c[a.kind === 'delete' ? 1 : 0]++;
    }
    for (const [t, [upserts, deletes]] of counts) {
      const table = tableId(t.source);
      if (upserts > 0) metrics.rowsWritten.inc({ pipeline: name, table, op: 'upsert' }, upserts);
      if (deletes > 0) metrics.rowsWritten.inc({ pipeline: name, table, op: 'delete' }, deletes);
    }
    appliedRows += actions.length;
    metrics.laneBatchRows.observe({ pipeline: name, lane: String(lane) }, actions.length);
    metrics.laneCommits.inc({ pipeline: name, lane: String(lane) });
  };
  for (const w of writers) w.start(laneSignal);

  const schemaSeen = new Map<string, TableSchema>(schemas.map((t) => [tableId(t), t]));
  const scheduler = new SnapshotScheduler<P>({
    config,
    source,
    state,
    metrics,
    log,
    observer,
    merger,
    schemaOf: (id) => schemaSeen.get(id),
    emitReady: () => emitReadyChunks(),
    // The snapshot may fill the lanes up to half again the stream's limit: the stream stops pulling at
    // the limit, so neither can starve the other while memory stays bounded.
    backlogged: () => queued() > queueLimit() * 1.5,
    isTransient: (e) => isTransientSourceError(e),
    outageLimitMs: SOURCE_OUTAGE_LIMIT_MS,
  });
  for (const p of state.listSnapshotProgress()) if (!p.done && schemaSeen.has(p.tableId)) scheduler.add(p.tableId);
  let snapshotAnnounced = scheduler.active === 0;

  /**
   * Hands the chunks whose high watermark the stream has passed to the lanes, minus the keys the
   * stream touched while they were pending (chunk-merge.ts explains why that is exact).
   */
  function emitReadyChunks(): void {
    for (const chunk of merger.takeReady(lastDispatched)) {
      if (chunk.invalid || !chunk.schema) continue;
      const target = targetOf(chunk.schema);
      const perLane: KeyedStep[][] = Array.from({ length: lanes }, () => []);
      const toLane = { push: (st: KeyedStep): number => (perLane[st.lane] as KeyedStep[]).push(st) };
      for (const row of untouchedRows(chunk)) stepsOf({ op: 'read', table: chunk.schema, before: null, after: row }, target, lanes, toLane);
      for (let i = 0; i < lanes; i++) {
        const laneSteps = perLane[i] as KeyedStep[];
        if (laneSteps.length > 0) (writers[i] as LaneWriter).enqueue(laneSteps, codec.encode(laneLatest[i] as P));
      }
      scheduler.emitted(chunk, writers.map((w) => w.enqueuedSeq));
    }
    scheduler.recordDurable((lane) => (writers[lane] as LaneWriter).durableSeq);
  }

  // The queue between source and sink is bounded in bytes (`pipeline.queue.max-bytes`): rows held
  // by the lanes (pending and being written) times a running estimate of a row's size in memory,
  // and never more rows than two full batches per lane (the one being written and the next).
  // While the queue is full, lanes without a transaction in flight write what they hold
  // (flushSoon). (One batch per lane was measured slower: smaller transactions cost the sink
  // more CPU per row.)
  const queueLimitRows = Math.max(config.sink.batchMaxRows * lanes * 2, 10_000);
  let bytesPerRow = 512;
  const queued = (): number => writers.reduce((n, w) => n + w.heldSteps, 0);
  const queueLimit = (): number => Math.max(config.sink.batchMaxRows, Math.min(queueLimitRows, Math.floor(config.pipeline.queueMaxBytes / bytesPerRow)));

  // Status line and lag, once a second.
  let lastApplied = 0;
  let lastTick = Date.now();
  const lossSeen = new Map<string, number>();
  const reportLoss = (): void => {
    const stats = sink.lossStats?.() ?? {};
    for (const [kind, total] of Object.entries(stats)) {
      const before = lossSeen.get(kind) ?? 0;
      if (total > before) {
        metrics.lossyValues.inc({ pipeline: name, kind }, total - before);
        log.warn({ kind, count: total - before, total }, 'values mapped lossily by the sink (see TYPES.md)');
        lossSeen.set(kind, total);
      }
    }
  };
  const copyRates = new Map<string, { rows: number; rate: number }>();
  let snapshotSig = '';
  let snapshotStillSince = Date.now();
  let snapshotStallLogged = 0;
  let lastTickForRates = Date.now();
  const statusTimer = setInterval(() => {
    const now = Date.now();
    const rate = ((appliedRows - lastApplied) * 1000) / Math.max(1, now - lastTick);
    lastApplied = appliedRows;
    lastTick = now;
    const q = queued();
    const lag = caughtUp && q === 0 ? 0 : Math.max(0, (now - lastSourceTimeMs) / 1000);
    metrics.lagSeconds.set({ pipeline: name }, lag);
    metrics.queueRows.set({ pipeline: name }, q);
    metrics.queueFill.set({ pipeline: name }, Math.min(1, q / queueLimit()));
    const stats: StreamStats = { position: codec.format(committed), lagSeconds: lag, rowsPerSecond: rate, rowsApplied: appliedRows, queueRows: q };
    observer.streamStats?.(stats);
    reportLoss();
    // Lanes may have gone quiet right after a throttled ack: the checkpoint catches up here.
    commitCheckpoint(true);
    const requests = state.getMeta(META_SNAPSHOT_REQUESTS);
    if (requests && requests !== '[]') {
      state.setMeta(META_SNAPSHOT_REQUESTS, '[]');
      for (const id of JSON.parse(requests) as string[]) {
        if (!schemaSeen.has(id)) {
          log.warn({ table: id }, 'snapshot requested for a table the pipeline does not capture; ignored');
          continue;
        }
        log.info({ table: id }, 'snapshot of table requested: copying it again while the others stream');
        scheduler.restart(id);
        snapshotAnnounced = false;
      }
    }
    if (scheduler.failure !== null && !fatal) {
      fatal = snapshotFailure(scheduler.failure);
      stopOnError.abort(fatal);
    }
    if (!snapshotAnnounced && scheduler.active === 0) {
      snapshotAnnounced = true;
      log.info({}, 'snapshot complete');
      observer.phase?.('stream');
    }
    // Snapshot progress with a smoothed copy rate and ETA per table still being copied.
    const snapshot: Record<string, { rowsPerSecond: number; etaSeconds: number | null; chunksDone: number; chunksInFlight: number; chunkRows: number }> = {};
    const chunks = scheduler.chunkProgress();
    for (const p of state.listSnapshotProgress()) {
      const prev = copyRates.get(p.tableId) ?? { rows: p.rowsCopied, rate: 0 };
      const instant = (p.rowsCopied - prev.rows) * (1000 / Math.max(1, now - lastTickForRates));
      const smoothed = prev.rate === 0 ? instant : prev.rate * 0.7 + instant * 0.3;
      copyRates.set(p.tableId, { rows: p.rowsCopied, rate: smoothed });
      if (p.done) continue;
      const left = Math.max(0, (p.estimatedRows ?? 0) - p.rowsCopied);
      const c = chunks.get(p.tableId);
      snapshot[p.tableId] = { rowsPerSecond: Math.round(smoothed), etaSeconds: smoothed > 0 ? Math.round(left / smoothed) : null, chunksDone: c?.chunksDone ?? 0, chunksInFlight: c?.chunksInFlight ?? 0, chunkRows: c?.chunkRows ?? 0 };
    }
    lastTickForRates = now;
    // A snapshot that stops moving is reported with what it waits for (chunks, watermarks, lanes).
    if (scheduler.active > 0) {
      const tables = scheduler.describe();
      const sig = tables.map((t) => `${t.table}:${t.rowsRead}:${t.rowsCopied}`).join(',');
      if (sig !== snapshotSig) {
        snapshotSig = sig;
        snapshotStillSince = now;
      } else if (now - snapshotStillSince >= 10_000 && now - snapshotStallLogged >= 10_000) {
        snapshotStallLogged = now;
        log.warn({
          stillSeconds: Math.round((now - snapshotStillSince) / 1000),
          tables,
          chunks: merger.describe((p) => codec.format(p)),
          handedOn: codec.format(lastDispatched),
          queued: queued(),
          queueLimit: queueLimit(),
          lanes: writers.map((w) => ({ enqueued: w.enqueuedSeq, durable: w.durableSeq, held: w.heldSteps })),
        }, 'snapshot made no progress');
      }
    }
    writeStatus(state, { phase: 'stream', position: codec.encode(committed), positionText: codec.format(committed), lagSeconds: lag, rowsPerSecond: Math.round(rate), snapshot });
  }, 1000);

  const flushAll = async (flushSignal: AbortSignal = laneSignal): Promise<void> => {
    await Promise.all(writers.map((w) => w.flush(flushSignal)));
    commitCheckpoint(true);
  };

  /** Batches taken from the source so far (noteSourceWait tells a waiting stream from a busy one by it). */
  let handledBatches = 0;
  /**
   * The steps of the source transaction being read, per lane: `steps[i][0, stepCount[i])`. The
   * lists are reused from one transaction to the next and filled by index: emptied with
   * `length = 0`, V8 frees a list's backing store and the next push allocates a new one (a
   * scratch list emptied that way per change cost ~150 bytes of garbage per change).
   */
  const steps: (KeyedStep | null)[][] = Array.from({ length: lanes }, () => []);
  const stepCount: number[] = new Array<number>(lanes).fill(0);
  /** Key watch of the change being split (see stepsFor). */
  let watchedNow: string | null = null;
  const toLaneSteps = {
    push(s: KeyedStep): void {
      const l = s.lane;
      const k = stepCount[l] as number;
      (steps[l] as (KeyedStep | null)[])[k] = s;
      stepCount[l] = k + 1;
      if (watchedNow !== null) merger.noteKey(watchedNow, keyString(stepKey(s)));
    },
  };

  /**
   * Applies one schema-change batch (one source DDL statement). Every lane is flushed first, then
   * the change is applied to the sink once (sinks skip steps the target already shows, so a replay
   * after a crash sends no DDL), then recorded in the schema history at its position.
   *
   * pipeline.schema-change (config-types.ts, SchemaChangePolicy): `fail` stops before anything;
   * `ignore` applies nothing to existing target tables; `lenient` keeps what the target holds
   * (dropped columns and tables kept, renamed columns added under the new name, type changes only
   * when widening, TRUNCATE not applied); `evolve` applies everything but DROP TABLE (the target
   * table is kept under every policy). The schema history is recorded under every policy but
   * `fail`, so later rows are decoded with the schema in force. A table whose rows never went
   * through the stream (renamed in, swapped by gh-ost/pt-osc, primary key added back) is copied
   * again by the snapshot scheduler while the others stream.
   */
  const applySchemaBatch = async (batch: Extract<ChangeBatch<P>, { kind: 'schema' }>, posText: string): Promise<void> => {
    await flushAll();
    const change = batch.change;
    const policy = config.pipeline.schemaChange ?? 'evolve';
    const changedId = change.kind === 'drop-table' ? `${change.schema}.${change.name}` : tableId(change.table);
    if (policy === 'fail') {
      throw new FerryError('FERRY_DDL_UNSUPPORTED', `schema change on ${changedId} (${change.kind}) and pipeline.schema-change is fail: ${change.ddl}`, {
        fix: 'Apply the change to the target by hand and restart from a new snapshot, or set pipeline.schema-change to evolve, lenient or ignore.',
        details: { kind: change.kind, table: changedId, position: codec.format(batch.position) },
      });
    }
    const history: { tableId: string; schemaJson: string | null }[] = [];
    const record = (t: TableSchema): void => {
      history.push({ tableId: tableId(t), schemaJson: JSON.stringify(t) });
      schemaSeen.set(tableId(t), t);
    };
    const forget = (t: TableRef): void => {
      history.push({ tableId: tableId(t), schemaJson: null });
      schemaSeen.delete(tableId(t));
      scheduler.dropped(tableId(t));
    };
    const copyAgain: string[] = [];
    const truncateTarget = (t: TableSchema): Promise<void> => sink.applySchemaChange({ kind: 'truncate-table', table: t, ddl: change.ddl }, targetOf(t), sourceSignal);
    type AlterColumns = Extract<typeof change, { kind: 'alter-columns' }>;
    /** Column changes as the policy applies them (the sink keeps what `lenient` says to keep). */
    const alterTarget = (c: AlterColumns): Promise<void> => sink.applySchemaChange(policy === 'lenient' ? { ...c, lenient: true } : c, targetOf(c.table), sourceSignal);
    const apply = policy !== 'ignore';
    if (!apply) log.warn({ kind: change.kind, table: changedId, policy, ddl: change.ddl }, 'schema change not applied to the target (pipeline.schema-change)');
    switch (change.kind) {
      case 'drop-table':
        for (const t of change.tables ?? [{ schema: change.schema, name: change.name }]) {
          log.warn({ table: tableId(t), ddl: change.ddl }, 'source table dropped; the target table is kept');
          forget(t);
        }
        break;
      case 'create-table':
        // Under every policy: its rows need somewhere to land.
        await sink.prepare([targetOf(change.table)], sourceSignal);
        record(change.table);
        break;
      case 'truncate-table':
        if (policy === 'evolve') await truncateTarget(change.table);
        else if (policy === 'lenient') log.warn({ table: changedId }, 'TRUNCATE not applied to the target (pipeline.schema-change: lenient)');
        record(change.table);
        break;
      case 'add-column':
      case 'alter-table':
      case 'rename-table':
        if (apply) await sink.applySchemaChange(change, targetOf(change.table), sourceSignal);
        record(change.table);
        break;
      case 'alter-columns': {
        if (apply) await alterTarget(change);
        record(change.table);
        if (change.table.primaryKey.length === 0 && change.before.primaryKey.length > 0) {
          log.warn({ table: changedId, code: 'FERRY_NO_PRIMARY_KEY' }, 'table lost its primary key: its row changes are not delivered until a primary key is added back (it is then copied again)');
        }
        if (change.before.primaryKey.length === 0 && change.table.primaryKey.length > 0) {
          // Rows changed while the table had no key were not delivered: copy it again (emptied
          // first under evolve, so rows deleted meanwhile do not linger).
          if (policy === 'evolve') await truncateTarget(change.table);
          copyAgain.push(changedId);
        }
        break;
      }
      case 'rename-tables':
        for (const m of change.moves) {
          if (m.step === 'rename') {
            const fromId = tableId(m.from);
            const unfinished = state.getSnapshotProgress(fromId)?.done === false;
            if (apply) {
              const from = targetOf(m.from);
              await sink.applySchemaChange({ kind: 'rename-table', from: { schema: from.schema, name: from.name }, table: m.table, ddl: change.ddl }, targetOf(m.table), sourceSignal);
            } else {
              await sink.prepare([targetOf(m.table)], sourceSignal);
            }
            forget(m.from);
            record(m.table);
            if (unfinished || !apply) copyAgain.push(tableId(m.table));
          } else if (m.step === 'leave') {
            log.warn({ table: tableId(m.from), ddl: change.ddl }, 'source table renamed out of the captured tables; the target table is kept');
            forget(m.from);
          } else if (m.step === 'enter') {
            await sink.prepare([targetOf(m.table)], sourceSignal);
            record(m.table);
            copyAgain.push(tableId(m.table));
          } else {
            // Online schema change swap (gh-ost, pt-osc) or another table moved onto this name.
            if (apply) {
              await alterTarget({ kind: 'alter-columns', before: m.before, table: m.table, changes: m.changes, ddl: change.ddl });
              if (m.truncate && policy === 'evolve') await truncateTarget(m.table);
            }
            record(m.table);
            copyAgain.push(tableId(m.table));
          }
        }
        break;
    }
    state.appendSchemaHistory(posText, history);
    for (const id of copyAgain) {
      log.info({ table: id }, 'table copied again: its rows did not all go through the stream');
      scheduler.restart(id);
      snapshotAnnounced = false;
    }
    metrics.schemaChanges.inc({ pipeline: name, kind: change.kind });
    log.info({ kind: change.kind, table: changedId, policy, position: codec.format(batch.position) }, 'schema change applied');
  };

  const handleBatch = async (batch: ChangeBatch<P>): Promise<void> => {
    const posText = codec.encode(batch.position);
    if (batch.kind === 'rows') {
      if (batch.changes.length >= 64) {
        // Size in memory of a row change: value bytes plus per-value and per-row overhead.
        // A pending image counts its bytes (reading `after` would decode it).
        const sample: Row[] = [];
        let pendingBytes = 0;
        for (let i = 0; i < 64; i++) {
          const c = batch.changes[i] as RowChange;
          if (c.pending !== undefined) pendingBytes += c.pending.bytes;
          else sample.push(c.after ?? c.before ?? []);
        }
        const width = (batch.changes[0]?.table.columns.length ?? 0) * 40 + 200;
        const estimate = (approximateBytes(sample) + pendingBytes) / 64 + width;
        bytesPerRow = Math.round(bytesPerRow * 0.8 + estimate * 0.2);
      }
      positionTime.set(posText, batch.sourceTimeMs);
      if (positionTime.size > 10_000) positionTime.clear();
      // Counted per table object and op (no per-change strings).
      // Per table of the batch, looked up once per run of changes to the same table: its target,
      // its read counts, and its id when a snapshot chunk of it is open (keys to note).
      const perTable = new Map<TableSchema, BatchTable>();
      let last: BatchTable | null = null;
      for (const ch of batch.changes) {
        if (last === null || last.table !== ch.table) {
          last = perTable.get(ch.table) ?? null;
          if (last === null) {
            const tid = tableId(ch.table);
            last = { table: ch.table, target: targetOf(ch.table), counts: {}, watchedId: merger.watching(tid) ? tid : null };
            perTable.set(ch.table, last);
          }
        }
        last.counts[ch.op] = (last.counts[ch.op] ?? 0) + 1;
        stepsFor(ch, last.target, last.watchedId);
      }
      for (const t of perTable.values()) {
        const table = tableId(t.table);
        for (const op in t.counts) metrics.rowsRead.inc({ pipeline: name, table, op }, t.counts[op] ?? 0);
      }
      dispatch(batch.position, posText);
      caughtUp = false;
    } else if (batch.kind === 'heartbeat') {
      dispatch(batch.position, posText);
      caughtUp = queued() === 0;
      lastSourceTimeMs = Math.max(lastSourceTimeMs, batch.sourceTimeMs);
    } else {
      // Chunks read with the old schema are read again with the new one.
      const change = batch.change;
      if (change.kind === 'drop-table') scheduler.dropped(`${change.schema}.${change.name}`);
      else scheduler.schemaChanged(tableId(change.table));
      await applySchemaBatch(batch, posText);
      if (change.kind !== 'drop-table') {
        schemaSeen.set(tableId(change.table), change.table);
        if (change.kind === 'create-table' && change.needsSnapshot) scheduler.add(tableId(change.table));
      }
      dispatch(batch.position, posText);
    }
    emitReadyChunks();
    // Backpressure: stop pulling from the source while the lanes are behind.
    // (Woken as soon as a lane commits, instead of polling.) A lane with no transaction in flight
    // writes what it holds meanwhile: nothing more can reach it until the queue has room.
    if (queued() > queueLimit()) for (const w of writers) w.flushSoon();
    while (queued() > queueLimit() && !sourceSignal.aborted) {
      await laneProgress.waitAtMost(100, sourceSignal);
    }
  };

  // The stream survives a lost source connection (server restart, network): it reconnects with
  // backoff and resumes from the last position handed to the lanes — a transaction boundary, so
  // nothing is skipped and anything repeated is an idempotent replay.
  scheduler.start(sourceSignal);
  let from = resume;
  let fromSchemas = schemas;
  let outageStart = 0;
  let delay = 500;
  try {
    for (;;) {
      try {
        for await (const batch of source.stream(from, fromSchemas, sourceSignal)) {
          if (fatal) break;
          if (outageStart !== 0) {
            log.warn({ downSeconds: Math.round((Date.now() - outageStart) / 1000) }, 'source stream resumed');
            outageStart = 0;
            delay = 500;
          }
          handledBatches++;
          await handleBatch(batch);
          noteSourceWait();
        }
        break;
      } catch (e) {
        if (fatal || sourceSignal.aborted || !isTransientSourceError(e)) throw e;
        outageStart ||= Date.now();
        if (Date.now() - outageStart > SOURCE_OUTAGE_LIMIT_MS) {
          throw new FerryError('FERRY_SOURCE_UNREACHABLE', `the source stream stayed broken for ${Math.round(SOURCE_OUTAGE_LIMIT_MS / 60000)} minutes: ${e instanceof Error ? e.message : String(e)}`, {
            cause: e,
            fix: 'Bring the source back (or fix the network) and run the pipeline again: it resumes from its checkpoint.',
          });
        }
        log.warn({ error: e instanceof Error ? e.message : String(e), retryInMs: delay }, 'source stream lost; reconnecting');
        await sleep(delay, sourceSignal);
        delay = Math.min(delay * 2, 15_000);
        from = lastDispatched;
        fromSchemas = [...schemaSeen.values()];
      }
    }
  } catch (e) {
    if (fatal || !(isFerryError(e, 'FERRY_ABORTED') && signal.aborted)) {
      // Failure: stop everything; nothing more is written and the checkpoint stays where it is.
      clearInterval(statusTimer);
      stopOnError.abort(fatal ?? e);
      laneCtl.abort();
      await scheduler.stop();
      await Promise.all(writers.map((w) => w.stop()));
      writeStatus(state, { phase: 'failed', position: codec.encode(committed), positionText: codec.format(committed) });
      throw fatal ?? e;
    }
  }
  try {
    if (!fatal) {
      // Graceful stop: whatever the lanes hold (whole transactions) is written, then the checkpoint.
      const flushSignal = AbortSignal.any([AbortSignal.timeout(60_000), stopOnError.signal]);
      await flushAll(flushSignal).catch((e: unknown) => log.warn({ error: String(e) }, 'final flush incomplete; the stream resumes from the last checkpoint'));
      scheduler.recordDurable((lane) => (writers[lane] as LaneWriter).durableSeq);
    }
  } finally {
    clearInterval(statusTimer);
    await scheduler.stop();
    laneCtl.abort();
    await Promise.all(writers.map((w) => w.stop()));
    reportLoss();
    writeStatus(state, { phase: fatal ? 'failed' : 'stopped', position: codec.encode(committed), positionText: codec.format(committed) });
  }
  if (fatal) throw fatal;

  /**
   * After a batch: if the source has nothing more by the time pending I/O has been polled (no
   * next batch started), the lanes write what they hold now instead of waiting for a full batch
   * or the flush interval — the sink would otherwise sit idle (at the end of a burst, say).
   */
  function noteSourceWait(): void {
    const seq = handledBatches;
    setImmediate(() => {
      if (seq !== handledBatches || fatal) return;
      for (const w of writers) w.flushSoon();
    });
  }

  /** Hands the keyed steps of one change to their lanes' lists; notes their keys for open chunks. */
  function stepsFor(ch: import('./change.js').RowChange, target: TargetTable, watchedId: string | null): void {
    watchedNow = watchedId;
    stepsOf(ch, target, lanes, toLaneSteps);
  }

  /** Empties lane `i`'s list of steps (references dropped: they hold row images and their buffers). */
  function clearSteps(i: number): void {
    const list = steps[i] as (KeyedStep | null)[];
    const n = stepCount[i] as number;
    // A big transaction's list is let go of; a small one's slots are reused.
    if (n > 256) steps[i] = [];
    else for (let k = 0; k < n; k++) list[k] = null;
    stepCount[i] = 0;
  }

  function dispatch(position: P, posText: string): void {
    for (let i = 0; i < lanes; i++) {
      const skipUntil = laneSkipUntil[i];
      if (skipUntil !== null && skipUntil !== undefined) {
        if (codec.compare(position, skipUntil) <= 0) {
          // This lane committed this transaction before the restart: applying it again would
          // only move its keys back in time.
          clearSteps(i);
          continue;
        }
        laneSkipUntil[i] = null;
      }
      (writers[i] as LaneWriter).enqueue(steps[i] as (KeyedStep | null)[], posText, stepCount[i] as number);
      clearSteps(i);
      laneLatest[i] = position;
    }
    lastDispatched = position;
  }
}

/** The schema of each table in force at `position`, from the schema history. */
function schemasAt<P>(state: StateStore, codec: { decode(t: string): P; compare(a: P, b: P): number }, position: P, discovered: TableSchema[]): TableSchema[] {
  const best = new Map<string, { pos: P; json: string | null }>();
  for (const h of state.allSchemaHistory()) {
    const p = codec.decode(h.position);
    if (codec.compare(p, position) > 0) continue;
    const cur = best.get(h.tableId);
    if (!cur || codec.compare(p, cur.pos) >= 0) best.set(h.tableId, { pos: p, json: h.schemaJson });
  }
  const out: TableSchema[] = [];
  for (const [, v] of best) if (v.json !== null) out.push(JSON.parse(v.json) as TableSchema);
  // Tables never recorded (e.g. added to `tables:` later) start from their current schema.
  for (const t of discovered) if (!best.has(tableId(t))) out.push(t);
  return out;
}

/** A lost or refused source connection that a reconnect may cure (not a protocol or data error). */
function isTransientSourceError(e: unknown): boolean {
  if (isFerryError(e)) {
    if (e.code === 'FERRY_SOURCE_UNREACHABLE') return true;
    if (e.code === 'FERRY_ABORTED' || e.code === 'FERRY_HISTORY_LOST' || e.code === 'FERRY_BINLOG_UNSUPPORTED' || e.code === 'FERRY_SCHEMA_MISMATCH') return false;
    return e.cause !== undefined && isTransientSinkError(e.cause);
  }
  return isTransientSinkError(e);
}

export type { ChangeBatch };
