/**
 * Decoders for fixed-layout binlog values (DECIMAL, temporal types) that produce the canonical
 * forms of src/core/change.ts. They read straight from the event buffer; callers know the size.
 *
 * Text is built by writing the character codes of the digits into one scratch array and making
 * the string from it with a single `String.fromCharCode` call whose arguments are spelled out per
 * length (`charsOf`): one flat string per value, without the chain of concatenations, `String(n)`
 * and `padStart` calls that made DECIMAL and DATETIME the costliest values of a row, and without
 * a call into C++ (`latin1Slice` of a scratch Buffer cost ~45 ns a value before a byte of it was
 * read; the spelled-out call ~20–30 ns). DATETIME and TIMESTAMP, the most common, skip the
 * scratch array (`dateTimeText`). Decoding is synchronous, so one scratch array per process is
 * enough.
 */

const DIG2BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4] as const;

/** Longest text written: DECIMAL(65,30) is 65 digits, a sign and a point. */
const SCRATCH_CHARS = 96;
/** Character codes (small integers: the array stays one of packed SMIs). */
const S: number[] = Array.from({ length: SCRATCH_CHARS }, () => 0);

const CH_0 = 48;
const CH_MINUS = 45;
const CH_DOT = 46;
const CH_COLON = 58;
const CH_SPACE = 32;

/** Lengths up to this many characters get a spelled-out `fromCharCode` call. */
const SPELLED_MAX = 40;

/**
 * `charsOf(start, n)`: the string of the `n` codes `S[start, start + n)`. Generated once: a switch
 * over `n` whose case k calls `String.fromCharCode` with exactly k arguments (`apply` with an
 * array costs 3–4 times as much for 26 characters). Only integers are written into the code.
 */
const charsOf = ((): ((start: number, n: number) => string) => {
  const cases: string[] = [];
  for (let n = 1; n <= SPELLED_MAX; n++) {
    const args = Array.from({ length: n }, (_, i) => (i === 0 ? 'S[s]' : `S[s + ${String(i)}]`));
    cases.push(`case ${String(n)}: return f(${args.join(', ')});`);
  }
  const body =
    `'use strict'; return function charsOf(s, n) { switch (n) { case 0: return ''; ${cases.join(' ')} ` +
    'default: return f.apply(null, S.slice(s, s + n)); } };';
  return new Function('S', 'f', body)(S, String.fromCharCode) as (start: number, n: number) => string;
})();

/** The scratch text `S[start, end)` as a string. */
function text(start: number, end: number): string {
  return charsOf(start, end - start);
}

/** Writes the non-negative integer `n` (< 2^53) without padding at `o`; returns the end. */
function putUint(n: number, o: number): number {
  if (n < 2147483648) {
    // int32 arithmetic (the DECIMAL groups, < 10^9, and every date field): no float division.
    const len = n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : n < 100000 ? 5 : n < 1000000 ? 6 : n < 10000000 ? 7 : n < 100000000 ? 8 : n < 1000000000 ? 9 : 10;
    const end = o + len;
    let v = n | 0;
    for (let i = end - 1; i >= o; i--) {
      const q = (v / 10) | 0;
      S[i] = CH_0 + (v - q * 10);
      v = q;
    }
    return end;
  }
  let len = 1;
  for (let t = n; t >= 10; t = Math.floor(t / 10)) len++;
  const end = o + len;
  for (let i = end - 1; i >= o; i--) {
    const q = Math.floor(n / 10);
    S[i] = CH_0 + (n - q * 10);
    n = q;
  }
  return end;
}

const POW10 = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000] as const;

/**
 * Writes `n` (0 <= n, width <= 9) zero-padded to `width` digits at `o`; returns the end. A value
 * too wide for `width` (only in corrupt data) is written in full, as `padStart` would.
 */
function putPadded(n: number, width: number, o: number): number {
  if (n >= (POW10[width] as number)) return putUint(n, o);
  const end = o + width;
  for (let i = end - 1; i >= o; i--) {
    const q = (n / 10) | 0;
    S[i] = CH_0 + (n - q * 10);
    n = q;
  }
  return end;
}

/** At least two digits (hours of TIME may have three). */
function put2(n: number, o: number): number {
  return n < 100 ? putPadded(n, 2, o) : putUint(n, o);
}

/** At least four digits (years above 9999 only come from corrupt values, printed in full). */
function put4(n: number, o: number): number {
  return n < 10000 ? putPadded(n, 4, o) : putUint(n, o);
}

/** `YYYY-MM-DD` at `o`. */
function putDate(year: number, month: number, day: number, o: number): number {
  o = put4(year, o);
  S[o++] = CH_MINUS;
  o = put2(month, o);
  S[o++] = CH_MINUS;
  return put2(day, o);
}

/** `HH:MM:SS` at `o`. */
function putTime(hour: number, min: number, sec: number, o: number): number {
  o = put2(hour, o);
  S[o++] = CH_COLON;
  o = put2(min, o);
  S[o++] = CH_COLON;
  return put2(sec, o);
}

/** `.ffffff` cut to `fsp` digits at `o` (nothing when fsp is 0). */
function putFraction(micros: number, fsp: number, o: number): number {
  if (fsp <= 0) return o;
  S[o++] = CH_DOT;
  if (micros < 1000000) {
    putPadded(micros, 6, o);
    return o + (fsp < 6 ? fsp : 6);
  }
  // Out of range (corrupt value): the digits MySQL's own formatting would keep.
  const d = String(micros).slice(0, fsp);
  for (let i = 0; i < d.length; i++) S[o + i] = d.charCodeAt(i);
  return o + d.length;
}

const fcc = String.fromCharCode;

/** The character code of the tens digit of `n` (0 <= n <= 99: a pair of digits). */
function tensChar(n: number): number {
  return CH_0 + ((n / 10) | 0);
}

/** The character code of the ones digit of `n` (0 <= n < 2^31). */
function onesChar(n: number): number {
  return CH_0 + n - ((n / 10) | 0) * 10;
}

/**
 * `YYYY-MM-DD HH:MM:SS` and `fsp` (at most 6) fraction digits, spelled out in one
 * `String.fromCharCode` call per width: DATETIME and TIMESTAMP are the most common temporal
 * values, and this path writes no scratch array at all (~45 ns a value against ~90 through it).
 * The caller checks the fields are in range: year <= 9999, the others <= 99, micros < 10^6.
 */
function dateTimeText(year: number, month: number, day: number, hour: number, min: number, sec: number, micros: number, fsp: number): string {
  const century = (year / 100) | 0;
  const yy = year - century * 100;
  const Y0 = tensChar(century);
  const Y1 = onesChar(century);
  const Y2 = tensChar(yy);
  const Y3 = onesChar(yy);
  const M0 = tensChar(month);
  const M1 = onesChar(month);
  const D0 = tensChar(day);
  const D1 = onesChar(day);
  const H0 = tensChar(hour);
  const H1 = onesChar(hour);
  const I0 = tensChar(min);
  const I1 = onesChar(min);
  const S0 = tensChar(sec);
  const S1 = onesChar(sec);
  if (fsp <= 0) return fcc(Y0, Y1, Y2, Y3, CH_MINUS, M0, M1, CH_MINUS, D0, D1, CH_SPACE, H0, H1, CH_COLON, I0, I1, CH_COLON, S0, S1);
  // Six digits as three pairs.
  const ua = (micros / 10000) | 0;
  const rest = micros - ua * 10000;
  const ub = (rest / 100) | 0;
  const uc = rest - ub * 100;
  const U0 = tensChar(ua);
  const U1 = onesChar(ua);
  const U2 = tensChar(ub);
  const U3 = onesChar(ub);
  const U4 = tensChar(uc);
  const U5 = onesChar(uc);
  switch (fsp) {
    case 1:
      return fcc(Y0, Y1, Y2, Y3, CH_MINUS, M0, M1, CH_MINUS, D0, D1, CH_SPACE, H0, H1, CH_COLON, I0, I1, CH_COLON, S0, S1, CH_DOT, U0);
    case 2:
      return fcc(Y0, Y1, Y2, Y3, CH_MINUS, M0, M1, CH_MINUS, D0, D1, CH_SPACE, H0, H1, CH_COLON, I0, I1, CH_COLON, S0, S1, CH_DOT, U0, U1);
    case 3:
      return fcc(Y0, Y1, Y2, Y3, CH_MINUS, M0, M1, CH_MINUS, D0, D1, CH_SPACE, H0, H1, CH_COLON, I0, I1, CH_COLON, S0, S1, CH_DOT, U0, U1, U2);
    case 4:
      return fcc(Y0, Y1, Y2, Y3, CH_MINUS, M0, M1, CH_MINUS, D0, D1, CH_SPACE, H0, H1, CH_COLON, I0, I1, CH_COLON, S0, S1, CH_DOT, U0, U1, U2, U3);
    case 5:
      return fcc(Y0, Y1, Y2, Y3, CH_MINUS, M0, M1, CH_MINUS, D0, D1, CH_SPACE, H0, H1, CH_COLON, I0, I1, CH_COLON, S0, S1, CH_DOT, U0, U1, U2, U3, U4);
    default:
      return fcc(Y0, Y1, Y2, Y3, CH_MINUS, M0, M1, CH_MINUS, D0, D1, CH_SPACE, H0, H1, CH_COLON, I0, I1, CH_COLON, S0, S1, CH_DOT, U0, U1, U2, U3, U4, U5);
  }
}

/** Bytes a DECIMAL(precision, scale) value occupies in the binlog. */
export function decimalSize(precision: number, scale: number): number {
  const intg = precision - scale;
  return (
    Math.floor(intg / 9) * 4 + (DIG2BYTES[intg % 9] as number) + Math.floor(scale / 9) * 4 + (DIG2BYTES[scale % 9] as number)
  );
}

/**
 * Big-endian group of `bytes` (1..4) bytes of a binary DECIMAL, every byte XORed with `mask`
 * (0xff for negative values) and the first with `x0` too (0x80 for the value's first byte,
 * whose top bit is the sign).
 */
function groupBE(buf: Buffer, p: number, bytes: number, mask: number, x0: number): number {
  let v = ((buf[p] as number) ^ x0 ^ mask) & 0xff;
  for (let i = 1; i < bytes; i++) v = v * 256 + (((buf[p + i] as number) ^ mask) & 0xff);
  return v;
}

/**
 * Binary DECIMAL → exact text as MySQL prints it: no leading zeros, `0` before the point when
 * the integer part is empty, exactly `scale` fraction digits. Sign: the first byte's top bit is
 * set for non-negative values; negative values are stored with every byte inverted. A negative
 * zero prints as zero.
 */
export function readDecimal(buf: Buffer, pos: number, precision: number, scale: number): string {
  const intg = precision - scale;
  const intg0 = Math.floor(intg / 9);
  const intg0x = intg % 9;
  const frac0 = Math.floor(scale / 9);
  const frac0x = scale % 9;
  const negative = ((buf[pos] as number) & 0x80) === 0;
  const mask = negative ? 0xff : 0;
  let x0 = 0x80;
  let p = pos;
  // S[0] holds the sign; digits start at 1.
  S[0] = CH_MINUS;
  let o = 1;
  let nonZero = false;
  if (intg0x > 0) {
    const bytes = DIG2BYTES[intg0x] as number;
    const v = groupBE(buf, p, bytes, mask, x0);
    x0 = 0;
    p += bytes;
    if (v !== 0) {
      o = putUint(v, o);
      nonZero = true;
    }
  }
  for (let g = 0; g < intg0; g++) {
    const v = groupBE(buf, p, 4, mask, x0);
    x0 = 0;
    p += 4;
    if (nonZero) o = putPadded(v, 9, o);
    else if (v !== 0) {
      o = putUint(v, o);
      nonZero = true;
    }
  }
  if (!nonZero) S[o++] = CH_0;
  if (scale > 0) {
    S[o++] = CH_DOT;
    for (let g = 0; g < frac0; g++) {
      const v = groupBE(buf, p, 4, mask, x0);
      x0 = 0;
      p += 4;
      if (v !== 0) nonZero = true;
      o = putPadded(v, 9, o);
    }
    if (frac0x > 0) {
      const v = groupBE(buf, p, DIG2BYTES[frac0x] as number, mask, x0);
      if (v !== 0) nonZero = true;
      o = putPadded(v, frac0x, o);
    }
  }
  return text(negative && nonZero ? 0 : 1, o);
}

/** Microseconds → `.ffffff` cut to `fsp` digits ('' when fsp is 0). */
export function fraction(micros: number, fsp: number): string {
  return text(0, putFraction(micros, fsp, 0));
}

export function formatDate(year: number, month: number, day: number): string {
  return text(0, putDate(year, month, day, 0));
}

/** DATE: 3 bytes little-endian, day | month << 5 | year << 9. Zero parts print as zeros. */
export function readDate(buf: Buffer, pos: number): string {
  const v = (buf[pos] as number) | ((buf[pos + 1] as number) << 8) | ((buf[pos + 2] as number) << 16);
  const year = v >>> 9;
  if (year > 9999) return text(0, putDate(year, (v >>> 5) & 15, v & 31, 0));
  const century = (year / 100) | 0;
  const yy = year - century * 100;
  const month = (v >>> 5) & 15;
  const day = v & 31;
  return fcc(tensChar(century), onesChar(century), tensChar(yy), onesChar(yy), CH_MINUS, tensChar(month), onesChar(month), CH_MINUS, tensChar(day), onesChar(day));
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
      return (((buf[pos] as number) << 8) | (buf[pos + 1] as number)) * 100;
    case 3:
      return ((buf[pos] as number) << 16) | ((buf[pos + 1] as number) << 8) | (buf[pos + 2] as number);
    default:
      return 0;
  }
}

/**
 * DATETIME2: 5 bytes big-endian with offset 0x8000000000: year*13+month (17 bits), day (5),
 * hour (5), minute (6), second (6); then the fraction. Wall clock, no time zone.
 */
export function readDatetime2(buf: Buffer, pos: number, fsp: number): string {
  const b0 = buf[pos] as number;
  // Below the offset only with corrupt data: kept on the general path.
  if ((b0 & 0x80) === 0) return readDatetime2Corrupt(buf, pos, fsp);
  const lo = (((buf[pos + 1] as number) << 24) | ((buf[pos + 2] as number) << 16) | ((buf[pos + 3] as number) << 8) | (buf[pos + 4] as number)) >>> 0;
  const hms = lo & 0x1ffff;
  const ymd = (b0 & 0x7f) * 32768 + (lo >>> 17); // (intpart - offset) >> 17
  const ym = ymd >>> 5;
  const year = (ym / 13) | 0;
  const micros = readFracMicros(buf, pos + 5, fsp);
  // Years past 9999 and fractions of a million or more come only from corrupt values.
  if (year <= 9999 && micros < 1000000) return dateTimeText(year, ym - year * 13, ymd & 31, hms >>> 12, (hms >>> 6) & 63, hms & 63, micros, fsp);
  const o = putDate(year, ym % 13, ymd & 31, 0);
  S[o] = CH_SPACE;
  const e = putTime(hms >>> 12, (hms >>> 6) & 63, hms & 63, o + 1);
  return text(0, putFraction(micros, fsp, e));
}

function legacy2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** A DATETIME2 below its offset (never written by a server): printed field by field as before, signs and all. */
function readDatetime2Corrupt(buf: Buffer, pos: number, fsp: number): string {
  const intpart = buf.readUIntBE(pos, 5) - 0x8000000000;
  const ymd = Math.floor(intpart / 131072);
  const hms = intpart % 131072;
  const ym = ymd >>> 5;
  const year = Math.floor(ym / 13);
  const y = year >= 1000 ? String(year) : String(year).padStart(4, '0');
  const micros = readFracMicros(buf, pos + 5, fsp);
  return `${y}-${legacy2(ym % 13)}-${legacy2(ymd & 31)} ${legacy2(hms >>> 12)}:${legacy2((hms >>> 6) & 63)}:${legacy2(hms & 63)}${fraction(micros, fsp)}`;
}

/**
 * Days since 1970-01-01 → civil date (proleptic Gregorian), without Date or the process TZ, as
 * `year * 512 + month * 32 + day` (days >= 0: year >= 1970).
 */
function civilDate(days: number): number {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const y = yoe + era * 400;
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return (m <= 2 ? y + 1 : y) * 512 + m * 32 + d;
}

/**
 * Unix seconds (0 to 2^32 - 1) + microseconds → UTC `YYYY-MM-DD HH:MM:SS[.f]`; 0 is the zero
 * timestamp.
 */
export function formatUtcTimestamp(seconds: number, micros: number, fsp: number): string {
  if (seconds === 0 && micros === 0) return dateTimeText(0, 0, 0, 0, 0, 0, 0, fsp);
  const days = Math.floor(seconds / 86400);
  const rem = seconds - days * 86400;
  const ymd = civilDate(days);
  const year = Math.floor(ymd / 512);
  const hour = Math.floor(rem / 3600);
  const min = Math.floor(rem / 60) % 60;
  const sec = rem % 60;
  // 2^32 seconds end in 2106; a fraction of a million or more comes only from a corrupt value.
  if (micros < 1000000) return dateTimeText(year, (ymd >>> 5) & 15, ymd & 31, hour, min, sec, micros, fsp);
  let o = putDate(year, (ymd >>> 5) & 15, ymd & 31, 0);
  S[o] = CH_SPACE;
  o = putTime(hour, min, sec, o + 1);
  return text(0, putFraction(micros, fsp, o));
}

/** TIMESTAMP2: 4 bytes big-endian unix seconds, then the fraction. Always UTC. */
export function readTimestamp2(buf: Buffer, pos: number, fsp: number): string {
  return formatUtcTimestamp(buf.readUInt32BE(pos), readFracMicros(buf, pos + 4, fsp), fsp);
}

/** `[-]HH:MM:SS[.f]` from hour/minute/second fields. */
function timeText(negative: boolean, hour: number, min: number, sec: number, micros: number, fsp: number): string {
  S[0] = CH_MINUS;
  const o = putTime(hour, min, sec, 1);
  return text(negative ? 0 : 1, putFraction(micros, fsp, o));
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
  return timeText(negative, (hms >>> 12) & 1023, (hms >>> 6) & 63, hms & 63, micros, fsp);
}

/** Old TIME (type 11): 3-byte signed little-endian integer HHMMSS. */
export function readTimeOld(buf: Buffer, pos: number): string {
  const v = buf.readIntLE(pos, 3);
  const a = Math.abs(v);
  return timeText(v < 0, Math.floor(a / 10000), Math.floor(a / 100) % 100, a % 100, 0, 0);
}

/** Old DATETIME (type 12): 8-byte little-endian integer YYYYMMDDhhmmss. */
export function readDatetimeOld(buf: Buffer, pos: number): string {
  const v = buf.readUInt32LE(pos) + buf.readUInt32LE(pos + 4) * 4294967296;
  const date = Math.floor(v / 1000000);
  const time = v % 1000000;
  const o = putDate(Math.floor(date / 10000), Math.floor(date / 100) % 100, date % 100, 0);
  S[o] = CH_SPACE;
  return text(0, putTime(Math.floor(time / 10000), Math.floor(time / 100) % 100, time % 100, o + 1));
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
  let o = putDate(Math.floor(ym / 13), ym % 13, ymd & 31, 0);
  if (withTime) {
    S[o] = CH_SPACE;
    o = putFraction(micros, 6, putTime(hms >>> 12, (hms >>> 6) & 63, hms & 63, o + 1));
  }
  return text(0, o);
}

/** MySQL packed time → `[-]HH:MM:SS.ffffff`. */
export function formatPackedTime(packed: bigint): string {
  const negative = packed < 0n;
  let v = negative ? -packed : packed;
  const micros = Number(v % 16777216n);
  v >>= 24n;
  const hms = Number(v);
  return timeText(negative, (hms >>> 12) & 1023, (hms >>> 6) & 63, hms & 63, micros, 6);
}
