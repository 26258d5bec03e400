/**
 * A SELECT whose result set is kept as text (core/text-rows.ts) instead of a JS value per field.
 *
 * mysql2 turns every field of every text-protocol row into a JS string (or number, Buffer) as
 * the packet arrives; for snapshot chunks that go on as text (PostgreSQL COPY) those strings
 * were the largest cost of the process, with the garbage collection they caused. This command
 * only notes where each field of each row starts and ends in the buffers the packets arrived in.
 *
 * Like raw-query.ts, it goes on mysql2's command queue as a small command object (mysql2 keeps
 * the handshake, TLS, packet reassembly, error objects, and failing queued commands when the
 * connection breaks); it relies on mysql2 internals (pinned ~3.24): the queue calls
 * `execute(packet, connection)` first without a packet, then with each response packet, until
 * it returns true; a broken connection calls `onResult(err)`. The connection is set up without
 * CLIENT_DEPRECATE_EOF (mysql2 never asks for it), so a result set is: column count, column
 * definitions, EOF, rows, EOF. test/integration/snapshot-text.test.ts covers it.
 */
import type mysql from 'mysql2/promise';
import { TextRowsBuilder, type TextRows } from '../../core/text-rows.js';
import { connectionInternals, writeCommandPacket, type ConnectionInternals, type PacketInternals } from './mysql2-command.js';

const COM_QUERY = 0x03;
const CLIENT_QUERY_ATTRIBUTES = 1 << 27;

function protocolError(message: string): Error {
  return Object.assign(new Error(message), { code: 'FERRY_TEXT_QUERY_PROTOCOL' });
}

type State = 'header' | 'fields' | 'fieldsEof' | 'rows';

class TextResultCommand {
  #started = false;
  #done = false;
  #state: State = 'header';
  #fieldsLeft = 0;
  /** A protocol problem seen mid-result: the rest of the result is read, then this is the answer. */
  #failure: Error | null = null;

  constructor(
    private readonly sql: string,
    private readonly builder: TextRowsBuilder,
    private readonly resolve: (r: TextRows) => void,
    private readonly reject: (e: Error) => void,
  ) {}

  execute(packet: PacketInternals | undefined, connection: ConnectionInternals): boolean {
    if (!this.#started) {
      this.#started = true;
      connection._resetSequenceId();
      this.#write(connection);
      if (!packet) return false;
    }
    if (!packet || this.#done) return this.#done;
    if (packet.isError()) return this.#finish(packet.asError(connection.clientEncoding));
    const b = packet.buffer;
    const at = packet.start + 4;
    switch (this.#state) {
      case 'header': {
        const first = b[at] as number;
        if (first === 0x00 || first === 0xfb) return this.#finish(protocolError(`unexpected response 0x${first.toString(16)} to a SELECT: no result set`));
        const columns = first < 0xfb ? first : first === 0xfc ? b.readUInt16LE(at + 1) : b.readUIntLE(at + 1, 3);
        if (columns !== this.builder.columns) this.#failure = protocolError(`the result set has ${columns} columns, expected ${this.builder.columns}`);
        this.#fieldsLeft = columns;
        this.#state = columns > 0 ? 'fields' : 'fieldsEof';
        return false;
      }
      case 'fields':
        if (--this.#fieldsLeft === 0) this.#state = 'fieldsEof';
        return false;
      case 'fieldsEof':
        if (!packet.isEOF()) return this.#finish(protocolError('expected EOF after the column definitions'));
        this.#state = 'rows';
        return false;
      case 'rows':
        if (packet.isEOF()) {
          if (this.#failure) return this.#finish(this.#failure);
          this.#done = true;
          this.resolve(this.builder.finish());
          return true;
        }
        if (this.#failure === null) this.#row(b, at, packet.end);
        return false;
    }
  }

  /**
   * Notes where each field of the row is: a length-encoded string, or 0xfb for NULL. Nothing is
   * copied: the values stay in the buffer the packet arrived in (mysql2 reuses its packet object,
   * never the buffer: a network read is a new buffer, a packet spanning reads is copied into one).
   */
  #row(b: Buffer, start: number, end: number): void {
    const builder = this.builder;
    builder.beginRow(b);
    let p = start;
    const columns = builder.columns;
    for (let c = 0; c < columns; c++) {
      if (p >= end) {
        builder.dropRow();
        this.#failure = protocolError('a result row is shorter than its columns');
        return;
      }
      const first = b[p] as number;
      let len: number;
      if (first < 0xfb) {
        len = first;
        p += 1;
      } else if (first === 0xfb) {
        builder.nullValue();
        p += 1;
        continue;
      } else if (first === 0xfc) {
        len = (b[p + 1] as number) | ((b[p + 2] as number) << 8);
        p += 3;
      } else if (first === 0xfd) {
        len = (b[p + 1] as number) | ((b[p + 2] as number) << 8) | ((b[p + 3] as number) << 16);
        p += 4;
      } else {
        len = b.readUInt32LE(p + 1) + b.readUInt32LE(p + 5) * 0x1_0000_0000;
        p += 9;
      }
      builder.value(p, p + len);
      p += len;
    }
    if (p !== end) {
      builder.dropRow();
      this.#failure = protocolError('a result row is longer than its columns');
      return;
    }
    builder.endRow();
  }

  #finish(e: Error): boolean {
    this.#done = true;
    this.reject(e);
    return true;
  }

  #write(connection: ConnectionInternals): void {
    const attrs = ((connection.config.clientFlags & (connection.serverCapabilityFlags ?? 0)) & CLIENT_QUERY_ATTRIBUTES) !== 0;
    const head = attrs ? 7 : 5;
    const len = head + Buffer.byteLength(this.sql, 'utf8');
    const buf = Buffer.allocUnsafe(len);
    buf[4] = COM_QUERY;
    if (attrs) {
      buf[5] = 0; // parameter_count
      buf[6] = 1; // parameter_set_count
    }
    buf.write(this.sql, head, 'utf8');
    writeCommandPacket(connection, buf);
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
 * Runs `sql` (with `?` placeholders filled by mysql2's own escaping, as `query` does) and keeps
 * the result set as text: `columns` fields per row. Rejects with mysql2's error object on an ERR
 * packet (`code`, `errno`, `sqlMessage`) or a broken connection (`fatal: true`), and with code
 * FERRY_TEXT_QUERY_PROTOCOL when the result does not have `columns` columns.
 */
export function queryText(conn: mysql.Connection, sql: string, values: unknown[], columns: number, expectedRows: number): Promise<TextRows> {
  const core = connectionInternals(conn);
  const text = values.length > 0 ? core.format(sql, values) : sql;
  const builder = new TextRowsBuilder(columns, expectedRows);
  return new Promise((resolve, reject) => {
    core.addCommand(new TextResultCommand(text, builder, resolve, reject));
  });
}
