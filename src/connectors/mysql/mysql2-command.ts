/**
 * What Ferry's own commands on mysql2's command queue share (raw-query.ts, text-result-query.ts;
 * binlog/dump-command.ts follows the same protocol). mysql2 keeps the handshake, TLS, packet
 * reassembly, error objects and the failing of queued commands when the connection breaks; the
 * queue calls `execute(packet, connection)` first without a packet, then with each response
 * packet, until it returns true, and `onResult(err)` on a broken connection. These are mysql2
 * internals (pinned ~3.24).
 */
import type mysql from 'mysql2/promise';

/** The part of mysql2's (internal) Connection the commands use. */
export interface ConnectionInternals {
  /** The command being executed (null when the queue is idle), and the ones waiting behind it. */
  _command: unknown;
  _commands: { length: number };
  _fatalError: unknown;
  _resetSequenceId(): void;
  _bumpSequenceId(n: number): void;
  write(buffer: Buffer): void;
  addCommand(cmd: unknown): unknown;
  format(sql: string, values: unknown[]): string;
  clientEncoding?: string;
  serverCapabilityFlags?: number;
  config: { clientFlags: number };
}

/** The part of mysql2's (internal) Packet the commands read. */
export interface PacketInternals {
  buffer: Buffer;
  start: number;
  end: number;
  isError(): boolean;
  isEOF(): boolean;
  asError(encoding?: string): Error;
}

/** Largest payload of one protocol packet; a longer one goes as pieces of this size. */
const MAX_PAYLOAD = 0xffffff;

/** The mysql2 connection under a promise-API connection. */
export function connectionInternals(conn: mysql.Connection): ConnectionInternals {
  return (conn as unknown as { connection: ConnectionInternals }).connection;
}

/**
 * Writes `buf` as the command's first packet: its payload is [4, length), the first 4 bytes are
 * room for the header. A payload of 16 MiB or more goes as pieces with consecutive sequence ids.
 * Returns the number of pieces; `bump`: whether to advance the connection's sequence id by them
 * (false for a command written ahead of its turn, which advances it when it starts).
 */
export function writeCommandPacket(connection: ConnectionInternals, buf: Buffer, bump = true): number {
  const payload = buf.length - 4;
  if (payload < MAX_PAYLOAD) {
    buf.writeUIntLE(payload, 0, 3);
    buf[3] = 0;
    if (bump) connection._bumpSequenceId(1);
    connection.write(buf);
    return 1;
  }
  let seq = 0;
  for (let at = 4; ; at += MAX_PAYLOAD) {
    const n = Math.min(MAX_PAYLOAD, buf.length - at);
    const head = Buffer.allocUnsafe(4);
    head.writeUIntLE(n, 0, 3);
    head[3] = seq++ & 0xff;
    connection.write(head);
    connection.write(buf.subarray(at, at + n));
    if (bump) connection._bumpSequenceId(1);
    if (n < MAX_PAYLOAD) return seq;
  }
}
