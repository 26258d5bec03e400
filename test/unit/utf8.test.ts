import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { test } from 'node:test';
import { REFUSE_NUL, REFUSE_U0000_ESCAPE, utf8Clean } from '../../src/core/utf8.js';

test('utf8Clean agrees with isUtf8 and with a decode round trip on every short sequence mix', () => {
  // Bytes around every boundary of the well-formed table (lead bytes, continuation ranges).
  const pool = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff];
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  let valid = 0;
  for (let i = 0; i < 200_000; i++) {
    const len = Math.floor(rnd() * 7);
    const b = Buffer.from(Array.from({ length: len }, () => (rnd() < 0.6 ? (pool[Math.floor(rnd() * pool.length)] as number) : Math.floor(rnd() * 256))));
    const got = utf8Clean(b, 0, b.length, 0);
    assert.equal(got, isUtf8(b), b.toString('hex'));
    assert.equal(got, Buffer.from(b.toString('utf8')).equals(b), b.toString('hex'));
    if (got) valid++;
  }
  assert.ok(valid > 10_000, 'the mix holds valid sequences too');
  // Within a larger buffer: only [a, e) counts (a sequence cut at e is not whole).
  const s = Buffer.from('x€y');
  assert.equal(utf8Clean(s, 0, s.length, 0), true);
  assert.equal(utf8Clean(s, 0, 3, 0), false);
  assert.equal(utf8Clean(s, 1, 4, 0), true);
});

test('utf8Clean refuses U+0000 and the JSON escape \\u0000 only when asked', () => {
  const nul = Buffer.from('a\0b');
  assert.equal(utf8Clean(nul, 0, 3, 0), true);
  assert.equal(utf8Clean(nul, 0, 3, REFUSE_NUL), false);
  assert.equal(utf8Clean(nul, 0, 3, REFUSE_U0000_ESCAPE), true);
  const esc = Buffer.from('{"a":"x\\u0000"}');
  assert.equal(utf8Clean(esc, 0, esc.length, REFUSE_U0000_ESCAPE), false);
  assert.equal(utf8Clean(esc, 0, esc.length, REFUSE_NUL), true);
  // Cut before its last digit, and other escapes: not the sequence.
  assert.equal(utf8Clean(esc, 0, esc.indexOf('0000') + 3, REFUSE_U0000_ESCAPE), true);
  const other = Buffer.from('{"a":"\\u0001\\n\\U0000"}');
  assert.equal(utf8Clean(other, 0, other.length, REFUSE_U0000_ESCAPE), true);
});

test('utf8Clean reads runs of ASCII four bytes a step and still finds every byte a flag refuses', () => {
  // Mostly ASCII (so runs take the four-byte path), with zero bytes, backslashes, parts of
  // `\u0000`, and well- and ill-formed multi-byte sequences at every alignment.
  const pieces = [
    ...'abcdefghij0123456789 {}":,'.split('').map((ch) => Buffer.from(ch)),
    Buffer.from([0x00]),
    Buffer.from('\\'),
    Buffer.from('\\u0000'),
    Buffer.from('\\u000'),
    Buffer.from('\\u0001'),
    Buffer.from('ü'),
    Buffer.from('東'),
    Buffer.from('😀'),
    Buffer.from([0xc3]),
    Buffer.from([0x80]),
    Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from([0xf4, 0x90, 0x80, 0x80]),
  ];
  const u0000 = Buffer.from('\\u0000');
  let seed = 11;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const seen = { valid: 0, nul: 0, esc: 0, bad: 0 };
  for (let i = 0; i < 100_000; i++) {
    const parts: Buffer[] = [];
    const count = Math.floor(rnd() * 40);
    for (let k = 0; k < count; k++) {
      const special = rnd() < 0.08;
      parts.push(special ? (pieces[26 + Math.floor(rnd() * (pieces.length - 26))] as Buffer) : (pieces[Math.floor(rnd() * 26)] as Buffer));
    }
    const body = Buffer.concat(parts);
    // At an arbitrary offset inside a larger buffer, between bytes that must not count.
    const pad = Math.floor(rnd() * 4);
    const b = Buffer.concat([Buffer.alloc(pad, 0xff), body, Buffer.from([0x00, 0xff])]);
    const well = isUtf8(body);
    const hasNul = body.includes(0);
    const hasEsc = body.includes(u0000);
    for (const flags of [0, REFUSE_NUL, REFUSE_U0000_ESCAPE, REFUSE_NUL | REFUSE_U0000_ESCAPE]) {
      const want = well && !((flags & REFUSE_NUL) !== 0 && hasNul) && !((flags & REFUSE_U0000_ESCAPE) !== 0 && hasEsc);
      assert.equal(utf8Clean(b, pad, pad + body.length, flags), want, `${body.toString('hex')} flags ${flags}`);
    }
    if (!well) seen.bad++;
    else if (hasEsc) seen.esc++;
    else if (hasNul) seen.nul++;
    else seen.valid++;
  }
  for (const [k, n] of Object.entries(seen)) assert.ok(n > 2_000, `the mix holds enough cases of ${k} (${n})`);
});
