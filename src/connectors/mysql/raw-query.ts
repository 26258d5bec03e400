/**
 * Sending a statement that is already bytes (`MySqlStatementBuffer.packet()`) over a mysql2
 * connection, without the driver turning a JS string into bytes again.
 *
 * The statement goes on mysql2's command queue as a small command object, the way
 * binlog/dump-command.ts sends COM_BINLOG_DUMP: mysql2 keeps doing the handshake, TLS, packet
 * reassembly, error objects and the failing of queued commands when the connection breaks. This
 * relies on mysql2 internals (pinned ~3.24): the queue calls `execute(packet, connection)` first
 * without a packet, then with each response packet, until it returns true; a broken connection
 * calls `onResult(err)` with `err.fatal = true`. Only statements without a result set
 * (INSERT, DELETE, SET, ...) may be sent this way. test/integration/sink-mysql.test.ts covers it.
 */
import type mysql from 'mysql2/promise';
import { connectionInternals, writeCommandPacket, type ConnectionInternals, type PacketInternals } from './mysql2-command.js';

/** What the server said about a statement that succeeded. */
export interface RawQueryResult {
  affectedRows: number;
  warnings: number;
}

/** Reads a length-encoded integer at `p`; returns [value, next offset]. */
function lenenc(b: Buffer, p: number): [number, number] {
  const first = b[p] as number;
  if (first < 0xfb) return [first, p + 1];
  if (first === 0xfc) return [b.readUInt16LE(p + 1), p + 3];
  if (first === 0xfd) return [b.readUIntLE(p + 1, 3), p + 4];
  return [Number(b.readBigUInt64LE(p + 1)), p + 9];
}

class RawQueryCommand {
  #started = false;
  #done = false;

  constructor(
    private readonly packet: Buffer,
    private readonly resolve: (r: RawQueryResult) => void,
    private readonly reject: (e: Error) => void,
  ) {}

  execute(packet: PacketInternals | undefined, connection: ConnectionInternals): boolean {
    if (!this.#started) {
      this.#started = true;
      connection._resetSequenceId();
      writeCommandPacket(connection, this.packet);
      if (!packet) return false;
    }
    if (!packet || this.#done) return this.#done;
    this.#done = true;
    if (packet.isError()) {
      this.reject(packet.asError(connection.clientEncoding));
      return true;
    }
    const b = packet.buffer;
    const off = packet.start + 4;
    if (b[off] !== 0x00) {
      // A result set or a LOCAL INFILE request: not a statement this command may carry.
      this.reject(Object.assign(new Error(`unexpected response 0x${(b[off] ?? 0).toString(16)} to a raw statement`), { code: 'FERRY_RAW_QUERY_PROTOCOL' }));
      return true;
    }
    const [affectedRows, p1] = lenenc(b, off + 1);
    const [, p2] = lenenc(b, p1);
    const warnings = p2 + 4 <= packet.end ? b.readUInt16LE(p2 + 2) : 0;
    this.resolve({ affectedRows, warnings });
    return true;
  }

  /** mysql2 calls this with connection errors while the command is queued or active. */
  onResult(err: Error | null): void {
    if (err && !this.#done) {
      this.#done = true;
      this.reject(err);
    }
  }
}

/**
 * Sends one statement (a `MySqlStatementBuffer.packet()`) and resolves when the server answered
 * OK. Rejects with mysql2's error object on an ERR packet (`code`, `errno`, `sqlMessage`), or on
 * a broken connection (`fatal: true`). The buffer must stay untouched until the promise settles.
 */
export function sendRawStatement(conn: mysql.Connection, packet: Buffer): Promise<RawQueryResult> {
  const core = connectionInternals(conn);
  return new Promise((resolve, reject) => {
    core.addCommand(new RawQueryCommand(packet, resolve, reject));
  });
}
