/**
 * COPY text from values in text form (copy-text.ts) is
 * byte for byte the COPY text of the canonical values (pgCopyWriter), for every logical kind:
 * NULL, empty strings, tabs, newlines, carriage returns, backslashes, `\N` and `\.` as data,
 * U+0000 (stripped and counted), non-ASCII, JSON `\u0000` escapes, bytes as hex, BIT, zero dates
 * under every policy, ZEROFILL and YEAR text, FLOAT/DOUBLE text.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CopyTextEncoder } from '../../src/connectors/postgres/quote.js';
import { PieceBuffers, copyTextRowsEncoder } from '../../src/connectors/postgres/copy-text.js';
import { newLossStats, pgCopyWriter } from '../../src/connectors/postgres/type-map.js';
import { TextRowsBuilder, type TextRows } from '../../src/core/text-rows.js';
import type { Value } from '../../src/core/change.js';
import type { ZeroDatePolicy } from '../../src/core/config-types.js';
import type { ColumnSchema, LogicalType } from '../../src/core/schema.js';

function col(type: LogicalType): ColumnSchema {
  return { name: 'c', type, sourceType: '', nullable: true, defaultValue: null, generated: false };
}

const str: LogicalType = { kind: 'string', maxChars: 100, fixed: false, charset: 'utf8mb4', collation: null, lob: false };

/** [type, text form, canonical value]; text null = SQL NULL. */
const CASES: [LogicalType, Buffer | string | null, Value][] = [
  [{ kind: 'int', bits: 32, unsigned: false }, '0', 0],
  [{ kind: 'int', bits: 32, unsigned: false }, '-2147483648', -2147483648],
  [{ kind: 'int', bits: 32, unsigned: true }, '0000000042', 42], // ZEROFILL
  [{ kind: 'int', bits: 32, unsigned: true }, '0000000000', 0],
  [{ kind: 'int', bits: 64, unsigned: false }, '-9223372036854775808', -9223372036854775808n],
  [{ kind: 'int', bits: 64, unsigned: true }, '18446744073709551615', 18446744073709551615n],
  [{ kind: 'int', bits: 64, unsigned: true }, '00000000000000000007', 7],
  [{ kind: 'int', bits: 64, unsigned: false }, '9007199254740993', 9007199254740993n],
  [{ kind: 'int', bits: 8, unsigned: false }, null, null],
  [{ kind: 'year' }, '0000', 0],
  [{ kind: 'year' }, '2155', 2155],
  [{ kind: 'decimal', precision: 12, scale: 2, unsigned: false }, '-12.30', '-12.30'],
  [{ kind: 'decimal', precision: 65, scale: 30, unsigned: false }, '0.000000000000000000000000000001', '0.000000000000000000000000000001'],
  [{ kind: 'float' }, '3.4028234663852886e38', 3.4028234663852886e38],
  [{ kind: 'float' }, '0.10000000149011612', 0.10000000149011612],
  [{ kind: 'double' }, '-0', -0],
  [{ kind: 'double' }, '1e300', 1e300],
  [{ kind: 'double' }, '5e-324', 5e-324],
  [{ kind: 'bit', bits: 1 }, Buffer.from([1]), Buffer.from([1])],
  [{ kind: 'bit', bits: 10 }, Buffer.from([0x02, 0xff]), Buffer.from([0x02, 0xff])],
  [{ kind: 'bit', bits: 64 }, Buffer.alloc(8, 0xa5), Buffer.alloc(8, 0xa5)],
  [{ kind: 'date' }, '2024-02-29', '2024-02-29'],
  [{ kind: 'date' }, '0000-00-00', '0000-00-00'],
  [{ kind: 'date' }, '2024-00-10', '2024-00-10'],
  [{ kind: 'date' }, '2024-05-00', '2024-05-00'],
  [{ kind: 'datetime', fsp: 6 }, '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59.999999'],
  [{ kind: 'datetime', fsp: 0 }, '0000-00-00 00:00:00', '0000-00-00 00:00:00'],
  [{ kind: 'timestamp', fsp: 3 }, '2038-01-19 03:14:07.999', '2038-01-19 03:14:07.999'],
  [{ kind: 'timestamp', fsp: 0 }, '0000-00-00 00:00:00', '0000-00-00 00:00:00'],
  [{ kind: 'time', fsp: 6 }, '-838:59:59.000000', '-838:59:59.000000'],
  [str, '', ''],
  [str, 'plain ascii', 'plain ascii'],
  [str, 'tab\there\nnew\rline \\ back', 'tab\there\nnew\rline \\ back'],
  [str, '\\N', '\\N'],
  [str, '\\.', '\\.'],
  [str, 'nul\u0000in\u0000', 'nul\u0000in\u0000'],
  [str, 'Zürich 東京 😀', 'Zürich 東京 😀'],
  [str, 'x'.repeat(300) + '\t' + 'y'.repeat(300), 'x'.repeat(300) + '\t' + 'y'.repeat(300)],
  [str, null, null],
  [{ kind: 'enum', values: ['a', 'b'] }, 'b', 'b'],
  [{ kind: 'enum', values: ['a', 'b'] }, '', ''],
  [{ kind: 'set', values: ['a', 'b'] }, 'a,b', 'a,b'],
  [{ kind: 'json' }, '{"k": 1, "s": "grün"}', '{"k": 1, "s": "grün"}'],
  [{ kind: 'json' }, '{"a": "x\\u0000y", "b": "\\\\u0000", "c": "\\\\\\u0000z", "d": "\\u00001"}', '{"a": "x\\u0000y", "b": "\\\\u0000", "c": "\\\\\\u0000z", "d": "\\u00001"}'],
  [{ kind: 'json' }, '"tab\\tand\\nnewline"', '"tab\\tand\\nnewline"'],
  [{ kind: 'json' }, '"a\tb\nc"', '"a\tb\nc"'],
  [{ kind: 'json' }, '"\\\\"', '"\\\\"'],
  [{ kind: 'json' }, '"\\u000"', '"\\u000"'],
  [{ kind: 'binary', maxBytes: 10, fixed: false, lob: false }, Buffer.from([]), Buffer.from([])],
  [{ kind: 'binary', maxBytes: 10, fixed: false, lob: false }, Buffer.from([0, 9, 10, 13, 92, 255]), Buffer.from([0, 9, 10, 13, 92, 255])],
  [{ kind: 'binary', maxBytes: null, fixed: false, lob: true }, Buffer.alloc(1000, 0x7f), Buffer.alloc(1000, 0x7f)],
  [{ kind: 'geometry', subtype: 'point' }, Buffer.from('000000000101000000000000000000f03f000000000000f03f', 'hex'), Buffer.from('000000000101000000000000000000f03f000000000000f03f', 'hex')],
  [{ kind: 'uuid' }, '123e4567-e89b-12d3-a456-426614174000', '123e4567-e89b-12d3-a456-426614174000'],
  [{ kind: 'inet6' }, '::ffff:1.2.3.4', '::ffff:1.2.3.4'],
  [{ kind: 'inet4' }, null, null],
  // Every special at every offset of a word, next to bytes >= 0x80 and bytes just above 0x0d.
  ...['\\', '\t', '\n', '\r', '\u0000', '\u000e', '\u001f', 'é', '😀', '\u007f', '[', ']'].flatMap((c) =>
    Array.from({ length: 18 }, (_, k): [LogicalType, string, Value] => {
      const v = 'abcdéfgh\u000eqrstuvwx'.slice(0, k) + c + 'ijklmnop]\u000eABCDEFGHI'.slice(k % 9);
      return [str, v, v];
    }),
  ),
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((k): [LogicalType, string, Value] => {
    const v = '"' + 'x'.repeat(k) + '\\u0000' + '\\\\u0000'.repeat(k % 3) + 'y'.repeat(8 - k) + '\t\\"';
    return [{ kind: 'json' }, v, v];
  }),
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 17].map((n): [LogicalType, Buffer, Value] => [{ kind: 'binary', maxBytes: 10, fixed: false, lob: false }, Buffer.alloc(n, 0x9c), Buffer.alloc(n, 0x9c)]),
  [{ kind: 'decimal', precision: 30, scale: 10, unsigned: false }, '-12345678901234567890.1234567890', '-12345678901234567890.1234567890'],
  ...['1', '12', '123', '1234', '12345', '123456', '1234567', '12345678', '123456789', '-1234567890123'].map((v): [LogicalType, string, Value] => [
    { kind: 'decimal', precision: 30, scale: 0, unsigned: false },
    v,
    v,
  ]),
  // Every byte value through hex, at every alignment of a word.
  ...[0, 1, 2, 3].map((k): [LogicalType, Buffer, Value] => {
    const all = Buffer.from(Array.from({ length: 256 + k }, (_, i) => (i * 7 + k) & 255));
    return [{ kind: 'binary', maxBytes: null, fixed: false, lob: true }, all, all];
  }),
];

const INT: LogicalType = { kind: 'int', bits: 32, unsigned: false };

/** Rows of text values (strings as UTF-8), each value inside a larger buffer as in a result set. */
function textRows(rows: (Buffer | string | null)[][]): TextRows {
  const builder = new TextRowsBuilder(rows[0]?.length ?? 0, 1);
  for (const row of rows) {
    // Junk around and between the values; rows alternate between sharing a buffer and not.
    const parts: Buffer[] = [Buffer.from('\t\\xx')];
    const at: [number, number][] = [];
    let n = 4;
    for (const v of row) {
      const b = v === null ? Buffer.alloc(0) : Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8');
      at.push([n, n + b.length]);
      parts.push(b, Buffer.from('\n\\y'));
      n += b.length + 3;
    }
    builder.beginRow(Buffer.concat(parts));
    row.forEach((v, i) => (v === null ? builder.nullValue() : builder.value(...(at[i] as [number, number]))));
    builder.endRow();
  }
  return builder.finish();
}

function viaText(type: LogicalType, text: Buffer | string | null, policy: ZeroDatePolicy, isKey: boolean, pieceBytes: number): { bytes: string; stats: object } {
  const stats = newLossStats();
  // A column before, so the separator is exercised; the value twice, in two rows.
  const enc = copyTextRowsEncoder([col(INT), col(type)], policy, isKey ? [1] : [], pieceBytes);
  const pieces = enc.encode(textRows([['7', text], ['8', text]]), stats);
  return { bytes: Buffer.concat(pieces).toString('latin1'), stats };
}

function viaValue(type: LogicalType, v: Value, policy: ZeroDatePolicy, isKey: boolean, pieceBytes: number): { bytes: string; stats: object } {
  const stats = newLossStats();
  const w = pgCopyWriter(col(type), stats, policy, isKey);
  const out = new CopyTextEncoder(pieceBytes);
  for (const n of [7, 8]) {
    out.fieldInt(n);
    w(out, v);
    out.endRow();
  }
  return { bytes: Buffer.concat(out.finish()).toString('latin1'), stats };
}

function outcome(f: () => { bytes: string; stats: object }): { bytes?: string; stats?: object; error?: string } {
  try {
    return f();
  } catch (e) {
    return { error: (e as { code?: string }).code ?? String(e) };
  }
}

describe('COPY text from values in text form', () => {
  it('is byte for byte the COPY text of the canonical value, for every kind and zero-date policy', () => {
    for (const [type, text, value] of CASES) {
      for (const policy of ['null', '-infinity', 'fail'] as const) {
        for (const isKey of [false, true]) {
          for (const pieceBytes of [16, 256 * 1024]) {
            assert.deepEqual(
              outcome(() => viaText(type, text, policy, isKey, pieceBytes)),
              outcome(() => viaValue(type, value, policy, isKey, pieceBytes)),
              `${JSON.stringify(type)} ${JSON.stringify(Buffer.isBuffer(text) ? text.toString('hex') : text)} zero-date ${policy}${isKey ? ' key' : ''} piece ${pieceBytes}`,
            );
          }
        }
      }
    }
  });

  it('escapes exactly the COPY specials and strips and counts U+0000 in text', () => {
    const stats = newLossStats();
    const pieces = copyTextRowsEncoder([col(str)], 'null', []).encode(textRows([['a\tb\nc\rd\\e\u0000f']]), stats);
    assert.equal(Buffer.concat(pieces).toString('utf8'), 'a\\tb\\nc\\rd\\\\ef\n');
    assert.equal(stats.nulCharsStripped, 1);
  });

  it('removes JSON \\u0000 escapes (an odd run of backslashes) and counts them', () => {
    const stats = newLossStats();
    const pieces = copyTextRowsEncoder([col({ kind: 'json' })], 'null', []).encode(textRows([['["\\u0000", "\\\\u0000", "\\\\\\u0000"]']]), stats);
    // COPY doubles every backslash that stays.
    assert.equal(Buffer.concat(pieces).toString('utf8'), '["", "\\\\\\\\u0000", "\\\\\\\\"]\n');
    assert.equal(stats.nulCharsStripped, 2);
  });

  it('writes bytes as bytea hex input and NULL as \\N, and starts a new piece when one is full', () => {
    const pieces = copyTextRowsEncoder([col({ kind: 'binary', maxBytes: 10, fixed: false, lob: false }), col(str)], 'null', [], 8).encode(
      textRows([
        [Buffer.from([0x00, 0xab, 0xff]), null],
        [Buffer.from([]), ''],
      ]),
      newLossStats(),
    );
    assert.ok(pieces.length > 1);
    assert.equal(Buffer.concat(pieces).toString('latin1'), '\\\\x00abff\t\\N\n\\\\x\t\n');
  });

  it('reuses piece buffers given back, and the bytes stay right', () => {
    // Pieces larger than Node's buffer pool: each has an ArrayBuffer of its own.
    const pool = new PieceBuffers(5000);
    const enc = copyTextRowsEncoder([col(str)], 'null', [], 5000);
    const rows = textRows(Array.from({ length: 40 }, (_, i) => [`row ${i} \t ${'x'.repeat(i * 20)}`]));
    const expected = Buffer.concat(enc.encode(rows, newLossStats())).toString('latin1');
    const first = enc.encode(rows, newLossStats(), pool);
    const firstBytes = Buffer.concat(first).toString('latin1');
    pool.give(first);
    const second = enc.encode(rows, newLossStats(), pool);
    assert.equal(firstBytes, expected);
    assert.equal(Buffer.concat(second).toString('latin1'), expected);
    assert.ok(first.length > 2);
    assert.ok(second.every((p) => first.some((q) => q.buffer === p.buffer)), 'the buffers were reused');
  });
});
