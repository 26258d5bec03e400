import { FerryError } from '../../../core/errors.js';

/** A bounds-checked reader over `buf[pos, end)` for the non-hot parts of events. */
export class Cursor {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
    private readonly what: string,
  ) {}

  need(n: number): void {
    if (this.pos + n > this.end) {
      throw new FerryError('FERRY_BINLOG_PROTOCOL', `truncated ${this.what}: needs ${n} more bytes at offset ${this.pos}, ends at ${this.end}`);
    }
  }
  get remaining(): number {
    return this.end - this.pos;
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u48(): number {
    this.need(6);
    const v = this.buf.readUIntLE(this.pos, 6);
    this.pos += 6;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  i64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  /** Length-encoded integer (1, 3, 4 or 9 bytes), as a number (must be a safe integer). */
  lenenc(): number {
    const fb = this.u8();
    if (fb < 251) return fb;
    if (fb === 252) return this.u16();
    if (fb === 253) {
      this.need(3);
      const v = this.buf.readUIntLE(this.pos, 3);
      this.pos += 3;
      return v;
    }
    if (fb === 254) {
      const v = this.u64();
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FerryError('FERRY_BINLOG_PROTOCOL', `length ${v} too large in ${this.what}`);
      return Number(v);
    }
    throw new FerryError('FERRY_BINLOG_PROTOCOL', `bad length-encoded integer 0x${fb.toString(16)} in ${this.what}`);
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  str(n: number, enc: BufferEncoding = 'utf8'): string {
    this.need(n);
    const s = this.buf.toString(enc, this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
}
