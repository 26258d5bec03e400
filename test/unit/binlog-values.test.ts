import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decimalSize,
  formatPackedDatetime,
  formatPackedTime,
  formatUtcTimestamp,
  readDate,
  readDatetime2,
  readDatetimeOld,
  readDecimal,
  readTime2,
  readTimeOld,
  readTimestamp2,
} from '../../src/connectors/mysql/binlog/values.js';
import { prng } from '../../bench/lib.js';

/*
 * The value decoders write digits into a scratch buffer. These tests hold them to a plain
 * string-built reference (the straightforward reading of the formats: String, padStart,
 * concatenation) on random bytes, so every branch is covered: valid values, negative zero,
 * and the out-of-range groups and fields only corrupt data has.
 */

function randomBytes(rnd: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

const DIG2BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];

function refDecimal(buf: Buffer, pos: number, precision: number, scale: number): string {
  const intg = precision - scale;
  const negative = ((buf[pos] as number) & 0x80) === 0;
  const mask = negative ? 0xff : 0;
  let p = pos;
  const group = (bytes: number): number => {
    let v = 0;
    for (let i = p; i < p + bytes; i++) {
      let b = buf[i] as number;
      if (i === pos) b ^= 0x80;
      v = v * 256 + ((b ^ mask) & 0xff);
    }
    p += bytes;
    return v;
  };
  let intStr = '';
  if (intg % 9 > 0) {
    const v = group(DIG2BYTES[intg % 9] as number);
    if (v !== 0) intStr = String(v);
  }
  for (let g = 0; g < Math.floor(intg / 9); g++) {
    const v = group(4);
    if (intStr === '') {
      if (v !== 0) intStr = String(v);
    } else intStr += String(v).padStart(9, '0');
  }
  let fracStr = '';
  for (let g = 0; g < Math.floor(scale / 9); g++) fracStr += String(group(4)).padStart(9, '0');
  if (scale % 9 > 0) fracStr += String(group(DIG2BYTES[scale % 9] as number)).padStart(scale % 9, '0');
  if (intStr === '') intStr = '0';
  const text = scale > 0 ? `${intStr}.${fracStr}` : intStr;
  return negative && /[1-9]/.test(text) ? `-${text}` : text;
}

const two = (n: number): string => (n < 10 ? `0${n}` : String(n));
const four = (n: number): string => (n >= 1000 ? String(n) : String(n).padStart(4, '0'));
const frac = (micros: number, fsp: number): string => (fsp <= 0 ? '' : `.${String(micros).padStart(6, '0').slice(0, fsp)}`);
const date = (y: number, m: number, d: number): string => `${four(y)}-${two(m)}-${two(d)}`;

function fracMicros(buf: Buffer, pos: number, fsp: number): number {
  const n = (fsp + 1) >> 1;
  if (n === 1) return (buf[pos] as number) * 10000;
  if (n === 2) return buf.readUInt16BE(pos) * 100;
  if (n === 3) return buf.readUIntBE(pos, 3);
  return 0;
}

function refDatetime2(buf: Buffer, pos: number, fsp: number): string {
  const intpart = buf.readUIntBE(pos, 5) - 0x8000000000;
  const ymd = Math.floor(intpart / 131072);
  const hms = intpart % 131072;
  const ym = ymd >>> 5;
  return `${date(Math.floor(ym / 13), ym % 13, ymd & 31)} ${two(hms >>> 12)}:${two((hms >>> 6) & 63)}:${two(hms & 63)}${frac(fracMicros(buf, pos + 5, fsp), fsp)}`;
}

function refUtc(seconds: number, micros: number, fsp: number): string {
  if (seconds === 0 && micros === 0) return `0000-00-00 00:00:00${frac(0, fsp)}`;
  const d = new Date(seconds * 1000);
  return `${date(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}${frac(micros, fsp)}`;
}

describe('binlog values: digits written into the scratch buffer equal the string-built reference', () => {
  it('DECIMAL: random bytes for every (precision, scale) shape, including negative zero and over-wide groups', () => {
    const rnd = prng(1);
    for (let precision = 1; precision <= 65; precision++) {
      for (let scale = 0; scale <= Math.min(30, precision); scale++) {
        const size = decimalSize(precision, scale);
        for (let k = 0; k < 6; k++) {
          const b = randomBytes(rnd, size + 2);
          const at = 1;
          assert.equal(readDecimal(b, at, precision, scale), refDecimal(b, at, precision, scale), `(${precision},${scale}) ${b.toString('hex')}`);
        }
        // Zero and negative zero (every byte inverted).
        const zero = Buffer.alloc(size);
        zero[0] = 0x80;
        assert.equal(readDecimal(zero, 0, precision, scale), refDecimal(zero, 0, precision, scale));
        const negZero = Buffer.from(zero.map((x) => x ^ 0xff));
        assert.equal(readDecimal(negZero, 0, precision, scale), refDecimal(negZero, 0, precision, scale));
        assert.doesNotMatch(readDecimal(negZero, 0, precision, scale), /^-/);
      }
    }
  });

  it('DATETIME2 and TIMESTAMP2 for every fsp, valid and corrupt (below the offset)', () => {
    const rnd = prng(2);
    for (let fsp = 0; fsp <= 6; fsp++) {
      for (let k = 0; k < 3000; k++) {
        const b = randomBytes(rnd, 8);
        assert.equal(readDatetime2(b, 0, fsp), refDatetime2(b, 0, fsp), `fsp ${fsp} ${b.toString('hex')}`);
        const seconds = b.readUInt32BE(0);
        assert.equal(readTimestamp2(b, 0, fsp), refUtc(seconds, fracMicros(b, 4, fsp), fsp), `fsp ${fsp} ${b.toString('hex')}`);
      }
    }
    assert.equal(formatUtcTimestamp(0, 0, 3), '0000-00-00 00:00:00.000');
    assert.equal(formatUtcTimestamp(0, 0, 0), '0000-00-00 00:00:00');
    // A fraction wider than six digits (corrupt) keeps its leading digits, as padStart/slice did.
    assert.equal(formatUtcTimestamp(1, 12345678, 6), '1970-01-01 00:00:01.123456');
  });

  it('TIME2, old TIME, DATE and old DATETIME on random bytes', () => {
    const rnd = prng(3);
    for (let k = 0; k < 5000; k++) {
      const b = randomBytes(rnd, 8);
      const fsp = k % 7;
      const fb = (fsp + 1) >> 1;
      // Reference for TIME2: MySQL's packed-time arithmetic, then plain formatting.
      let packed: number;
      if (fb === 0) packed = (b.readUIntBE(0, 3) - 0x800000) * 16777216;
      else if (fb === 3) packed = b.readUIntBE(0, 6) - 0x800000000000;
      else {
        let intpart = b.readUIntBE(0, 3) - 0x800000;
        let f = fb === 1 ? (b[3] as number) : b.readUInt16BE(3);
        if (intpart < 0 && f !== 0) {
          intpart += 1;
          f -= fb === 1 ? 0x100 : 0x10000;
        }
        packed = intpart * 16777216 + f * (fb === 1 ? 10000 : 100);
      }
      const neg = packed < 0;
      const a = Math.abs(packed);
      const hms = Math.floor(a / 16777216);
      const wantTime = `${neg ? '-' : ''}${two((hms >>> 12) & 1023)}:${two((hms >>> 6) & 63)}:${two(hms & 63)}${frac(a % 16777216, fsp)}`;
      assert.equal(readTime2(b, 0, fsp), wantTime, `fsp ${fsp} ${b.toString('hex')}`);

      const t = b.readIntLE(0, 3);
      const ta = Math.abs(t);
      assert.equal(readTimeOld(b, 0), `${t < 0 ? '-' : ''}${two(Math.floor(ta / 10000))}:${two(Math.floor(ta / 100) % 100)}:${two(ta % 100)}`);

      const d = (b[0] as number) | ((b[1] as number) << 8) | ((b[2] as number) << 16);
      assert.equal(readDate(b, 0), date(d >>> 9, (d >>> 5) & 15, d & 31));

      const v = b.readUInt32LE(0) + b.readUInt32LE(4) * 4294967296;
      const dd = Math.floor(v / 1000000);
      const tt = v % 1000000;
      assert.equal(
        readDatetimeOld(b, 0),
        `${date(Math.floor(dd / 10000), Math.floor(dd / 100) % 100, dd % 100)} ${two(Math.floor(tt / 10000))}:${two(Math.floor(tt / 100) % 100)}:${two(tt % 100)}`,
      );
    }
  });

  it('packed DATETIME and TIME (JSON opaque values)', () => {
    // 2024-01-02 03:04:05.060789 packed: ((ym << 5 | d) << 17 | hms) << 24 | micros.
    const ym = 2024 * 13 + 1;
    const packed = ((((BigInt(ym) << 5n) | 2n) << 17n) | (3n << 12n) | (4n << 6n) | 5n) * 16777216n + 60789n;
    assert.equal(formatPackedDatetime(packed, true), '2024-01-02 03:04:05.060789');
    assert.equal(formatPackedDatetime(packed, false), '2024-01-02');
    const time = ((838n << 12n) | (59n << 6n) | 58n) * 16777216n + 1n;
    assert.equal(formatPackedTime(time), '838:59:58.000001');
    assert.equal(formatPackedTime(-time), '-838:59:58.000001');
  });
});
