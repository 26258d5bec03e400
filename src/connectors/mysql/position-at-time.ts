/**
 * `scan.startup.mode: timestamp`: the binlog position of a point in time.
 *
 * The binlog has no time index, so the position is found by reading it: first the start time of
 * each file (the header timestamp of its Format_description event, found by binary search over
 * `SHOW BINARY LOGS`), then the events of the one file that must hold the boundary, and the files
 * after it, until the first event group committed at or after the time.
 */
import type { ConnectionOptions } from 'mysql2';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { abortError, FerryError, throwIfAborted } from '../../core/errors.js';
import { openBinlogStream } from './binlog/reader.js';
import type { BinlogEvent } from './binlog/types.js';
import { parseServerVersion, readCurrentPosition, type MySqlConnection } from './connection.js';
import type { BinlogPosition } from './position.js';

export interface PositionAtTimeOptions {
  /** Told when the time is older than the oldest binlog file the server still has. */
  log?: (msg: string, details?: Record<string, unknown>) => void;
}

/**
 * The transaction boundary just before the first event group (transaction, or standalone
 * statement such as DDL) whose commit event has a timestamp at or after `timeMs`, in binlog
 * order; a dump started there streams that group and everything after it, and nothing before.
 *
 * - Resolution: binlog timestamps are whole seconds, so `timeMs` is truncated to its second and
 *   groups committed in that same second are included, even those committed before `timeMs`.
 * - A group's time is the header timestamp of its commit event (XID, COMMIT, or the statement
 *   itself), which the server takes from the start of that statement. Timestamps are therefore
 *   not strictly ordered in the binlog (a slow statement is written after faster ones that
 *   started later; `SET timestamp` and replicated events carry other times): the boundary is
 *   the first group at/after the time in binlog order, and groups after it may be older.
 * - `gtid` (MariaDB) is the GTID state at the boundary: the file's Gtid_list, then each
 *   committed GTID, one per domain, sorted by domain, as `stream.ts` keeps it; it equals
 *   `BINLOG_GTID_POS(file, pos)`. MySQL: '' (file/pos identifies the boundary).
 * - A time after the server's current time gives the current end of the binlog; a time before
 *   the oldest binlog file gives the start of that file (history the server purged is gone:
 *   `options.log` is told when that may have dropped groups after the time).
 *
 * Uses one normal connection (`SHOW BINARY LOGS`, needs BINLOG MONITOR / REPLICATION CLIENT) and
 * several short non-blocking binlog dumps with `serverId` (REPLICATION SLAVE), one at a time.
 *
 * @throws FerryError FERRY_HISTORY_LOST when a listed file is purged while it is read,
 *   FERRY_SOURCE_MISCONFIGURED when binary logging is off or a grant is missing,
 *   FERRY_SOURCE_UNREACHABLE, FERRY_ABORTED.
 */
export async function findPositionAtTime(
  connection: ConnectionOptions,
  serverId: number,
  timeMs: number,
  signal: AbortSignal,
  options: PositionAtTimeOptions = {},
): Promise<BinlogPosition> {
  throwIfAborted(signal);
  if (!Number.isFinite(timeMs)) {
    throw new FerryError('FERRY_CONFIG_INVALID', `startup timestamp is not a number of milliseconds: ${String(timeMs)}`, {
      fix: 'Set source.startup.timestamp-millis to a time in milliseconds since the epoch.',
    });
  }
  const thresholdS = Math.floor(timeMs / 1000);
  const conn = await connect(connection, signal);
  const onAbort = (): void => conn.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const [versionRows] = await conn.query<RowDataPacket[]>({ sql: 'SELECT VERSION(), UNIX_TIMESTAMP()', rowsAsArray: true });
    const row = (versionRows as unknown as unknown[][])[0] ?? [];
    const mariadb = parseServerVersion(String(row[0] ?? '')).flavor === 'mariadb';
    const serverNowS = Math.floor(Number(row[1]));

    if (thresholdS > serverNowS) {
      // Nothing in the binlog can be that late (by the server clock, which stamps the events).
      const end = await readCurrentPosition(conn, signal);
      return mariadb ? end : { ...end, gtid: '' };
    }

    const files = await listBinlogFiles(conn);
    const dump = { connection, serverId, signal };
    // The newest file that started strictly before the threshold second: every event in the
    // files before it was written before it started, so it is stamped earlier than the
    // threshold. (Equal seconds are not enough: the previous file may end in that second.)
    let lo = 0;
    let hi = files.length - 1;
    let chosen = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const startS = await readFileStartTime(dump, files[mid] as string);
      if (startS < thresholdS) {
        chosen = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const startFile = files[Math.max(chosen, 0)] as string;
    if (chosen < 0 && !/\.0*1$/.test(startFile)) {
      options.log?.('startup timestamp is older than the oldest binlog file on the source: transactions between that time and the start of the file are no longer available', {
        timeMs,
        oldestFile: startFile,
      });
    }
    return await scanForBoundary(dump, startFile, thresholdS, mariadb);
  } catch (e) {
    if (signal.aborted) throw abortError(signal);
    throw mapQueryError(e);
  } finally {
    signal.removeEventListener('abort', onAbort);
    conn.destroy();
  }
}

interface DumpTarget {
  connection: ConnectionOptions;
  serverId: number;
  signal: AbortSignal;
}

async function connect(connection: ConnectionOptions, signal: AbortSignal): Promise<MySqlConnection> {
  try {
    const conn = await createConnection({ ...connection, multipleStatements: false });
    conn.on('error', () => undefined);
    if (signal.aborted) {
      conn.destroy();
      throwIfAborted(signal);
    }
    return conn;
  } catch (e) {
    if (e instanceof FerryError) throw e;
    throw new FerryError('FERRY_SOURCE_UNREACHABLE', `cannot connect to the source: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
      fix: 'Check host, port, user and password of the source, and that it is running.',
    });
  }
}

function mapQueryError(e: unknown): FerryError {
  if (e instanceof FerryError) return e;
  const code = String((e as { code?: unknown }).code ?? '');
  const message = e instanceof Error ? e.message : String(e);
  if (code === 'ER_NO_BINARY_LOGGING') {
    return new FerryError('FERRY_SOURCE_MISCONFIGURED', `binary logging is off on the source: ${message}`, {
      cause: e,
      fix: 'Set log_bin and binlog_format=ROW in the server configuration and restart the server.',
    });
  }
  if (code === 'ER_SPECIFIC_ACCESS_DENIED_ERROR' || code === 'ER_ACCESS_DENIED_ERROR') {
    return new FerryError('FERRY_SOURCE_MISCONFIGURED', `the source user may not list the binlog files: ${message}`, {
      cause: e,
      fix: 'GRANT BINLOG MONITOR ON *.* TO <user> (MariaDB), or GRANT REPLICATION CLIENT ON *.* TO <user> (MySQL).',
    });
  }
  return new FerryError('FERRY_SOURCE_UNREACHABLE', `reading the source binlog list failed: ${message}`, { cause: e });
}

async function listBinlogFiles(conn: MySqlConnection): Promise<string[]> {
  const [rows] = await conn.query<RowDataPacket[]>('SHOW BINARY LOGS');
  const files = rows.map((r) => String(r.Log_name ?? ''));
  if (files.length === 0 || files.some((f) => f === '')) {
    throw new FerryError('FERRY_SOURCE_MISCONFIGURED', 'the source lists no binary log files', {
      fix: 'Set log_bin and binlog_format=ROW in the server configuration and restart the server.',
    });
  }
  return files;
}

/**
 * The header timestamp (s) of the first real event of `file`: its Format_description, written
 * when the file was created. The dump's artificial Rotate (timestamp 0) is skipped.
 *
 * @throws FerryError FERRY_HISTORY_LOST when the server no longer has `file`.
 */
export async function readFileStartTime(target: DumpTarget, file: string): Promise<number> {
  const stream = openBinlogStream({ ...target, start: { file, pos: 4 }, heartbeatIntervalMs: 0, nonBlocking: true });
  try {
    for await (const events of stream) {
      for (const ev of events) {
        if (!ev.artificial && ev.timestamp > 0) return ev.timestamp;
      }
    }
  } finally {
    await stream.close();
  }
  throw new FerryError('FERRY_BINLOG_PROTOCOL', `binlog file ${file} has no event with a timestamp`);
}

/** Same transaction-control matcher as stream.ts: the two must agree on where groups end. */
const TXN_CONTROL = /^\s*(BEGIN|COMMIT|ROLLBACK|XA\s+(START|END|PREPARE|COMMIT|ROLLBACK|BEGIN)|SAVEPOINT|ROLLBACK\s+TO|RELEASE\s+SAVEPOINT)\b/i;

/**
 * Reads from the start of `startFile` to the end of the binlog (non-blocking dump) and returns
 * the boundary before the first group whose commit event is stamped at or after `thresholdS`,
 * or the boundary after the last group when there is none.
 *
 * Boundaries move exactly as in stream.ts (keep the two in step): at XID, COMMIT/ROLLBACK, a
 * statement outside a transaction, and a real Rotate between transactions. The GTID state
 * starts from each file's Gtid_list and takes each committed group's GTID.
 */
async function scanForBoundary(target: DumpTarget, startFile: string, thresholdS: number, mariadb: boolean): Promise<BinlogPosition> {
  const domains = new Map<number, string>();
  const gtidText = (): string => (mariadb ? [...domains.entries()].sort((a, b) => a[0] - b[0]).map(([, g]) => g).join(',') : '');
  let boundary: BinlogPosition = { file: startFile, pos: 4, gtid: '' };
  let inTxn = false;
  let pendingGtid: { domainId: number; text: string } | null = null;

  /** Ends the group committed by `ev`; true when that group is the one looked for. */
  const commitReaches = (ev: BinlogEvent): boolean => {
    if (ev.timestamp >= thresholdS) return true;
    if (pendingGtid) domains.set(pendingGtid.domainId, pendingGtid.text);
    pendingGtid = null;
    inTxn = false;
    boundary = { file: ev.file, pos: ev.nextPos, gtid: gtidText() };
    return false;
  };

  const stream = openBinlogStream({ ...target, start: { file: startFile, pos: 4 }, heartbeatIntervalMs: 0, nonBlocking: true });
  try {
    for await (const events of stream) {
      for (const ev of events) {
        switch (ev.type) {
          case 'rotate':
            if (!ev.artificial && !inTxn) boundary = { file: ev.nextFile, pos: ev.position, gtid: boundary.gtid };
            break;
          case 'mariadb-gtid-list':
            // The binlog state when the file was started: one entry per (domain, server), the
            // domain's latest last. No group is open at a file start, so the boundary (the
            // file start, or the rotate into it) gets this state.
            if (ev.artificial) break;
            domains.clear();
            for (const g of ev.gtids) domains.set(g.domainId, `${g.domainId}-${g.serverId}-${g.seqNo}`);
            if (!inTxn && boundary.file === ev.file) boundary = { ...boundary, gtid: gtidText() };
            break;
          case 'mariadb-gtid':
            pendingGtid = { domainId: ev.domainId, text: `${ev.domainId}-${ev.serverId}-${ev.seqNo}` };
            if (ev.startsTransaction) inTxn = true;
            break;
          case 'xid':
            if (commitReaches(ev)) return boundary;
            break;
          case 'query': {
            const m = TXN_CONTROL.exec(ev.sql);
            if (m) {
              const word = (m[1] ?? '').toUpperCase();
              if (word === 'BEGIN' || word.startsWith('XA START') || word.startsWith('XA BEGIN')) inTxn = true;
              else if (word === 'COMMIT' || word.startsWith('XA COMMIT') || word === 'ROLLBACK' || word.startsWith('XA ROLLBACK')) {
                if (commitReaches(ev)) return boundary;
              }
              break;
            }
            if (inTxn) break;
            if (commitReaches(ev)) return boundary;
            break;
          }
          default:
            break;
        }
      }
    }
    // End of the binlog as the non-blocking dump saw it: every group is older than the time.
    // Events after the last commit that belong to no group (MariaDB writes Binlog_checkpoint
    // events after commits) are skipped too, so a quiet server gives SHOW MASTER STATUS's offset.
    if (!inTxn && pendingGtid === null && stream.position.file === boundary.file && stream.position.pos > boundary.pos) {
      boundary = { ...boundary, pos: stream.position.pos };
    }
    return boundary;
  } finally {
    await stream.close();
  }
}
