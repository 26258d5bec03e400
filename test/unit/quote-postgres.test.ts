import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CopyTextEncoder, copyTextField, quotePgIdent, quotePgTable } from '../../src/connectors/postgres/quote.js';
import { newLossStats, pgCopyWriter, pgEncoder } from '../../src/connectors/postgres/type-map.js';
import type { Value } from '../../src/core/change.js';
import type { ColumnSchema, LogicalType } from '../../src/core/schema.js';
import { isFerryError } from '../../src/core/errors.js';

const HOSTILE_NAMES = [
  'plain',
  'a"b',
  '""',
  '"; DROP TABLE t; --',
  "o'neil",
  'a`b',
  'd.o.t',
  '100%_like',
  'back\\slash',
  'new\nline',
  'ünïcødé 😀',
  'select',
  'user',
  'Mixed Case',
  '$1',
  'U&"\\0041"',
];

function readQuotedIdent(s: string): { name: string; rest: string } {
  assert.equal(s[0], '"');
  let name = '';
  let i = 1;
  for (;;) {
    const c = s[i];
    assert.ok(c !== undefined, 'unterminated identifier');
    if (c === '"') {
      if (s[i + 1] === '"') {
        name += '"';
        i += 2;
        continue;
      }
      return { name, rest: s.slice(i + 1) };
    }
    name += c;
    i++;
  }
}

test('quotePgIdent: hostile names round trip as exactly one identifier (injection)', () => {
  for (const n of HOSTILE_NAMES) {
    const { name, rest } = readQuotedIdent(quotePgIdent(n));
    assert.equal(name, n);
    assert.equal(rest, '');
  }
  assert.equal(quotePgTable('s.x', 't"t'), '"s.x"."t""t"');
});

test('quotePgIdent refuses names PostgreSQL would truncate silently (over 63 bytes)', () => {
  assert.equal(quotePgIdent('x'.repeat(63)), `"${'x'.repeat(63)}"`);
  assert.throws(() => quotePgIdent('x'.repeat(64)), (e) => isFerryError(e, 'FERRY_SINK_WRITE') && /63/.test(e.message) && e.fix !== undefined);
  // 32 two-byte characters = 64 bytes, although only 32 characters.
  assert.throws(() => quotePgIdent('é'.repeat(32)), (e) => isFerryError(e, 'FERRY_SINK_WRITE'));
  assert.equal(quotePgIdent('é'.repeat(31)), `"${'é'.repeat(31)}"`);
});

test('quotePgIdent refuses empty names and U+0000', () => {
  assert.throws(() => quotePgIdent(''), (e) => isFerryError(e, 'FERRY_SINK_WRITE'));
  assert.throws(() => quotePgIdent('a\u0000'), (e) => isFerryError(e, 'FERRY_SINK_WRITE'));
});

/** Decodes a COPY text field the way PostgreSQL does (the subset copyTextField produces). */
function decodeCopyField(f: string): string | null {
  if (f === '\\N') return null;
  const map: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\' };
  let out = '';
  for (let i = 0; i < f.length; i++) {
    const c = f[i] as string;
    assert.notEqual(c, '\t', 'a raw tab would split the field');
    assert.notEqual(c, '\n', 'a raw newline would end the row');
    assert.notEqual(c, '\r', 'a raw CR would end the row');
    if (c === '\\') {
      const e = f[++i] as string;
      assert.ok(e in map, `unexpected escape \\${e}`);
      out += map[e];
    } else out += c;
  }
  return out;
}

test('copyTextField escapes backslash, tab, newline, CR; NULL is \\N', () => {
  assert.equal(copyTextField(null), '\\N');
  assert.equal(copyTextField('\\N'), '\\\\N');
  assert.equal(copyTextField('\\.'), '\\\\.');
  assert.equal(copyTextField('a\tb\nc\rd\\e'), 'a\\tb\\nc\\rd\\\\e');
  assert.equal(copyTextField(Buffer.from([0, 0xab])), '\\\\x00ab');
  const alphabet = ['\\', '\t', '\n', '\r', 'N', '.', 'x', 'é', '😀', ' '];
  for (let k = 0; k < 2000; k++) {
    let s = '';
    for (let j = 0; j < Math.floor(Math.random() * 10); j++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
    assert.equal(decodeCopyField(copyTextField(s)), s);
  }
});

test('CopyTextEncoder writes exactly the bytes of copyTextField rows, across piece boundaries and for long values', () => {
  const alphabet = ['\\', '\t', '\n', '\r', 'N', '.', 'x', 'é', '😀', ' ', 'a'];
  const values: (string | Buffer | null)[] = [null, '', '\\N', Buffer.alloc(0), Buffer.from([0, 0x0f, 0xf0, 0xff]), 'x'.repeat(5000), '😀'.repeat(3000), Buffer.alloc(3000, 0xab)];
  for (let k = 0; k < 3000; k++) {
    const r = Math.random();
    if (r < 0.1) values.push(null);
    else if (r < 0.2) values.push(Buffer.from(Array.from({ length: Math.floor(Math.random() * 40) }, () => Math.floor(Math.random() * 256))));
    else {
      let s = '';
      for (let j = 0; j < Math.floor(Math.random() * 30); j++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
      values.push(s);
    }
  }
  for (const pieceBytes of [64, 1000, 256 * 1024]) {
    for (const width of [1, 3, 7]) {
      const enc = new CopyTextEncoder(pieceBytes);
      const pieces: Buffer[] = [];
      let want = '';
      for (let i = 0; i < values.length; i += width) {
        const row = values.slice(i, i + width);
        want += row.map(copyTextField).join('\t') + '\n';
        for (const v of row) enc.field(v);
        enc.endRow();
        if (enc.hasPieces) pieces.push(...enc.takePieces());
      }
      pieces.push(...enc.finish());
      assert.ok(pieces.every((p) => p.length > 0), 'no empty piece');
      assert.equal(Buffer.concat(pieces).toString('utf8'), want, `pieces of ${pieceBytes} bytes, ${width} fields per row`);
    }
  }
});

test('pgCopyWriter writes exactly field(pgEncoder(v)) for every kind of column, and counts the same losses', () => {
  const types: LogicalType[] = [
    { kind: 'int', bits: 32, unsigned: false },
    { kind: 'int', bits: 64, unsigned: true },
    { kind: 'year' },
    { kind: 'decimal', precision: 12, scale: 2, unsigned: false },
    { kind: 'double' },
    { kind: 'string', maxChars: 100, fixed: false, charset: 'utf8mb4', collation: null, lob: false },
    { kind: 'enum', values: ['a', 'b'] },
    { kind: 'json' },
    { kind: 'binary', maxBytes: null, fixed: false, lob: true },
    { kind: 'datetime', fsp: 6 },
    { kind: 'timestamp', fsp: 0 },
    { kind: 'date' },
  ];
  const values: Value[] = [
    null, 0, -0, 1, -1, 9, 10, -10, 99, 100, 123456789, -2147483648, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 1.5, -0.25, 1e21, 12345678901234567890n, -5n,
    '', 'plain', 'tab\there', 'nl\n', 'cr\r', 'back\\slash', 'nul\u0000char', 'é😀', '{"a": "x\\u0000y", "b": 1}', '{"a": 1}', '2024-01-02 03:04:05.123456', '0000-00-00 00:00:00', '2024-00-10',
    Buffer.from([]), Buffer.from([0, 9, 10, 92, 255]),
  ];
  for (const type of types) {
    const col: ColumnSchema = { name: 'c', type, sourceType: 'x', nullable: true, defaultValue: null, generated: false };
    const s1 = newLossStats();
    const s2 = newLossStats();
    const enc = pgEncoder(col, s1);
    const write = pgCopyWriter(col, s2);
    for (const v of values) {
      let want: string | Error;
      try {
        want = copyTextField(enc(v));
      } catch (e) {
        want = e as Error;
      }
      const out = new CopyTextEncoder(64);
      if (want instanceof Error) {
        assert.throws(() => write(out, v), { message: want.message });
        continue;
      }
      write(out, v);
      out.endRow();
      assert.equal(Buffer.concat(out.finish()).toString('utf8'), want + '\n', `${type.kind} ${typeof v} ${String(v)}`);
    }
    assert.deepEqual(s2, s1, `${type.kind}: loss counts`);
  }
});
