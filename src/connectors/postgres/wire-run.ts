import type { Socket } from 'node:net';
import pg from 'pg';

/**
 * Messages of one transaction written to the server one after another, each as soon as it is
 * ready, without waiting for the answers in between: simple-query messages (several statements
 * each) and `COPY ... FROM STDIN` with all its data. The pg driver sends a query only once the
 * previous one is answered, and a COPY waits for the server's CopyInResponse before its data and
 * for CommandComplete after it: a lane transaction of the benchmark (BEGIN, a COPY into a stage
 * table per table, the merges and COMMIT) was ~18 waits, during which the server idled until
 * Ferry's thread — busy with the other lane and the binlog — got round to answering. Written
 * ahead, the server goes from one message to the next on its own.
 *
 * What the protocol guarantees (PostgreSQL "Frontend/Backend Protocol", Simple Query and COPY
 * Operations): every Query message is answered by exactly one ReadyForQuery, after its results or
 * its ErrorResponse; an error in a message skips the rest of that message, and a COPY that fails
 * (before or during its data) leaves the CopyData/CopyDone that follow it to be dropped by the
 * server. In a transaction block every later statement then fails too and a COMMIT among them is
 * skipped (or, alone in a message, turns into ROLLBACK): nothing of a failed run is committed.
 * The first error is the run's error, with the index of the message it came from.
 *
 * The run is one pg query object (a "submittable", as pg-copy-streams' are) that stays the
 * client's active query until the last ReadyForQuery: pg hands it every message of the
 * connection, and it puts itself back as active after each ReadyForQuery or ErrorResponse but
 * the last (pg's Client `_activeQuery` / `readyForQuery`, pinned pg ~8.23). While a run is open
 * nothing else may be queried on the client: a query would wait behind the run for ever.
 *
 * Timeout: pg's `query_timeout` counts from a query's start, which for a run would bound a whole
 * lane transaction (every COPY of it) by what bounded one statement. A run instead fails when the
 * server has answered nothing for `idleTimeoutMs` while answers are due (a black-holed link, a
 * lock held for too long): the socket is destroyed, and the error — like any connection failure
 * — has no SQLSTATE, so the caller drops the connection and retries the transaction.
 */
export class WireRun {
  readonly #client: ClientInternals;
  #stream: Socket | null = null;
  /** Writes made before pg submitted the run (normally none: an idle client submits at once). */
  #pending: Buffer[] = [];
  /** Per Query message written: the tag the caller gave it (to name what failed). */
  readonly #tags: unknown[] = [];
  #answered = 0;
  #finishing = false;
  #ended = false;
  #error: Error | null = null;
  #failedTag: unknown = undefined;
  #resolve: () => void = () => undefined;
  #reject: (e: Error) => void = () => undefined;
  readonly #done: Promise<void>;
  readonly #idleTimeoutMs: number;
  #timer: NodeJS.Timeout | null = null;
  /** Read by pg instead of the client's query_timeout: far away, the idle timer above bounds the run. */
  readonly query_timeout = 2 ** 31 - 1;

  /** Starts a run on `client`, which must have no query in flight. `idleTimeoutMs` 0: no timeout. */
  constructor(client: pg.ClientBase, idleTimeoutMs = 0) {
    this.#client = client as unknown as ClientInternals;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Not a rejection nobody waits for if the caller fails before finish(): finish() rethrows it.
    this.#done.catch(() => undefined);
    (client as unknown as { query(q: unknown): unknown }).query(this);
  }

  /** The tag of the message whose error ended the run (undefined: no message failed). */
  get failedTag(): unknown {
    return this.#failedTag;
  }

  /** Writes one simple-query message (statements separated by `;`). */
  query(sql: string, tag: unknown = null): void {
    this.#write([queryMessage(sql)], tag);
  }

  /** Writes `COPY ... FROM STDIN` and its data: CopyData per piece, then CopyDone. */
  copy(sql: string, pieces: readonly Buffer[], tag: unknown = null): void {
    const out: Buffer[] = [queryMessage(sql)];
    for (const p of pieces) {
      if (p.length === 0) continue;
      const h = Buffer.allocUnsafe(5);
      h[0] = 0x64; // 'd' CopyData
      h.writeUInt32BE(p.length + 4, 1);
      out.push(h, p);
    }
    out.push(COPY_DONE);
    this.#write(out, tag);
  }

  /**
   * Waits until every message written has been answered; rejects with the first error. A run
   * whose messages were all answered already gets an empty query, so that its end still comes
   * from a ReadyForQuery (which is what hands the client back to pg).
   */
  async finish(): Promise<void> {
    if (!this.#ended) {
      if (this.#answered === this.#tags.length) this.query('', null);
      this.#finishing = true;
    }
    return this.#done;
  }

  #write(bufs: Buffer[], tag: unknown): void {
    if (this.#finishing) throw new Error('WireRun: write after finish()');
    // A run the connection already ended writes nothing more: finish() reports why.
    if (this.#ended) return;
    this.#tags.push(tag);
    if (this.#timer === null) this.#arm();
    const s = this.#stream;
    if (s === null) {
      for (const b of bufs) this.#pending.push(b);
      return;
    }
    writeAll(s, bufs);
  }

  // ---- pg's submittable interface ----

  /** Set (and wrapped, for query_timeout) by pg; called once, at the end. */
  callback: (err: Error | null) => void = (err) => {
    if (err) this.#reject(err);
    else this.#resolve();
  };

  submit(connection: { stream: Socket }): void {
    this.#stream = connection.stream;
    if (this.#pending.length > 0) writeAll(connection.stream, this.#pending);
    this.#pending = [];
  }

  handleReadyForQuery(): void {
    if (this.#ended) return;
    this.#answered++;
    this.#progress();
    if (!this.#finishing || this.#answered < this.#tags.length) {
      this.#rearm();
      return;
    }
    this.#end(this.#error);
  }

  handleError(err: Error): void {
    if (this.#ended) return;
    if (err instanceof pg.DatabaseError) {
      // An ErrorResponse: the ReadyForQuery of its message follows.
      if (this.#error === null) {
        this.#error = err;
        this.#failedTag = this.#tags[this.#answered];
      }
      this.#rearm();
      return;
    }
    // The connection failed, or pg's read timeout: no more answers will come.
    this.#end(err);
  }

  handleCommandComplete(): void {
    this.#progress();
  }
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handleCopyInResponse(): void {}
  handleCopyData(): void {}
  handlePortalSuspended(): void {}

  #rearm(): void {
    this.#client._activeQuery = this;
    this.#client.readyForQuery = false;
  }

  /** An answer came: the idle timer starts again (or stops, when nothing more is due). */
  #progress(): void {
    if (this.#timer === null) return;
    clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#answered < this.#tags.length) this.#arm();
  }

  #arm(): void {
    if (this.#idleTimeoutMs <= 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#ended) return;
      const err = new Error(`the PostgreSQL server answered nothing for ${this.#idleTimeoutMs} ms (${this.#tags.length - this.#answered} messages of the transaction unanswered)`);
      this.#stream?.destroy();
      this.#end(err);
    }, this.#idleTimeoutMs);
  }

  #end(err: Error | null): void {
    this.#ended = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#pending = [];
    this.callback(err);
  }
}

interface ClientInternals {
  _activeQuery: unknown;
  readyForQuery: boolean;
}

const COPY_DONE = Buffer.from([0x63, 0, 0, 0, 4]); // 'c' CopyDone

function queryMessage(sql: string): Buffer {
  const n = Buffer.byteLength(sql);
  const b = Buffer.allocUnsafe(n + 6);
  b[0] = 0x51; // 'Q' Query
  b.writeUInt32BE(n + 5, 1);
  b.write(sql, 5, 'utf8');
  b[n + 5] = 0;
  return b;
}

/** One writev for all of `bufs` (the socket buffers what the kernel does not take yet). */
function writeAll(s: Socket, bufs: readonly Buffer[]): void {
  s.cork();
  for (const b of bufs) s.write(b);
  s.uncork();
}
