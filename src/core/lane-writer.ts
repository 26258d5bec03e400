import { Notifier, sleep } from './async-queue.js';
import type { KeyAction, Sink, SinkLane } from './contracts.js';
import { FerryError, isFerryError } from './errors.js';
import type { KeyedStep } from './key-merge.js';
import { KeyMerger } from './key-merge.js';
import { crashPoint } from './faults.js';

export interface LaneWriterOptions {
  lane: number;
  sink: Sink;
  /** Flush once this many key steps are pending. */
  maxRows: number;
  /** Flush pending steps at the latest after this long. */
  flushIntervalMs: number;
  /**
   * Attempts for a write that failed because the sink was unreachable. Retries go on past this
   * count until the sink has been unreachable for `outageLimitMs`: a restart or a fail-over of
   * the target takes about a minute, longer than 12 attempts with backoff ≤ 10 s (≈ 66 s).
   */
  maxAttempts: number;
  /**
   * How long a lane keeps retrying an unreachable sink before the pipeline stops (default:
   * FERRY_SINK_OUTAGE_LIMIT_MS, else 10 minutes, the same as a lost source).
   */
  outageLimitMs?: number;
  /** Called after a lane transaction committed: everything up to `checkpoint` is durable. */
  markDurable: (lane: number, checkpoint: string, actions: KeyAction[]) => void;
  /** Called when the lane cannot go on (the pipeline must stop). */
  fail: (error: FerryError) => void;
  log: (msg: string, details?: Record<string, unknown>) => void;
}

/** How long a lane retries an unreachable sink by default (FERRY_SINK_OUTAGE_LIMIT_MS overrides). */
const SINK_OUTAGE_LIMIT_MS = Number(process.env.FERRY_SINK_OUTAGE_LIMIT_MS ?? 10 * 60_000);

/** Errors worth retrying with a new connection: the sink went away, not the data is bad. */
export function isTransientSinkError(e: unknown): boolean {
  if (isFerryError(e)) {
    if (e.code === 'FERRY_SINK_UNREACHABLE') return true;
    if (e.code !== 'FERRY_SINK_WRITE') return false;
    return isTransientSinkError(e.cause);
  }
  if (typeof e !== 'object' || e === null) return false;
  const code = (e as { code?: unknown }).code;
  const transient = new Set([
    'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'PROTOCOL_CONNECTION_LOST',
    'ER_CON_COUNT_ERROR', 'ER_SERVER_SHUTDOWN', 'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT',
    '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004', '40001', '40P01', '53300',
  ]);
  if (typeof code === 'string' && transient.has(code)) return true;
  const msg = e instanceof Error ? e.message : '';
  // pg reports a client whose socket failed with these messages (no SQLSTATE, no errno).
  if (/Connection terminated|connection is in closed state|Can't add new command when connection is in closed state|read ECONNRESET|socket hang up|Client has encountered a connection error and is not queryable|Client was closed and is not queryable|Query read timeout|timeout exceeded when trying to connect|Connection terminated due to connection timeout/i.test(msg)) return true;
  const cause = (e as { cause?: unknown }).cause;
  return cause !== undefined && cause !== e && isTransientSinkError(cause);
}

/**
 * One of N parallel sink writers. Key steps are merged per key while the previous transaction is
 * being written; each write commits the merged actions together with the lane's checkpoint (the
 * position after the last source batch handed to this lane) in one sink transaction.
 */
export class LaneWriter {
  readonly lane: number;
  readonly #o: LaneWriterOptions;
  #merger = new KeyMerger();
  /** Position of the last batch handed to this lane (encoded); null before the first. */
  #latest: string | null = null;
  /** Position of the last durable write. */
  #durable: string | null = null;
  /** Count of enqueue calls that carried steps, and how many of them are durable. */
  #enqueuedSeq = 0;
  #durableSeq = 0;
  /** When the lane first had something not yet durable (steps or a newer position); null when clean. */
  #dirtySince: number | null = null;
  #flushWanted = false;
  #stopped = false;
  #writing = false;
  #inFlight = 0;
  readonly #wake = new Notifier();
  readonly #idle = new Notifier();
  #sinkLane: SinkLane | null = null;
  #loop: Promise<void> | null = null;
  #error: FerryError | null = null;

  constructor(options: LaneWriterOptions) {
    this.lane = options.lane;
    this.#o = options;
  }

  /** Steps pending (not yet handed to a sink transaction). */
  get pendingSteps(): number {
    return this.#merger.steps;
  }

  /** Steps pending plus the actions of the transaction being written (all held in memory). */
  get heldSteps(): number {
    return this.#merger.steps + this.#inFlight;
  }

  get durablePosition(): string | null {
    return this.#durable;
  }

  /** Sequence number of the last enqueue that carried steps. */
  get enqueuedSeq(): number {
    return this.#enqueuedSeq;
  }

  /** Every enqueue up to this sequence number is durable in the sink. */
  get durableSeq(): number {
    return this.#durableSeq;
  }

  start(signal: AbortSignal): void {
    this.#loop = this.#run(signal);
  }

  /** Hands the lane its part of one source batch, and the position that batch ends at. */
  enqueue(steps: readonly (KeyedStep | null)[], position: string, count = steps.length): void {
    if (this.#error) throw this.#error;
    // The first `count` entries are steps (the runtime reuses its lists; see runtime.ts stepsFor).
    for (let i = 0; i < count; i++) this.#merger.add(steps[i] as KeyedStep);
    if (count > 0) this.#enqueuedSeq++;
    this.#latest = position;
    this.#dirtySince ??= Date.now();
    if (this.#merger.steps >= this.#o.maxRows) this.#wake.notify();
  }

  /**
   * Asks the lane to write what it holds as soon as no transaction of its own is in flight,
   * without waiting for a full batch or the flush interval: for when the source is waiting (it
   * has nothing more right now, or the queue is full), so waiting would only leave the sink idle.
   * Does not wait for the write.
   */
  flushSoon(): void {
    if (this.#merger.steps === 0 && this.#latest === this.#durable) return;
    this.#flushWanted = true;
    if (!this.#writing) this.#wake.notify();
  }

  /** Resolves when everything enqueued so far is durable. */
  async flush(signal: AbortSignal): Promise<void> {
    for (;;) {
      if (this.#error) throw this.#error;
      if (!this.#writing && this.#merger.steps === 0 && this.#latest === this.#durable) return;
      if (signal.aborted) throw new FerryError('FERRY_ABORTED', 'flush aborted');
      this.#flushWanted = true;
      this.#wake.notify();
      await this.#idle.waitAtMost(1000, signal);
    }
  }

  /** Stops the loop after the current write; pending steps are dropped (they were never acked). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake.notify();
    try {
      await this.#loop;
    } finally {
      const l = this.#sinkLane;
      this.#sinkLane = null;
      if (l) await l.close().catch(() => undefined);
    }
  }

  /**
   * How long the pending state may wait: flushIntervalMs, for rows and for a bare position (no
   * rows) alike. A lane that gets no rows for a while would otherwise hold the pipeline
   * checkpoint (the lowest lane position) back by longer than the lanes that do; a
   * checkpoint-only transaction is one small row, and an idle source moves positions only once
   * per heartbeat.
   */
  #maxWait(): number {
    return this.#o.flushIntervalMs;
  }

  #due(): boolean {
    if (this.#latest === null || this.#dirtySince === null) return false;
    // Nothing new: no steps and no newer position. (Pieces of one huge source transaction all
    // carry the position before it, so steps can be pending at an already durable position.)
    if (this.#merger.steps === 0 && this.#latest === this.#durable) return false;
    if (this.#flushWanted) return true;
    if (this.#merger.steps >= this.#o.maxRows) return true;
    return Date.now() - this.#dirtySince >= this.#maxWait();
  }

  async #run(signal: AbortSignal): Promise<void> {
    try {
      while (!this.#stopped && !signal.aborted) {
        if (!this.#due()) {
          this.#idle.notify();
          const wait = this.#dirtySince !== null ? Math.max(1, this.#maxWait() - (Date.now() - this.#dirtySince)) : this.#o.flushIntervalMs;
          await this.#wake.waitAtMost(wait, signal);
          continue;
        }
        const checkpoint = this.#latest as string;
        const seq = this.#enqueuedSeq;
        const actions = this.#merger.drain();
        this.#flushWanted = false;
        this.#dirtySince = null;
        this.#writing = true;
        this.#inFlight = actions.length;
        try {
          await this.#writeWithRetry(actions, checkpoint, signal);
        } finally {
          this.#writing = false;
          this.#inFlight = 0;
        }
        crashPoint('stream.after-lane-commit');
        this.#durable = checkpoint;
        this.#durableSeq = seq;
        this.#o.markDurable(this.lane, checkpoint, actions);
        this.#idle.notify();
      }
    } catch (e) {
      const err = isFerryError(e) ? e : new FerryError('FERRY_INTERNAL', `lane ${this.lane} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      this.#error = err;
      if (err.code !== 'FERRY_ABORTED') this.#o.fail(err);
    } finally {
      this.#idle.notify();
    }
  }

  async #writeWithRetry(actions: KeyAction[], checkpoint: string, signal: AbortSignal): Promise<void> {
    let delay = 250;
    const outageLimitMs = this.#o.outageLimitMs ?? SINK_OUTAGE_LIMIT_MS;
    let firstFailure = 0;
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw new FerryError('FERRY_ABORTED', 'lane write aborted');
      try {
        if (!this.#sinkLane) this.#sinkLane = await this.#o.sink.openLane(this.lane);
        await this.#sinkLane.write({ actions, checkpoint }, signal);
        return;
      } catch (e) {
        // The connection may be half-dead: drop it and reopen on retry. A commit whose outcome is
        // unknown is simply written again: the actions are idempotent and the checkpoint row the same.
        const l = this.#sinkLane;
        this.#sinkLane = null;
        if (l) await l.close().catch(() => undefined);
        firstFailure ||= Date.now();
        if (!isTransientSinkError(e)) throw e;
        if (attempt >= this.#o.maxAttempts && Date.now() - firstFailure >= outageLimitMs) {
          throw new FerryError('FERRY_SINK_UNREACHABLE', `lane ${this.lane}: the sink stayed unreachable for ${Math.round((Date.now() - firstFailure) / 1000)} s (${attempt} attempts): ${e instanceof Error ? e.message : String(e)}`, {
            cause: e,
            fix: 'Bring the sink back (or fix the network) and run the pipeline again: it resumes from its checkpoint.',
          });
        }
        this.#o.log('sink write failed, retrying', { lane: this.lane, attempt, retryInMs: delay, error: e instanceof Error ? e.message : String(e) });
        await sleep(delay, signal);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }
}
