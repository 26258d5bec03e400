/**
 * MariaDB's array binding (COM_STMT_BULK_EXECUTE, MariaDB 10.2.7+): one prepared single-row
 * statement executed for many rows of parameters in one packet. The server parses the statement
 * once and binds each row's values in their binary form, instead of lexing and parsing every
 * value of a multi-row statement's text; values travel as bytes (no escaping, BLOBs not in hex).
 * Measured on the benchmark's table shape (MariaDB 10.11, 2 cores): an upsert of an existing row
 * cost the server about 11 µs through bulk execution against 19–20 µs as part of a multi-row
 * INSERT ... ON DUPLICATE KEY UPDATE text statement.
 *
 * The server accepts the command only from a client that announced the MariaDB capability
 * MARIADB_CLIENT_STMT_BULK_OPERATIONS in its handshake. mysql2 (pinned ~3.24) negotiates MariaDB's
 * extended capabilities with servers that offer them (for extended column metadata) but does not
 * announce this one: `announceBulkCapability` adds it to the handshake mysql2 writes whenever
 * mysql2 negotiates extended capabilities at all. A server that still refuses bulk execution (an
 * older MariaDB, MySQL, a proxy) is found by a probe per connection (`probeBulk`), and the sink
 * then writes text statements as before.
 *
 * Packet layout (MariaDB protocol documentation, COM_STMT_BULK_EXECUTE): 0xFA, statement id
 * (int<4>), bulk flags (int<2>, SEND_TYPES_TO_SERVER = 128), one (type, flag) byte pair per
 * parameter, then per row and parameter an indicator byte (0 = a value follows, 1 = NULL) and the
 * value in the binary protocol, by the column's kind (quote.ts `MySqlStatementBuffer.bulk/param`):
 * LONGLONG for integers and YEAR, DOUBLE for FLOAT/DOUBLE, BLOB bytes for binary kinds (read as
 * binary), VAR_STRING for the rest (read in the session's character set, utf8mb4). The server
 * answers one OK packet for the whole packet, or an error.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type mysql from 'mysql2/promise';
import { sendRawStatement } from './raw-query.js';
import { connectionInternals } from './mysql2-command.js';
import { BULK_TEXT, MySqlStatementBuffer } from './quote.js';

/** MariaDB extended client capability (bit 2 of the upper 32 capability bits). */
const MARIADB_CLIENT_STMT_BULK_OPERATIONS = 4;

let announced: boolean | null = null;

/**
 * Makes mysql2 announce MARIADB_CLIENT_STMT_BULK_OPERATIONS in every handshake in which it
 * negotiates MariaDB's extended capabilities. Returns false when mysql2's internals are not as
 * expected (then nothing is changed and bulk execution is simply refused by the server).
 */
export function announceBulkCapability(): boolean {
  if (announced !== null) return announced;
  announced = false;
  try {
    const require = createRequire(import.meta.url);
    // mysql2's exports map hides its internals; an absolute path reaches the same module instance.
    const root = dirname(require.resolve('mysql2'));
    const mod = require(join(root, 'lib/packets/handshake_response.js')) as { prototype?: Record<string, unknown> } | undefined;
    const proto = mod?.prototype;
    const original = proto?.['serializeResponse'];
    if (!proto || typeof original !== 'function') return false;
    proto['serializeResponse'] = function (this: { mariadbExtendedClientFlags?: number }, ...args: unknown[]): unknown {
      if (typeof this.mariadbExtendedClientFlags === 'number' && this.mariadbExtendedClientFlags !== 0) {
        this.mariadbExtendedClientFlags |= MARIADB_CLIENT_STMT_BULK_OPERATIONS;
      }
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    };
    announced = true;
  } catch {
    announced = false;
  }
  return announced;
}

/**
 * Whether the server behind `conn` executes bulk packets: runs `sql`, a statement with one
 * parameter that changes nothing (bulk execution takes INSERT, REPLACE, UPDATE and DELETE only),
 * as a bulk packet of one row.
 */
export async function probeBulk(conn: mysql.Connection, sql: string): Promise<boolean> {
  try {
    const id = await prepareId(conn, sql);
    const sb = new MySqlStatementBuffer(64).bulk(id, Uint8Array.of(BULK_TEXT));
    sb.param('1', BULK_TEXT);
    await sendRawStatement(conn, sb.packet());
    return true;
  } catch {
    return false;
  }
}

/** The server's id of `sql` prepared on `conn` (mysql2 keeps one prepared statement per text and connection). */
export async function prepareId(conn: mysql.Connection, sql: string): Promise<number> {
  const info = (await conn.prepare(sql)) as unknown as { statement?: { id?: unknown }; id?: unknown };
  const id = info.statement?.id ?? info.id;
  if (typeof id !== 'number') throw new Error('mysql2 returned a prepared statement without an id');
  return id;
}

/** Whether mysql2 believes it talks to MariaDB (its handshake check). */
export function isMariaDbConnection(conn: mysql.Connection): boolean {
  return (connectionInternals(conn) as unknown as { _isMariaDB?: unknown })._isMariaDB === true;
}
