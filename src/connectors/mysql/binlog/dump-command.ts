import { FerryError } from '../../../core/errors.js';

/**
 * COM_BINLOG_DUMP / COM_BINLOG_DUMP_GTID as a command object on a mysql2 connection's command
 * queue. mysql2 gives us the handshake, auth, TLS and the reassembly of packets over 16 MB; its
 * own binlog support is not used. This relies on mysql2 internals (pinned ~3.24): the queue
 * calls `execute(packet, connection)` (first with no packet) until it returns true, and routes
 * network errors to `onResult(err)`. test/integration/binlog-reader.test.ts is the smoke test.
 */

/** The part of mysql2's (internal) Connection the dump command uses. */
export interface Mysql2ConnectionInternals {
  _resetSequenceId(): void;
  _bumpSequenceId(n: number): void;
  write(buffer: Buffer): void;
  addCommand(cmd: unknown): unknown;
  pause(): void;
  resume(): void;
  destroy(): void;
  stream: { destroy(): void; pause(): void; resume(): void };
}

/** The part of mysql2's (internal) Packet the dump command reads. */
interface Mysql2Packet {
  buffer: Buffer;
  start: number;
  end: number;
}

const COM_BINLOG_DUMP = 0x12;
const COM_BINLOG_DUMP_GTID = 0x1e;
export const BINLOG_DUMP_NON_BLOCK = 0x01;
/** MariaDB: send Annotate_rows events. */
export const BINLOG_SEND_ANNOTATE_ROWS_EVENT = 0x02;
/** MySQL COM_BINLOG_DUMP_GTID: the GTID set in the packet is used. */
export const BINLOG_THROUGH_GTID = 0x04;

function withHeader(payload: Buffer): Buffer {
  if (payload.length >= 0xffffff) throw new FerryError('FERRY_INTERNAL', 'dump command packet too large');
  const out = Buffer.allocUnsafe(payload.length + 4);
  out.writeUIntLE(payload.length, 0, 3);
  out[3] = 0; // sequence id 0: a new command
  payload.copy(out, 4);
  return out;
}

/** COM_BINLOG_DUMP payload (no packet header): pos u32, flags u16, server id u32, file name. */
export function buildBinlogDump(o: { file: string; pos: number; serverId: number; flags: number }): Buffer {
  if (o.pos > 0xffffffff) {
    throw new FerryError('FERRY_BINLOG_UNSUPPORTED', `binlog position ${o.pos} does not fit COM_BINLOG_DUMP (4 GiB limit)`, {
      fix: 'Start by GTID instead of file/position.',
    });
  }
  const name = Buffer.from(o.file, 'utf8');
  const b = Buffer.alloc(11 + name.length);
  b[0] = COM_BINLOG_DUMP;
  b.writeUInt32LE(o.pos, 1);
  b.writeUInt16LE(o.flags, 5);
  b.writeUInt32LE(o.serverId, 7);
  name.copy(b, 11);
  return b;
}

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** MySQL GTID set text (`uuid:1-5:7,uuid2:3`) → the binary form used by COM_BINLOG_DUMP_GTID. */
export function encodeGtidSet(text: string): Buffer {
  const sids = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const parts: Buffer[] = [];
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(sids.length));
  parts.push(head);
  for (const sid of sids) {
    const [uuid, ...ranges] = sid.split(':').map((s) => s.trim());
    if (uuid === undefined || !UUID_RE.test(uuid) || ranges.length === 0) {
      throw new FerryError('FERRY_POSITION_INVALID', `not a MySQL GTID set element: "${sid}"`);
    }
    const sidBuf = Buffer.alloc(16 + 8 + ranges.length * 16);
    Buffer.from(uuid.replace(/-/g, ''), 'hex').copy(sidBuf, 0);
    sidBuf.writeBigUInt64LE(BigInt(ranges.length), 16);
    ranges.forEach((r, k) => {
      const m = /^(\d+)(?:-(\d+))?$/.exec(r);
      if (!m || m[1] === undefined) {
        throw new FerryError('FERRY_POSITION_INVALID', `not a GTID interval (tagged GTIDs are not supported): "${r}" in "${sid}"`);
      }
      const from = BigInt(m[1]);
      const to = BigInt(m[2] ?? m[1]);
      if (from < 1n || to < from) throw new FerryError('FERRY_POSITION_INVALID', `bad GTID interval "${r}"`);
      sidBuf.writeBigInt64LE(from, 24 + k * 16);
      sidBuf.writeBigInt64LE(to + 1n, 32 + k * 16); // stored exclusive
    });
    parts.push(sidBuf);
  }
  return Buffer.concat(parts);
}

/**
 * COM_BINLOG_DUMP_GTID payload: flags u16, server id u32, name length u32, name, pos u64,
 * then (with BINLOG_THROUGH_GTID) data length u32 and the encoded GTID set.
 */
export function buildBinlogDumpGtid(o: { gtidSet: string; serverId: number; flags: number; file?: string; pos?: number }): Buffer {
  const name = Buffer.from(o.file ?? '', 'utf8');
  const data = encodeGtidSet(o.gtidSet);
  const flags = o.flags | BINLOG_THROUGH_GTID;
  const b = Buffer.alloc(1 + 2 + 4 + 4 + name.length + 8 + 4 + data.length);
  let p = 0;
  b[p++] = COM_BINLOG_DUMP_GTID;
  b.writeUInt16LE(flags, p);
  p += 2;
  b.writeUInt32LE(o.serverId, p);
  p += 4;
  b.writeUInt32LE(name.length, p);
  p += 4;
  name.copy(b, p);
  p += name.length;
  b.writeBigUInt64LE(BigInt(o.pos ?? 4), p);
  p += 8;
  b.writeUInt32LE(data.length, p);
  p += 4;
  data.copy(b, p);
  return b;
}

export interface ServerError {
  errno: number;
  sqlState: string;
  message: string;
}

export interface DumpHandlers {
  /** One binlog event in `buf[start, end)` (the OK byte stripped). Runs synchronously in the socket's data handler. */
  onEvent(buf: Buffer, start: number, end: number): void;
  /** The server ended the stream (non-blocking dump at the end of the binlog). */
  onEof(): void;
  /** The server sent an ERR packet. */
  onServerError(err: ServerError): void;
  /** The connection failed (mysql2 error object). */
  onConnectionError(err: Error): void;
}

/** The command object. Push with `connection.addCommand(cmd)`. */
export class BinlogDumpCommand {
  private started = false;
  private finished = false;

  constructor(
    private readonly payload: Buffer,
    private readonly handlers: DumpHandlers,
  ) {}

  /** Called by mysql2's queue; returns true when the command is complete. */
  execute(packet: Mysql2Packet | undefined, connection: Mysql2ConnectionInternals): boolean {
    if (!this.started) {
      this.started = true;
      connection._resetSequenceId();
      connection._bumpSequenceId(1);
      connection.write(withHeader(this.payload));
      if (!packet) return false;
    }
    if (!packet || this.finished) return this.finished;
    const buf = packet.buffer;
    const off = packet.start + 4;
    const end = packet.end;
    const marker = buf[off];
    if (marker === 0x00) {
      this.handlers.onEvent(buf, off + 1, end);
      return false;
    }
    this.finished = true;
    if (marker === 0xff) {
      const errno = buf.readUInt16LE(off + 1);
      let p = off + 3;
      let sqlState = '';
      if (buf[p] === 0x23) {
        sqlState = buf.toString('latin1', p + 1, p + 6);
        p += 6;
      }
      this.handlers.onServerError({ errno, sqlState, message: buf.toString('utf8', p, end) });
      return true;
    }
    if (marker === 0xfe && end - off < 9) {
      this.handlers.onEof();
      return true;
    }
    this.handlers.onServerError({ errno: 0, sqlState: '', message: `unexpected packet 0x${(marker ?? 0).toString(16)} in the binlog stream` });
    return true;
  }

  /** mysql2 calls this with network errors while the command is active. */
  onResult(err: Error | null): void {
    if (err && !this.finished) {
      this.finished = true;
      this.handlers.onConnectionError(err);
    }
  }
}
