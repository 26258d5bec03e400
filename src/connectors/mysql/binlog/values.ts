/**
 * Decoders for fixed-layout binlog values (DECIMAL, temporal types) that produce the canonical
 * forms of src/core/change.ts. They read straight from the event buffer; callers know the size.
 */

const DIG2BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4] as const;

/** Bytes a DECIMAL(precision, scale) value occupies in the binlog. */
export function decimalSize(precision: number, scale: number): number {
  const intg = precision - scale;
  return (
    Math.floor(intg / 9) * 4 + (DIG2BYTES[intg % 9] as number) + Math.floor(scale / 9) * 4 + (DIG2BYTES[scale % 9] as number)
  );
}

/** Big-endian group of a binary DECIMAL; the value's first byte has its sign bit flipped. */
function groupBE(buf: Buffer, p: number, bytes: number, mask: number, first: number): number {
  let v = 0;
  for (let i = p; i < p + bytes; i++) {
    let b = buf[i] as number;
    if (i === first) b ^= 0x80;
    v = v * 256 + ((b ^ mask) & 0xff);
  }
  return v;
}

/**
 * Binary DECIMAL → exact text as MySQL prints it: no leading zeros, `0` before the point when
 * the integer part is empty, exactly `scale` fraction digits. Sign: the first byte's top bit is
 * set for non-negative values; negative values are stored with every byte inverted.
 */
export function readDecimal(buf: Buffer, pos: number, precision: number, scale: number): string {
  const intg = precision - scale;
  const intg0 = Math.floor(intg / 9);
  const intg0x = intg % 9;
  const frac0 = Math.floor(scale / 9);
  const frac0x = scale % 9;
  const negative = ((buf[pos] as number) & 0x80) === 0;
  const mask = negative ? 0xff : 0;
  let p = pos;
  const readGroup = (bytes: number): number => {
    const v = groupBE(buf, p, bytes, mask, pos);
    p += bytes;
    return v;
  };
  let intStr = '';
  if (intg0x > 0) {
    const v = readGroup(DIG2BYTES[intg0x] as number);
    if (v !== 0) intStr = String(v);
  }
  for (let g = 0; g < intg0; g++) {
    const v = readGroup(4);
    if (intStr === '') {
      if (v !== 0) intStr = String(v);
    } else intStr += String(v).padStart(9, '0');
  }
  let fracStr = '';
  for (let g = 0; g < frac0; g++) fracStr += String(readGroup(4)).padStart(9, '0');
  if (frac0x > 0) fracStr += String(readGroup(DIG2BYTES[frac0x] as number)).padStart(frac0x, '0');
  if (intStr === '') intStr = '0';
  const text = scale > 0 ? `${intStr}.${fracStr}` : intStr;
  if (negative && text !== '0' && /[1-9]/.test(text)) return `-${text}`;
  return text;
}

function p2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
function p4(n: number): string {
  return n >= 1000 ? String(n) : String(n).padStart(4, '0');
}

/** Microseconds → `.ffffff` cut to `fsp` digits ('' when fsp is 0). */
export function fraction(micros: number, fsp: number): string {
  if (fsp <= 0) return '';
  return `.${String(micros).padStart(6, '0').slice(0, fsp)}`;
}

export function formatDate(year: number, month: number, day: number): string {
  return `${p4(year)}-${p2(month)}-${p2(day)}`;
}

/** DATE: 3 bytes little-endian, day | month << 5 | year << 9. Zero parts print as zeros. */
export function readDate(buf: Buffer, pos: number): string {
  const v = (buf[pos] as number) | ((buf[pos + 1] as number) << 8) | ((buf[pos + 2] as number) << 16);
  return formatDate(v >>> 9, (v >>> 5) & 15, v & 31);
}

/** Fractional part of DATETIME2/TIME2/TIMESTAMP2: (fsp+1)/2 bytes, big-endian. */
export function fracBytes(fsp: number): number {
  return (fsp + 1) >> 1;
}

/** Reads the fractional part as unsigned microseconds. */
function readFracMicros(buf: Buffer, pos: number, fsp: number): number {
  switch (fracBytes(fsp)) {
    case 1:
      return (buf[pos] as number) * 10000;
    case 2:
      return buf.readUInt16BE(pos) * 100;
    case 3:
      return buf.readUIntBE(pos, 3);
    default:
      return 0;
  }
}

/**
 * DATETIME2: 5 bytes big-endian with offset 0x8000000000: year*13+month (17 bits), day (5),
 * hour (5), minute (6), second (6); then the fraction. Wall clock, no time zone.
 */
export function readDatetime2(buf: Buffer, pos: number, fsp: number): string {
  const intpart = buf.readUIntBE(pos, 5) - 0x8000000000;
  const ymd = Math.floor(intpart / 131072); // >> 17
  const hms = intpart % 131072;
  const ym = ymd >>> 5;
  const day = ymd & 31;
  const month = ym % 13;
  const year = Math.floor(ym / 13);
  const sec = hms & 63;
  const min = (hms >>> 6) & 63;
  const hour = hms >>> 12;
  const micros = readFracMicros(buf, pos + 5, fsp);
  return `${formatDate(year, month, day)} ${p2(hour)}:${p2(min)}:${p2(sec)}${fraction(micros, fsp)}`;
}

/** Days since 1970-01-01 → civil date (proleptic Gregorian), without Date or the process TZ. */
function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const y = yoe + era * 400;
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [m <= 2 ? y + 1 : y, m, d];
}

/** Unix seconds + microseconds → UTC `YYYY-MM-DD HH:MM:SS[.f]`; 0 is the zero timestamp. */
export function formatUtcTimestamp(seconds: number, micros: number, fsp: number): string {
  if (seconds === 0 && micros === 0) return `0000-00-00 00:00:00${fraction(0, fsp)}`;
  const days = Math.floor(seconds / 86400);
  const rem = seconds - days * 86400;
  const [y, m, d] = civilFromDays(days);
  return `${formatDate(y, m, d)} ${p2(Math.floor(rem / 3600))}:${p2(Math.floor(rem / 60) % 60)}:${p2(rem % 60)}${fraction(micros, fsp)}`;
}

/** TIMESTAMP2: 4 bytes big-endian unix seconds, then the fraction. Always UTC. */
export function readTimestamp2(buf: Buffer, pos: number, fsp: number): string {
  return formatUtcTimestamp(buf.readUInt32BE(pos), readFracMicros(buf, pos + 4, fsp), fsp);
}

/**
 * TIME2: 3 bytes big-endian with offset 0x800000: sign, unused, hour (10 bits), minute (6),
 * second (6); then the fraction. Negative values with a fraction are stored as one 48-bit
 * two's-complement-like packed number, so intpart and fraction must be combined before
 * splitting (MySQL's "packed time" arithmetic).
 */
export function readTime2(buf: Buffer, pos: number, fsp: number): string {
  let packed: number; // (intpart << 24) + microseconds, signed
  const fb = fracBytes(fsp);
  if (fb === 0) {
    packed = (buf.readUIntBE(pos, 3) - 0x800000) * 16777216;
  } else if (fb === 3) {
    packed = buf.readUIntBE(pos, 6) - 0x800000000000;
  } else {
    let intpart = buf.readUIntBE(pos, 3) - 0x800000;
    let frac = fb === 1 ? (buf[pos + 3] as number) : buf.readUInt16BE(pos + 3);
    if (intpart < 0 && frac !== 0) {
      intpart += 1;
      frac -= fb === 1 ? 0x100 : 0x10000;
    }
    packed = intpart * 16777216 + frac * (fb === 1 ? 10000 : 100);
  }
  const negative = packed < 0;
  if (negative) packed = -packed;
  const hms = Math.floor(packed / 16777216);
  const micros = packed % 16777216;
  const hour = (hms >>> 12) & 1023;
  const min = (hms >>> 6) & 63;
  const sec = hms & 63;
  return `${negative ? '-' : ''}${p2(hour)}:${p2(min)}:${p2(sec)}${fraction(micros, fsp)}`;
}

/** Old TIME (type 11): 3-byte signed little-endian integer HHMMSS. */
export function readTimeOld(buf: Buffer, pos: number): string {
  const v = buf.readIntLE(pos, 3);
  const a = Math.abs(v);
  return `${v < 0 ? '-' : ''}${p2(Math.floor(a / 10000))}:${p2(Math.floor(a / 100) % 100)}:${p2(a % 100)}`;
}

/** Old DATETIME (type 12): 8-byte little-endian integer YYYYMMDDhhmmss. */
export function readDatetimeOld(buf: Buffer, pos: number): string {
  const v = buf.readUInt32LE(pos) + buf.readUInt32LE(pos + 4) * 4294967296;
  const date = Math.floor(v / 1000000);
  const time = v % 1000000;
  return `${formatDate(Math.floor(date / 10000), Math.floor(date / 100) % 100, date % 100)} ${p2(Math.floor(time / 10000))}:${p2(Math.floor(time / 100) % 100)}:${p2(time % 100)}`;
}

/** MySQL packed datetime (as used in JSON opaque values and MY_PACKED_TIME) → text with 6 digits. */
export function formatPackedDatetime(packed: bigint, withTime: boolean): string {
  let v = packed < 0n ? -packed : packed;
  const micros = Number(v % 16777216n);
  v >>= 24n;
  const ymdhms = Number(v);
  const ymd = Math.floor(ymdhms / 131072);
  const hms = ymdhms % 131072;
  const ym = ymd >>> 5;
  const date = formatDate(Math.floor(ym / 13), ym % 13, ymd & 31);
  if (!withTime) return date;
  return `${date} ${p2(hms >>> 12)}:${p2((hms >>> 6) & 63)}:${p2(hms & 63)}${fraction(micros, 6)}`;
}

/** MySQL packed time → `[-]HH:MM:SS.ffffff`. */
export function formatPackedTime(packed: bigint): string {
  const negative = packed < 0n;
  let v = negative ? -packed : packed;
  const micros = Number(v % 16777216n);
  v >>= 24n;
  const hms = Number(v);
  return `${negative ? '-' : ''}${p2((hms >>> 12) & 1023)}:${p2((hms >>> 6) & 63)}:${p2(hms & 63)}${fraction(micros, 6)}`;
}
