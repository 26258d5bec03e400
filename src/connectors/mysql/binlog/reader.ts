import mysql, { type Connection, type ConnectionOptions } from 'mysql2';
import { abortError, FerryError, type FerryErrorCode } from '../../../core/errors.js';
import type { BinlogPosition } from '../position.js';
import {
  BINLOG_DUMP_NON_BLOCK,
  BINLOG_SEND_ANNOTATE_ROWS_EVENT,
  BinlogDumpCommand,
  buildBinlogDump,
  buildBinlogDumpGtid,
  type Mysql2ConnectionInternals,
  type ServerError,
} from './dump-command.js';
import { BinlogEventParser, type ChecksumAlg } from './events.js';
import type { BinlogEvent } from './types.js';

/** Where a dump starts. */
export type BinlogStart =
  | { file: string; pos: number }
  /** MariaDB GTID list `domain-server-seq[,...]`: the stream starts after these transactions. */
  | { gtid: string }
  /** MySQL GTID set: the stream sends every transaction not in this set. */
  | { mysqlGtidSet: string };

export interface BinlogStreamOptions {
  connection: ConnectionOptions;
  /** Replica server id of this dump; unique among everything that dumps from the server. */
  serverId: number;
  start: BinlogStart;
  /** The server sends a heartbeat after this much idle time (0 = none). */
  heartbeatIntervalMs: number;
  signal?: AbortSignal;
  /** Verify each event's CRC32 (default true). */
  verifyChecksum?: boolean;
  /** Stop reading the socket when this many bytes of received events wait for the consumer (default 4 MiB; reading resumes when half of it is consumed). Events are parsed when the consumer takes them, at most 1024 per batch. */
  highWaterMarkBytes?: number;
  /** MariaDB: also send Annotate_rows events (the SQL text of row events). Default false. */
  annotateRows?: boolean;
  /** End the stream at the end of the binlog instead of waiting for new events. Default false. */
  nonBlocking?: boolean;
  /**
   * Session net_write_timeout (s) of the dump connection, so a paused consumer does not get the
   * dump dropped after the server default of 60 s. Default 3600.
   */
  netWriteTimeoutS?: number;
}

/**
 * A running binlog dump. Iterate it to get batches of events in binlog order: every batch holds
 * all events that arrived since the previous one (at least one). Reading pauses while the
 * consumer has not taken the pending batch and it exceeds the high-water mark, so a slow
 * consumer slows the server down instead of growing memory. Iteration ends without error only
 * for a non-blocking dump at the end of the binlog or after close(); failures are FerryErrors
 * (after every event received before the failure was delivered).
 */
export interface BinlogStream extends AsyncIterable<BinlogEvent[]> {
  /** Position after the last event parsed so far (not necessarily consumed). */
  readonly position: { file: string; pos: number };
  /** Ends the dump and closes the connection. Idempotent; pending events are dropped. */
  close(): Promise<void>;
}

/** Opens a dump. Connection errors surface from the iterator. */
export function openBinlogStream(opts: BinlogStreamOptions): BinlogStream {
  return new BinlogStreamImpl(opts);
}

function codeOfConnectError(e: unknown): FerryErrorCode {
  const code = (e as { code?: unknown }).code;
  if (code === 'ER_SPECIFIC_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR') return 'FERRY_SOURCE_MISCONFIGURED';
  return 'FERRY_SOURCE_UNREACHABLE';
}

/** Maps an ERR packet received instead of (or during) the event stream to a coded error. */
export function errorOfDump(e: ServerError, start: BinlogStart): FerryError {
  const where = 'file' in start ? `${start.file}:${start.pos}` : 'gtid' in start ? `GTID ${start.gtid}` : `GTID set ${start.mysqlGtidSet}`;
  const details = { errno: e.errno, sqlState: e.sqlState, start: where };
  const msg = `binlog dump from ${where} failed: ${e.message} (errno ${e.errno})`;
  if (e.errno === 1236 && /same server.?id|same server_uuid/i.test(e.message)) {
    return new FerryError('FERRY_SOURCE_MISCONFIGURED', msg, {
      details,
      fix: 'Another replica or binlog client connects with the same server id. Give this pipeline its own `source.server-id` (unique among all replicas of the source), or leave it out so Ferry allocates one.',
    });
  }
  if (e.errno === 1236) {
    if (/position > file size|greater than|beyond|ahead|newer than/i.test(e.message)) {
      return new FerryError('FERRY_CHECKPOINT_AHEAD', msg, {
        details,
        fix: 'The checkpoint points past the end of the server binlog (server restored or replaced?). Re-snapshot the pipeline or reset its checkpoint.',
      });
    }
    return new FerryError('FERRY_HISTORY_LOST', msg, {
      details,
      fix: 'The source no longer has the binlog the checkpoint needs (purged or rotated away). Re-snapshot the pipeline, and raise binlog retention (expire_logs_days / binlog_expire_logs_seconds) so it does not happen again.',
    });
  }
  // ER_SLAVE_SAME_ID (4052 on MariaDB; MySQL reports it inside 1236, handled above by message):
  // another replica or binlog client uses this server id, and the server drops one of them.
  if (e.errno === 4052 || /same server.?id|same server_uuid|server_id/i.test(e.message)) {
    return new FerryError('FERRY_SOURCE_MISCONFIGURED', msg, {
      details,
      fix: 'Another replica or binlog client connects with the same server id. Give this pipeline its own `source.server-id` (unique among all replicas of the source), or leave it out so Ferry allocates one.',
    });
  }
  if (e.errno === 1227 || e.errno === 1045 || e.errno === 1044) {
    return new FerryError('FERRY_SOURCE_MISCONFIGURED', msg, {
      details,
      fix: "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '<user>'@'%' on the source.",
    });
  }
  return new FerryError('FERRY_BINLOG_PROTOCOL', msg, { details });
}

function query(conn: Connection, sql: string, values?: unknown[]): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    conn.query(sql, values ?? [], (err, rows) => {
      if (err) reject(err);
      else resolve(Array.isArray(rows) ? (rows as unknown[]) : []);
    });
  });
}

/**
 * Events handed to the consumer per `next()` at most. Events are parsed when taken, not when
 * received: parsed on receipt, the 4 MiB waiting behind a busy consumer were ~25,000 event
 * objects that outlived young-generation collections; received, they are only their bounds in
 * the socket's buffers.
 */
const EVENTS_PER_BATCH = 1024;

class BinlogStreamImpl implements BinlogStream {
  /** Received, not yet parsed events: buffer and bounds, from `head` on. */
  private rawBufs: Buffer[] = [];
  private rawStarts: number[] = [];
  private rawEnds: number[] = [];
  private head = 0;
  private queuedBytes = 0;
  private failure: FerryError | null = null;
  private ended = false;
  private closed = false;
  private paused = false;
  private wake: (() => void) | null = null;
  private conn: Connection | null = null;
  private internals: Mysql2ConnectionInternals | null = null;
  private readonly parser: BinlogEventParser;
  private readonly hwm: number;
  private readonly onAbort = (): void => {
    this.fail(abortError(this.opts.signal));
  };

  constructor(private readonly opts: BinlogStreamOptions) {
    this.hwm = opts.highWaterMarkBytes ?? 4 * 1024 * 1024;
    const s = opts.start;
    this.parser = new BinlogEventParser({
      file: 'file' in s ? s.file : '',
      pos: 'file' in s ? s.pos : 4,
      verifyChecksum: opts.verifyChecksum ?? true,
    });
    if (opts.signal?.aborted) {
      this.failure = abortError(opts.signal);
      this.ended = true;
      return;
    }
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.startDump().catch((e: unknown) => {
      this.fail(
        e instanceof FerryError
          ? e
          : new FerryError(codeOfConnectError(e), `cannot start the binlog dump: ${e instanceof Error ? e.message : String(e)}`, {
              cause: e,
              fix: 'Check host, port, user and password of the source, and that it is running.',
            }),
      );
    });
  }

  get position(): { file: string; pos: number } {
    return { file: this.parser.file, pos: this.parser.pos };
  }

  private async startDump(): Promise<void> {
    const o = this.opts;
    const conn = mysql.createConnection({ ...o.connection, multipleStatements: false });
    this.conn = conn;
    this.internals = conn as unknown as Mysql2ConnectionInternals;
    // Errors without an active command (e.g. socket closed while idle) must not crash the process.
    conn.on('error', (err: Error) => this.fail(this.connectionError(err)));
    if (this.closed) return;
    const rows = (await query(conn, 'SELECT @@global.binlog_checksum AS checksum, VERSION() AS version')) as {
      checksum: string | null;
      version: string;
    }[];
    const checksum: ChecksumAlg = String(rows[0]?.checksum ?? 'NONE').toUpperCase() === 'CRC32' ? 'crc32' : 'none';
    this.parser.checksum = checksum;
    // One round trip for the session settings of the dump (checksum announcement, MariaDB
    // capability, heartbeat, write timeout).
    const settings = [
      '@master_binlog_checksum = @@global.binlog_checksum',
      '@source_binlog_checksum = @@global.binlog_checksum',
      '@mariadb_slave_capability = 4',
    ];
    if (o.heartbeatIntervalMs > 0) {
      const ns = BigInt(Math.round(o.heartbeatIntervalMs)) * 1_000_000n;
      settings.push(`@master_heartbeat_period = ${ns}`, `@source_heartbeat_period = ${ns}`);
    }
    settings.push(`SESSION net_write_timeout = ${Math.max(60, Math.floor(o.netWriteTimeoutS ?? 3600))}`);
    await query(conn, `SET ${settings.join(', ')}`);
    let payload: Buffer;
    const flags = (o.nonBlocking ? BINLOG_DUMP_NON_BLOCK : 0) | (o.annotateRows ? BINLOG_SEND_ANNOTATE_ROWS_EVENT : 0);
    const s = o.start;
    if ('gtid' in s) {
      await query(conn, 'SET @slave_connect_state = ?', [s.gtid]);
      await query(conn, 'SET @slave_gtid_strict_mode = 0');
      await query(conn, 'SET @slave_gtid_ignore_duplicates = 0');
      payload = buildBinlogDump({ file: '', pos: 4, serverId: o.serverId, flags });
    } else if ('mysqlGtidSet' in s) {
      payload = buildBinlogDumpGtid({ gtidSet: s.mysqlGtidSet, serverId: o.serverId, flags });
    } else {
      payload = buildBinlogDump({ file: s.file, pos: s.pos, serverId: o.serverId, flags });
    }
    if (this.closed) return;
    const cmd = new BinlogDumpCommand(payload, {
      onEvent: (buf, start, end) => this.receive(buf, start, end),
      onEof: () => this.finish(),
      onServerError: (e) => this.fail(errorOfDump(e, s)),
      onConnectionError: (e) => this.fail(this.connectionError(e)),
    });
    (conn as unknown as Mysql2ConnectionInternals).addCommand(cmd);
  }

  private connectionError(err: Error): FerryError {
    return new FerryError('FERRY_SOURCE_UNREACHABLE', `binlog dump connection failed: ${err.message}`, {
      cause: err,
      fix: 'Check that the source is running and reachable; the pipeline resumes from its last checkpoint.',
    });
  }

  /** Runs inside mysql2's socket data handler: queue the event's bounds, pause when the consumer lags. */
  private receive(buf: Buffer, start: number, end: number): void {
    if (this.ended) return;
    this.rawBufs.push(buf);
    this.rawStarts.push(start);
    this.rawEnds.push(end);
    this.queuedBytes += end - start;
    if (this.queuedBytes >= this.hwm && !this.paused && this.internals) {
      this.paused = true;
      // The socket, not mysql2's connection: mysql2's pause() keeps the packets left in the chunk
      // being parsed in a queue of its own and drops them when the server closes the connection
      // meanwhile; a non-blocking dump ends with EOF and a close, so its last events and the EOF
      // were lost (FERRY_SOURCE_UNREACHABLE instead of the end). A paused socket lets the current
      // chunk finish (at most one read more than the high-water mark) and reads nothing more.
      this.internals.stream.pause();
    }
    this.signal();
  }

  private signal(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private finish(): void {
    this.ended = true;
    this.teardown();
    this.signal();
  }

  private fail(e: FerryError): void {
    if (this.ended) return;
    this.failure = e;
    this.finish();
  }

  private teardown(): void {
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    const conn = this.internals;
    this.internals = null;
    if (conn) {
      try {
        conn.destroy();
        conn.stream.destroy();
      } catch {
        // already closed
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.dropRaw();
    this.finish();
  }

  private dropRaw(): void {
    this.rawBufs = [];
    this.rawStarts = [];
    this.rawEnds = [];
    this.head = 0;
    this.queuedBytes = 0;
  }

  /**
   * Parses up to EVENTS_PER_BATCH received events, in order. A parse failure ends the stream
   * with it (FERRY_BINLOG_PROTOCOL) after the events parsed before it.
   */
  private take(): BinlogEvent[] {
    const n = Math.min(this.rawBufs.length - this.head, EVENTS_PER_BATCH);
    const batch: BinlogEvent[] = [];
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const k = this.head + i;
      const start = this.rawStarts[k] as number;
      const end = this.rawEnds[k] as number;
      try {
        batch.push(this.parser.parse(this.rawBufs[k] as Buffer, start, end));
      } catch (e) {
        const f = e instanceof FerryError ? e : new FerryError('FERRY_BINLOG_PROTOCOL', `cannot parse a binlog event: ${String(e)}`, { cause: e });
        this.dropRaw();
        // Set even when the server had already ended the stream (fail() keeps the first outcome).
        if (this.failure === null) this.failure = f;
        this.finish();
        return batch;
      }
      bytes += end - start;
    }
    this.head += n;
    this.queuedBytes -= bytes;
    if (this.head === this.rawBufs.length) this.dropRaw();
    else if (this.head >= 65536) {
      // Drop what was taken, so the arrays do not grow for as long as the consumer lags.
      this.rawBufs = this.rawBufs.slice(this.head);
      this.rawStarts = this.rawStarts.slice(this.head);
      this.rawEnds = this.rawEnds.slice(this.head);
      this.head = 0;
    }
    return batch;
  }

  [Symbol.asyncIterator](): AsyncIterator<BinlogEvent[]> {
    return {
      next: async (): Promise<IteratorResult<BinlogEvent[]>> => {
        for (;;) {
          if (this.head < this.rawBufs.length) {
            const batch = this.take();
            // Resumed once half is consumed (not on every batch: pausing and resuming the
            // socket for each 64 KiB read would cost more than it saves).
            if (this.paused && this.internals && this.queuedBytes <= this.hwm / 2) {
              this.paused = false;
              this.internals.stream.resume();
            }
            if (batch.length > 0) return { value: batch, done: false };
            continue;
          }
          if (this.failure) {
            const f = this.failure;
            if (this.closed && f.code === 'FERRY_ABORTED') return { value: undefined, done: true };
            throw f;
          }
          if (this.ended) return { value: undefined, done: true };
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
        }
      },
      return: async (): Promise<IteratorResult<BinlogEvent[]>> => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }
}

/**
 * The server's current binlog position: `SHOW MASTER STATUS` (or MySQL 8.4's
 * `SHOW BINARY LOG STATUS`) plus `@@gtid_binlog_pos` (MariaDB) or `@@gtid_executed` (MySQL).
 * The two reads are not atomic: under concurrent writes the GTID may be a little ahead of the
 * file/pos. Use it for "start from now", not as a snapshot watermark.
 */
export async function readServerPosition(connection: ConnectionOptions): Promise<BinlogPosition> {
  const conn = mysql.createConnection({ ...connection, multipleStatements: false });
  conn.on('error', () => undefined);
  try {
    let rows: unknown[];
    try {
      rows = await query(conn, 'SHOW MASTER STATUS');
    } catch {
      rows = await query(conn, 'SHOW BINARY LOG STATUS');
    }
    const r = rows[0] as { File?: string; Position?: number | string } | undefined;
    if (!r || typeof r.File !== 'string') {
      throw new FerryError('FERRY_SOURCE_MISCONFIGURED', 'the source has no binary log (SHOW MASTER STATUS is empty)', {
        fix: 'Start the source with log_bin enabled, binlog_format=ROW and a server_id.',
      });
    }
    const version = ((await query(conn, 'SELECT VERSION() AS v')) as { v: string }[])[0]?.v ?? '';
    const gtidSql = /mariadb/i.test(version) ? 'SELECT @@global.gtid_binlog_pos AS g' : 'SELECT @@global.gtid_executed AS g';
    let gtid = '';
    try {
      gtid = String(((await query(conn, gtidSql)) as { g: unknown }[])[0]?.g ?? '').replace(/\s+/g, '');
    } catch {
      gtid = '';
    }
    return { file: r.File, pos: Number(r.Position), gtid };
  } catch (e) {
    if (e instanceof FerryError) throw e;
    throw new FerryError(codeOfConnectError(e), `cannot read the source binlog position: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  } finally {
    conn.destroy();
  }
}
