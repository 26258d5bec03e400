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

/** Per connection: raw statements written ahead of their turn that have not started yet. */
const queuedAhead = new WeakMap<ConnectionInternals, number>();

class RawQueryCommand {
  #started = false;
  #done = false;
  /** Pieces of the packet already on the wire (written ahead, see `sendRawStatement`); 0: not written. */
  ahead = 0;

  constructor(
    private readonly connection: ConnectionInternals,
    private readonly packet: Buffer,
    private readonly resolve: (r: RawQueryResult) => void,
    private readonly reject: (e: Error) => void,
  ) {}

  execute(packet: PacketInternals | undefined, connection: ConnectionInternals): boolean {
    if (!this.#started) {
      this.#started = true;
      connection._resetSequenceId();
      if (this.ahead > 0) {
        // On the wire already: the server answers it after the command before it.
        connection._bumpSequenceId(this.ahead);
        queuedAhead.set(connection, (queuedAhead.get(connection) ?? 1) - 1);
      } else writeCommandPacket(connection, this.packet);
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
    if (err && this.ahead > 0 && !this.#started) queuedAhead.delete(this.connection);
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
 *
 * `ahead`: write the packet now if only raw statements are ahead of it on the connection
 * (pipelining: the server starts it as soon as it has answered the one before, instead of a round
 * trip through this process later). A statement written ahead runs even if the one before it
 * fails: send ahead only inside a transaction that is rolled back on failure.
 */
export function sendRawStatement(conn: mysql.Connection, packet: Buffer, ahead = false): Promise<RawQueryResult> {
  const core = connectionInternals(conn);
  return new Promise((resolve, reject) => {
    const cmd = new RawQueryCommand(core, packet, resolve, reject);
    if (ahead && canWriteAhead(core)) {
      cmd.ahead = writeCommandPacket(core, packet, false);
      queuedAhead.set(core, (queuedAhead.get(core) ?? 0) + 1);
    }
    core.addCommand(cmd);
  });
}

/**
 * Whether a statement may go on the wire now, before the commands ahead of it have been answered:
 * only behind raw statements, which have all written their packets already (the one executing,
 * and any queued ones written ahead), so the server reads the commands in queue order. Not on a
 * compressed or failed connection.
 */
function canWriteAhead(core: ConnectionInternals): boolean {
  return (
    core._command instanceof RawQueryCommand &&
    core._commands.length === (queuedAhead.get(core) ?? 0) &&
    !core._fatalError &&
    !(core.config as { compress?: boolean }).compress
  );
}

/** How many raw statements of `conn` are on the wire ahead of their turn, not yet started (for tests). */
export function statementsWrittenAhead(conn: mysql.Connection): number {
  return queuedAhead.get(connectionInternals(conn)) ?? 0;
}
