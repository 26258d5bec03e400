/**
 * Connections to a MySQL/MariaDB source for everything but the binlog dump: checks, schema
 * reads, snapshot chunks, positions. Sessions are set up so values come back in the canonical
 * forms of core/change.ts without any dependence on the process or server time zone.
 */
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import type { MySqlSourceConfig } from '../../core/config-types.js';
import { FerryError, throwIfAborted } from '../../core/errors.js';
import type { BinlogPosition } from './position.js';

export type MySqlConnection = Connection;

function errCode(e: unknown): string {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'string' ? c : '';
}

/** What the user should do about a failed connect, by driver error code. */
function connectFix(code: string, config: MySqlSourceConfig): string {
  const where = `${config.hostname}:${config.port}`;
  switch (code) {
    case 'ECONNREFUSED':
      return `Start the server or correct source.hostname/source.port (nothing listens on ${where}).`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `The host name "${config.hostname}" does not resolve: correct source.hostname.`;
    case 'ETIMEDOUT':
      return `No answer from ${where} within ${config.connectTimeoutMs} ms: check firewalls and the address, or raise connect.timeout.`;
    case 'ER_ACCESS_DENIED_ERROR':
    case 'ER_DBACCESS_DENIED_ERROR':
      return `Check source.username and source.password, and that the account may connect from this host (CREATE USER '${config.username}'@'<this host>' ...).`;
    case 'ER_HOST_NOT_PRIVILEGED':
    case 'ER_HOST_IS_BLOCKED':
      return `The server refuses this host: create the account for this host, or run FLUSH HOSTS if it is blocked.`;
    default:
      return `Check that the server at ${where} is running and accepts the configured user.`;
  }
}

/**
 * Opens a connection for reads: session time zone UTC (TIMESTAMP values come back in UTC),
 * big integers and decimals as exact strings, temporal values as the server prints them,
 * JSON as text, utf8mb4 (the server converts latin1 and other charsets for us).
 *
 * @throws FerryError FERRY_SOURCE_UNREACHABLE (never carrying the password) when the server
 *   cannot be reached or refuses the login.
 */
export async function openSourceConnection(config: MySqlSourceConfig, signal?: AbortSignal): Promise<MySqlConnection> {
  throwIfAborted(signal);
  let conn: Connection;
  try {
    conn = await createConnection({
      host: config.hostname,
      port: config.port,
      user: config.username,
      password: config.password.reveal(),
      charset: 'utf8mb4',
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      jsonStrings: true,
      decimalNumbers: false,
      timezone: 'Z',
      connectTimeout: config.connectTimeoutMs,
      multipleStatements: false,
    });
  } catch (e) {
    const code = errCode(e);
    const detail = e instanceof Error ? e.message : String(e);
    throw new FerryError('FERRY_SOURCE_UNREACHABLE', `cannot connect to the source ${config.username}@${config.hostname}:${config.port}: ${detail}`, {
      fix: connectFix(code, config),
      cause: e,
      details: { code },
    });
  }
  try {
    // UTC so TIMESTAMP values print in UTC. An empty sql_mode because several flags change how
    // values print (PAD_CHAR_TO_FULL_LENGTH pads CHAR, unlike the binlog) or how the driver's
    // client-side parameter escaping is read (NO_BACKSLASH_ESCAPES, ANSI_QUOTES, ANSI); this
    // session only reads.
    await conn.query("SET SESSION time_zone = '+00:00', SESSION sql_mode = ''");
  } catch (e) {
    conn.destroy();
    throw new FerryError('FERRY_SOURCE_UNREACHABLE', `cannot set up the source session: ${e instanceof Error ? e.message : String(e)}`, {
      fix: 'Check that the server accepts SET SESSION time_zone = \'+00:00\'.',
      cause: e,
    });
  }
  if (signal?.aborted) {
    conn.destroy();
    throwIfAborted(signal);
  }
  return conn;
}

export interface ServerFlavor {
  flavor: 'mariadb' | 'mysql';
  /** `VERSION()` as the server reports it. */
  version: string;
  major: number;
  minor: number;
  patch: number;
}

/** Parses `VERSION()` text: `10.11.19-MariaDB-0+deb12u1-log`, `8.0.36`, `5.5.5-10.6.1-MariaDB`. */
export function parseServerVersion(version: string): ServerFlavor {
  const mariadb = /mariadb/i.test(version);
  // Old MariaDB proxies prefix `5.5.5-`.
  const text = mariadb ? version.replace(/^5\.5\.5-/, '') : version;
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(text);
  return {
    flavor: mariadb ? 'mariadb' : 'mysql',
    version,
    major: m ? Number(m[1]) : 0,
    minor: m ? Number(m[2]) : 0,
    patch: m ? Number(m[3]) : 0,
  };
}

/** Whether the server is at least `major.minor.patch`. */
export function versionAtLeast(f: ServerFlavor, major: number, minor = 0, patch = 0): boolean {
  if (f.major !== major) return f.major > major;
  if (f.minor !== minor) return f.minor > minor;
  return f.patch >= patch;
}

/** Which server this is (MariaDB or MySQL) and its version. */
export async function serverFlavor(conn: MySqlConnection): Promise<ServerFlavor> {
  const [rows] = await conn.query<RowDataPacket[]>({ sql: 'SELECT VERSION()', rowsAsArray: true });
  const r = (rows as unknown as unknown[][])[0];
  return parseServerVersion(String(r?.[0] ?? ''));
}

async function showBinlogStatus(conn: MySqlConnection, flavor: ServerFlavor): Promise<Record<string, unknown> | null> {
  // MySQL 8.2 renamed SHOW MASTER STATUS (removed in 8.4); MariaDB keeps it (SHOW BINLOG STATUS is 10.5.2+).
  const sql = flavor.flavor === 'mysql' && versionAtLeast(flavor, 8, 2) ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS';
  const [rows] = await conn.query<RowDataPacket[]>(sql);
  const r = rows[0];
  return r ? (r as Record<string, unknown>) : null;
}

/** MariaDB: the GTID state at a binlog offset (null when the server cannot tell). */
async function gtidAtPosition(conn: MySqlConnection, file: string, pos: number): Promise<string | null> {
  try {
    const [rows] = await conn.query<RowDataPacket[]>({ sql: 'SELECT BINLOG_GTID_POS(?, ?)', values: [file, pos], rowsAsArray: true });
    const v = (rows as unknown as unknown[][])[0]?.[0];
    return v === null || v === undefined ? null : String(v);
  } catch {
    return null;
  }
}

/**
 * The current end of the binlog, at a transaction boundary (the server writes whole
 * transactions at commit), with the GTID state at that point.
 *
 * MariaDB reports file/offset and `@@gtid_binlog_pos` in two statements, and a commit between
 * them would pair a GTID state with the wrong offset. So the GTID state is read before and after
 * the offset: unchanged, the pair is consistent. When it moved, the server is asked for the GTID
 * state at exactly that offset (`BINLOG_GTID_POS`; BINLOG MONITOR or REPLICATION CLIENT is
 * enough), and only where that answers NULL is the whole read repeated. A server committing
 * without pause (every few hundred microseconds) made the pair alone fail 20 times in a row in
 * the watermark tests; `BINLOG_GTID_POS` alone reads the binlog file from its start up to the
 * offset (MariaDB before 11.4 has no GTID index), about 70 ms for a 110 MB file here, on every
 * call (each snapshot chunk's high watermark), so it is the second way, not the first.
 *
 * @throws FerryError FERRY_SOURCE_MISCONFIGURED when binary logging is off or the user may not
 *   read the binlog status.
 */
export async function readCurrentPosition(conn: MySqlConnection, signal?: AbortSignal): Promise<BinlogPosition> {
  const flavor = await serverFlavor(conn);
  for (let attempt = 0; attempt < 20; attempt++) {
    throwIfAborted(signal);
    const before = flavor.flavor === 'mariadb' ? await readGtidBinlogPos(conn) : '';
    let status: Record<string, unknown> | null;
    try {
      status = await showBinlogStatus(conn, flavor);
    } catch (e) {
      const code = errCode(e);
      if (code === 'ER_SPECIFIC_ACCESS_DENIED_ERROR' || code === 'ER_ACCESS_DENIED_ERROR') {
        throw new FerryError('FERRY_SOURCE_MISCONFIGURED', `the source user may not read the binlog status: ${(e as Error).message}`, {
          fix: flavor.flavor === 'mariadb' ? 'GRANT BINLOG MONITOR ON *.* TO <user>;' : 'GRANT REPLICATION CLIENT ON *.* TO <user>;',
          cause: e,
        });
      }
      throw e;
    }
    if (!status) {
      throw new FerryError('FERRY_SOURCE_MISCONFIGURED', 'binary logging is off on the source (SHOW MASTER STATUS is empty)', {
        fix: 'Set log_bin (e.g. log-bin=mysql-bin) and binlog_format=ROW in the server configuration (my.cnf) and restart the server.',
      });
    }
    const file = String(status.File ?? '');
    const pos = Number(status.Position ?? NaN);
    if (!file || !Number.isSafeInteger(pos)) {
      throw new FerryError('FERRY_INTERNAL', `unexpected binlog status row: ${JSON.stringify(Object.keys(status))}`);
    }
    if (flavor.flavor === 'mysql') {
      const gtid = String(status.Executed_Gtid_Set ?? '').replace(/\s+/g, '');
      return { file, pos, gtid };
    }
    const after = await readGtidBinlogPos(conn);
    if (after === before) return { file, pos, gtid: after };
    const exact = await gtidAtPosition(conn, file, pos);
    if (exact !== null) return { file, pos, gtid: exact };
  }
  throw new FerryError('FERRY_SOURCE_MISCONFIGURED', 'the binlog position kept moving while it was read (20 attempts)', {
    fix: 'Retry; if the server commits continuously at a very high rate, start from a GTID position instead.',
  });
}

/**
 * The current end of the binlog as file/offset only (the GTID part is empty): for comparing a
 * checkpoint with the end of the log, which goes by file/offset. One SHOW MASTER STATUS, where
 * `readCurrentPosition` has MariaDB read the binlog file up to its end (BINLOG_GTID_POS): that
 * took 0.2 s at 200 MB and grows with the file.
 */
export async function readLogEnd(conn: MySqlConnection): Promise<BinlogPosition> {
  const status = await showBinlogStatus(conn, await serverFlavor(conn));
  const file = String(status?.File ?? '');
  const pos = Number(status?.Position ?? NaN);
  if (!file || !Number.isSafeInteger(pos)) {
    throw new FerryError('FERRY_SOURCE_MISCONFIGURED', 'binary logging is off on the source (SHOW MASTER STATUS is empty)', {
      fix: 'Set log_bin (e.g. log-bin=mysql-bin) and binlog_format=ROW in the server configuration (my.cnf) and restart the server.',
    });
  }
  return { file, pos, gtid: '' };
}

async function readGtidBinlogPos(conn: MySqlConnection): Promise<string> {
  const [rows] = await conn.query<RowDataPacket[]>({ sql: 'SELECT @@GLOBAL.gtid_binlog_pos', rowsAsArray: true });
  const v = (rows as unknown as unknown[][])[0]?.[0];
  return v === null || v === undefined ? '' : String(v);
}

/** Lowest id `allocateServerId` hands out: far above the ids people give servers by hand. */
export const SERVER_ID_MIN = 0x40000000;
const SERVER_ID_MAX = 0xfffffffe;

/**
 * A random replication client id in [2^30, 2^32-2], different from the server's own id and from
 * every replica registered with it (`SHOW SLAVE HOSTS`/`SHOW REPLICAS`; skipped when the user may
 * not list them). A dump with a duplicate id makes the server drop the other connection.
 */
export async function allocateServerId(conn: MySqlConnection, random: () => number = Math.random): Promise<number> {
  const taken = new Set<number>();
  const [own] = await conn.query<RowDataPacket[]>({ sql: 'SELECT @@server_id', rowsAsArray: true });
  taken.add(Number((own as unknown as unknown[][])[0]?.[0] ?? 0));
  for (const sql of ['SHOW REPLICAS', 'SHOW SLAVE HOSTS']) {
    try {
      const [rows] = await conn.query<RowDataPacket[]>(sql);
      for (const r of rows) taken.add(Number(r.Server_id ?? r.Server_Id ?? NaN));
      break;
    } catch {
      // Unknown statement on this server, or no privilege: try the other name, else go without.
    }
  }
  for (;;) {
    const id = SERVER_ID_MIN + Math.floor(random() * (SERVER_ID_MAX - SERVER_ID_MIN + 1));
    if (!taken.has(id)) return id;
  }
}
