import { FerryError } from '../../../core/errors.js';
import { formatPackedDatetime, formatPackedTime, readDecimal } from './values.js';

/**
 * MySQL binary JSON (column type 245) → JSON text, printed the way MySQL prints JSON
 * (`{"a": 1, "b": [1, 2]}`), with numbers exactly as stored: int64/uint64 in full, doubles as
 * the shortest text that round-trips, DECIMAL opaques as their exact digits.
 */

const T_SMALL_OBJ = 0x00;
const T_LARGE_OBJ = 0x01;
const T_SMALL_ARR = 0x02;
const T_LARGE_ARR = 0x03;
const T_LITERAL = 0x04;
const T_INT16 = 0x05;
const T_UINT16 = 0x06;
const T_INT32 = 0x07;
const T_UINT32 = 0x08;
const T_INT64 = 0x09;
const T_UINT64 = 0x0a;
const T_DOUBLE = 0x0b;
const T_STRING = 0x0c;
const T_OPAQUE = 0x0f;

function bad(msg: string): FerryError {
  return new FerryError('FERRY_BINLOG_PROTOCOL', `malformed binary JSON value: ${msg}`);
}

/** Decodes a binary JSON document stored in `buf[start, end)`. An empty document is `null`. */
export function binaryJsonToText(buf: Buffer, start: number, end: number): string {
  if (end <= start) return 'null';
  const type = buf[start] as number;
  return value(buf, type, start + 1, end);
}

function value(buf: Buffer, type: number, pos: number, end: number): string {
  switch (type) {
    case T_SMALL_OBJ:
      return container(buf, pos, end, false, true);
    case T_LARGE_OBJ:
      return container(buf, pos, end, true, true);
    case T_SMALL_ARR:
      return container(buf, pos, end, false, false);
    case T_LARGE_ARR:
      return container(buf, pos, end, true, false);
    case T_LITERAL:
      return literal(buf[pos] as number);
    case T_INT16:
      return String(buf.readInt16LE(pos));
    case T_UINT16:
      return String(buf.readUInt16LE(pos));
    case T_INT32:
      return String(buf.readInt32LE(pos));
    case T_UINT32:
      return String(buf.readUInt32LE(pos));
    case T_INT64:
      return buf.readBigInt64LE(pos).toString();
    case T_UINT64:
      return buf.readBigUInt64LE(pos).toString();
    case T_DOUBLE:
      return formatJsonDouble(buf.readDoubleLE(pos));
    case T_STRING: {
      const [len, p] = varLen(buf, pos, end);
      if (p + len > end) throw bad('string past end');
      return JSON.stringify(buf.toString('utf8', p, p + len));
    }
    case T_OPAQUE:
      return opaque(buf, pos, end);
    default:
      throw bad(`unknown type 0x${type.toString(16)}`);
  }
}

function literal(b: number): string {
  switch (b) {
    case 0:
      return 'null';
    case 1:
      return 'true';
    case 2:
      return 'false';
    default:
      throw bad(`unknown literal ${b}`);
  }
}

function varLen(buf: Buffer, pos: number, end: number): [number, number] {
  let len = 0;
  for (let i = 0; i < 5; i++) {
    if (pos + i >= end) break;
    const b = buf[pos + i] as number;
    len += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return [len, pos + i + 1];
  }
  throw bad('bad variable-length integer');
}

/** Objects and arrays: count, size, [key entries], value entries; offsets from `pos`. */
function container(buf: Buffer, pos: number, end: number, large: boolean, isObject: boolean): string {
  const w = large ? 4 : 2;
  const rd = (p: number): number => (large ? buf.readUInt32LE(p) : buf.readUInt16LE(p));
  const count = rd(pos);
  const size = rd(pos + w);
  if (pos + size > end) throw bad('container past end');
  const cEnd = pos + size;
  const keyEntries = pos + 2 * w;
  const valueEntries = keyEntries + (isObject ? count * (w + 2) : 0);
  const valueEntrySize = 1 + w;
  const parts: string[] = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const ve = valueEntries + i * valueEntrySize;
    const t = buf[ve] as number;
    let text: string;
    if (t === T_LITERAL || t === T_INT16 || t === T_UINT16 || (large && (t === T_INT32 || t === T_UINT32))) {
      text = value(buf, t, ve + 1, cEnd);
    } else {
      const off = rd(ve + 1);
      text = value(buf, t, pos + off, cEnd);
    }
    if (isObject) {
      const ke = keyEntries + i * (w + 2);
      const koff = rd(ke);
      const klen = buf.readUInt16LE(ke + w);
      parts[i] = `${JSON.stringify(buf.toString('utf8', pos + koff, pos + koff + klen))}: ${text}`;
    } else {
      parts[i] = text;
    }
  }
  return isObject ? `{${parts.join(', ')}}` : `[${parts.join(', ')}]`;
}

/** Shortest round-trip text of a double, in MySQL's JSON style (`3.0`, `1e300`). */
export function formatJsonDouble(d: number): string {
  if (!Number.isFinite(d)) throw bad('non-finite double');
  let s = String(d);
  if (s.includes('e')) s = s.replace('e+', 'e');
  else if (!s.includes('.')) s += '.0';
  return s;
}

const FT_TIMESTAMP = 7;
const FT_DATE = 10;
const FT_TIME = 11;
const FT_DATETIME = 12;
const FT_NEWDECIMAL = 246;

function opaque(buf: Buffer, pos: number, end: number): string {
  const fieldType = buf[pos] as number;
  const [len, p] = varLen(buf, pos + 1, end);
  if (p + len > end) throw bad('opaque past end');
  switch (fieldType) {
    case FT_NEWDECIMAL: {
      const precision = buf[p] as number;
      const scale = buf[p + 1] as number;
      return readDecimal(buf, p + 2, precision, scale);
    }
    case FT_DATE:
      return JSON.stringify(formatPackedDatetime(buf.readBigInt64LE(p), false));
    case FT_DATETIME:
    case FT_TIMESTAMP:
      return JSON.stringify(formatPackedDatetime(buf.readBigInt64LE(p), true));
    case FT_TIME:
      return JSON.stringify(formatPackedTime(buf.readBigInt64LE(p)));
    default:
      // MySQL prints other opaque values (BIT, BLOB, GEOMETRY...) this way.
      return JSON.stringify(`base64:type${fieldType}:${buf.toString('base64', p, p + len)}`);
  }
}
