/**
 * UTF-8 checks of byte ranges for writers that copy text bytes instead of decoding them
 * (mysql/pending-bulk.ts, postgres/pending-copy.ts): a range passes only when decoding it would
 * give back the same bytes, so copying it is what writing its decoded string would have been.
 */

/** Refuse U+0000 (PostgreSQL text cannot hold it; the text path removes it and counts it). */
export const REFUSE_NUL = 1;
/** Refuse the JSON escape `\u0000` (PostgreSQL jsonb rejects it; the text path removes it). */
export const REFUSE_U0000_ESCAPE = 2;

/**
 * Whether `b[a, e)` is well-formed UTF-8 (Unicode's table 3-7: no overlong forms, surrogates or
 * code points past U+10FFFF — what a decoder reads without U+FFFD) and holds nothing `flags`
 * refuse. A JS loop: for text up to a few hundred bytes cheaper than a native call and the view
 * it needs (the view is garbage the collector pays for again). Runs of ASCII go four bytes a step:
 * a group leaves that path when a byte has its high bit set, or is one a flag refuses (zero,
 * or the backslash that may start `\u0000`), and is then read byte by byte.
 */
export function utf8Clean(b: Uint8Array, a: number, e: number, flags: number): boolean {
  while (a < e) {
    for (const stop = e - 4; a <= stop; a += 4) {
      const w = (b[a] as number) | ((b[a + 1] as number) << 8) | ((b[a + 2] as number) << 16) | ((b[a + 3] as number) << 24);
      let special = w & 0x80808080;
      if (flags !== 0) {
        // (x - 0x01010101) & ~x & 0x80808080 is non-zero exactly when a byte of x is zero.
        if ((flags & REFUSE_NUL) !== 0) special |= (w - 0x01010101) & ~w & 0x80808080;
        if ((flags & REFUSE_U0000_ESCAPE) !== 0) {
          const x = w ^ 0x5c5c5c5c;
          special |= (x - 0x01010101) & ~x & 0x80808080;
        }
      }
      if (special !== 0) break;
    }
    if (a >= e) break;
    const c = b[a] as number;
    if (c < 0x80) {
      if (c === 0 && (flags & REFUSE_NUL) !== 0) return false;
      if (c === 0x5c && (flags & REFUSE_U0000_ESCAPE) !== 0 && a + 6 <= e && b[a + 1] === 0x75 && b[a + 2] === 0x30 && b[a + 3] === 0x30 && b[a + 4] === 0x30 && b[a + 5] === 0x30) return false;
      a++;
      continue;
    }
    if (c < 0xc2) return false;
    if (c < 0xe0) {
      if (a + 2 > e || ((b[a + 1] as number) & 0xc0) !== 0x80) return false;
      a += 2;
      continue;
    }
    if (c < 0xf0) {
      if (a + 3 > e) return false;
      const c1 = b[a + 1] as number;
      if ((c1 & 0xc0) !== 0x80 || ((b[a + 2] as number) & 0xc0) !== 0x80) return false;
      if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f)) return false;
      a += 3;
      continue;
    }
    if (c > 0xf4 || a + 4 > e) return false;
    const c1 = b[a + 1] as number;
    if ((c1 & 0xc0) !== 0x80 || ((b[a + 2] as number) & 0xc0) !== 0x80 || ((b[a + 3] as number) & 0xc0) !== 0x80) return false;
    if ((c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f)) return false;
    a += 4;
  }
  return true;
}
