/**
 * COPY binary from values in text form (copy-binary.ts): the header, row and trailer framing,
 * and each kind's binary form checked against values computed here independently (integers of
 * every width up to the int64 edges, numeric base-10000 digits, days and microseconds from
 * PostgreSQL's epoch by Date.UTC, intervals from MySQL TIME), zero dates under every policy,
 * a date the calendar does not have (null: the chunk goes as text), and the kinds that keep a
 * table in text. That PostgreSQL stores what the text format stores is
 * test/integration/snapshot-text.test.ts's job.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { binaryTypeNames, copyBinaryRowsEncoder, copyBinaryValuesEncoder } from '../../src/connectors/postgres/copy-binary.js';
import type { Row, Value } from '../../src/core/change.js';
import { newLossStats } from '../../src/connectors/postgres/type-map.js';
import { TextRowsBuilder, type TextRows } from '../../src/core/text-rows.js';
import type { ZeroDatePolicy } from '../../src/core/config-types.js';
import type { ColumnSchema, LogicalType } from '../../src/core/schema.js';

function col(type: LogicalType): ColumnSchema {
  return { name: 'c', type, sourceType: '', nullable: true, defaultValue: null, generated: false };
}

const str: LogicalType = { kind: 'string', maxChars: 100, fixed: false, charset: 'utf8mb4', collation: null, lob: false };

/** One-column rows of these text forms (null = SQL NULL), in one shared buffer. */
function rowsOf(values: (string | Buffer | null)[]): TextRows {
  const bufs = values.map((v) => (v === null ? Buffer.alloc(0) : Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8')));
  const all = Buffer.concat([Buffer.from('xx'), ...bufs]); // values not at offset 0
  const b = new TextRowsBuilder(1);
  let at = 2;
  values.forEach((v, i) => {
    b.beginRow(all);
    const n = (bufs[i] as Buffer).length;
    if (v === null) b.nullValue();
    else b.value(at, at + n);
    at += n;
    b.endRow();
  });
  return b.finish();
}

/** Parses a COPY binary stream into rows of fields (null = NULL). */
function parse(stream: Buffer): (Buffer | null)[][] {
  assert.equal(stream.subarray(0, 11).toString('latin1'), 'PGCOPY\n\xff\r\n\0');
  assert.equal(stream.readInt32BE(11), 0);
  assert.equal(stream.readInt32BE(15), 0);
  let p = 19;
  const rows: (Buffer | null)[][] = [];
  for (;;) {
    const n = stream.readInt16BE(p);
    p += 2;
    if (n === -1) break;
    const row: (Buffer | null)[] = [];
    for (let i = 0; i < n; i++) {
      const len = stream.readInt32BE(p);
      p += 4;
      if (len === -1) row.push(null);
      else {
        row.push(stream.subarray(p, p + len));
        p += len;
      }
    }
    rows.push(row);
  }
  assert.equal(p, stream.length, 'nothing after the trailer');
  return rows;
}

function encode(type: LogicalType, values: (string | Buffer | null)[], policy: ZeroDatePolicy = 'null', key = false, pieceBytes = 64) {
  const enc = copyBinaryRowsEncoder([col(type)], policy, key ? [0] : [], pieceBytes);
  assert.ok(enc, `${type.kind} is encoded in binary`);
  const stats = newLossStats();
  const pieces = enc.encode(rowsOf(values), stats);
  return { fields: pieces === null ? null : parse(Buffer.concat(pieces)).map((r) => r[0] as Buffer | null), stats };
}

function int64Of(b: Buffer | null): bigint {
  assert.ok(b);
  assert.equal(b.length, 8);
  return b.readBigInt64BE(0);
}

/** PostgreSQL numeric binary form: [ndigits, weight, sign, dscale, ...digits]. */
function numericOf(b: Buffer | null): number[] {
  assert.ok(b);
  const out: number[] = [];
  for (let p = 0; p < b.length; p += 2) out.push(p === 4 ? b.readUInt16BE(p) : b.readInt16BE(p));
  return out;
}

const MS_2000 = Date.UTC(2000, 0, 1);
/** Microseconds since 2000-01-01 UTC of an ISO time, plus extra microseconds. */
function micros(iso: string, extra = 0): bigint {
  return BigInt(Date.parse(iso + 'Z') - MS_2000) * 1000n + BigInt(extra);
}

describe('COPY binary from text forms', () => {
  it('integers of every width, with signs, ZEROFILL and beyond 2^53', () => {
    const i16 = encode({ kind: 'int', bits: 16, unsigned: false }, ['-32768', '32767', '0']).fields;
    assert.deepEqual(i16?.map((b) => b?.readInt16BE(0)), [-32768, 32767, 0]);
    assert.deepEqual(i16?.map((b) => b?.length), [2, 2, 2]);
    // SMALLINT UNSIGNED and INT are integer; INT UNSIGNED is bigint (pgColumnType).
    assert.deepEqual(encode({ kind: 'int', bits: 16, unsigned: true }, ['65535']).fields?.map((b) => b?.readInt32BE(0)), [65535]);
    assert.deepEqual(encode({ kind: 'int', bits: 32, unsigned: false }, ['-2147483648', '0000000042']).fields?.map((b) => b?.readInt32BE(0)), [-2147483648, 42]);
    assert.deepEqual(encode({ kind: 'int', bits: 32, unsigned: true }, ['4294967295']).fields?.map(int64Of), [4294967295n]);
    assert.deepEqual(
      encode({ kind: 'int', bits: 64, unsigned: false }, ['-9223372036854775808', '9223372036854775807', '9007199254740993', '-1', null]).fields?.map((b) => (b === null ? null : int64Of(b))),
      [-9223372036854775808n, 9223372036854775807n, 9007199254740993n, -1n, null],
    );
    assert.deepEqual(encode({ kind: 'year' }, ['0000', '2155']).fields?.map((b) => b?.readInt16BE(0)), [0, 2155]);
  });

  it('numeric: base-10000 digits, weight, sign and display scale', () => {
    const dec = (precision: number, scale: number, v: string) => numericOf((encode({ kind: 'decimal', precision, scale, unsigned: false }, [v]).fields ?? [])[0] ?? null);
    assert.deepEqual(dec(10, 3, '-12345.678'), [3, 1, 0x4000, 3, 1, 2345, 6780]);
    assert.deepEqual(dec(10, 3, '0.001'), [1, -1, 0, 3, 10]);
    assert.deepEqual(dec(12, 2, '0.00'), [0, 0, 0, 2]);
    assert.deepEqual(dec(12, 2, '-0.00'), [0, 0, 0, 2]);
    assert.deepEqual(dec(12, 0, '100000000'), [1, 2, 0, 0, 1]);
    assert.deepEqual(dec(65, 30, '0.000000000000000000000000000001'), [1, -8, 0, 30, 100]);
    assert.deepEqual(dec(12, 2, '1234.50'), [2, 0, 0, 2, 1234, 5000]);
    // BIGINT UNSIGNED is numeric(20,0).
    assert.deepEqual(numericOf((encode({ kind: 'int', bits: 64, unsigned: true }, ['18446744073709551615']).fields ?? [])[0] ?? null), [5, 4, 0, 0, 1844, 6744, 737, 955, 1615]);
    assert.deepEqual(numericOf((encode({ kind: 'int', bits: 64, unsigned: true }, ['00000000000000000007']).fields ?? [])[0] ?? null), [1, 0, 0, 0, 7]);
  });

  it('double: the correctly rounded number of the text', () => {
    const f = encode({ kind: 'double' }, ['0.1', '-0', '1.7976931348623157e308', '5e-324']).fields;
    assert.deepEqual(f?.map((b) => b?.readDoubleBE(0)), [0.1, -0, 1.7976931348623157e308, 5e-324]);
    assert.ok(Object.is(f?.[1]?.readDoubleBE(0), -0));
  });

  it('dates and timestamps: days and microseconds from 2000-01-01, exact far from it', () => {
    const d = encode({ kind: 'date' }, ['2000-01-01', '1999-12-31', '1000-01-01', '9999-12-31', '2024-02-29']).fields;
    const days = (iso: string) => (Date.parse(iso + 'T00:00:00Z') - MS_2000) / 86400000;
    assert.deepEqual(d?.map((b) => b?.readInt32BE(0)), ['2000-01-01', '1999-12-31', '1000-01-01', '9999-12-31', '2024-02-29'].map(days));
    for (const kind of ['datetime', 'timestamp'] as const) {
      const t = encode({ kind, fsp: 6 }, ['2000-01-01 00:00:00.000001', '1970-01-01 00:00:00', '1000-01-01 00:00:00.5', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:08']).fields;
      assert.deepEqual(t?.map(int64Of), [
        1n,
        micros('1970-01-01T00:00:00'),
        micros('1000-01-01T00:00:00', 500000),
        micros('9999-12-31T23:59:59', 999999),
        micros('2038-01-19T03:14:08'),
      ]);
    }
    assert.deepEqual(encode({ kind: 'datetime', fsp: 3 }, ['2024-02-29 12:00:00.123']).fields?.map(int64Of), [micros('2024-02-29T12:00:00', 123000)]);
  });

  it('zero dates under every policy, counted; -infinity in a key', () => {
    const zero = ['0000-00-00', '2024-00-10', '2024-05-00'];
    let r = encode({ kind: 'date' }, zero, 'null');
    assert.deepEqual(r.fields, [null, null, null]);
    assert.equal(r.stats.zeroDatesReplaced, 3);
    r = encode({ kind: 'date' }, zero, '-infinity');
    assert.deepEqual(r.fields?.map((b) => b?.readInt32BE(0)), [-2147483648, -2147483648, -2147483648]);
    r = encode({ kind: 'datetime', fsp: 0 }, ['0000-00-00 00:00:00'], 'null', true);
    assert.deepEqual(r.fields?.map(int64Of), [-9223372036854775808n]);
    assert.throws(() => encode({ kind: 'timestamp', fsp: 0 }, ['0000-00-00 00:00:00'], 'fail'), /zero date/);
  });

  it('a date the calendar does not have: null, nothing counted (the chunk goes as text)', () => {
    for (const [type, v] of [
      [{ kind: 'date' }, '2023-02-29'],
      [{ kind: 'date' }, '2024-04-31'],
      [{ kind: 'datetime', fsp: 0 }, '2024-13-01 00:00:00'],
      [{ kind: 'datetime', fsp: 0 }, '2024-01-01 24:00:00'],
    ] as [LogicalType, string][]) {
      const r = encode(type, ['2024-01-01' + (type.kind === 'date' ? '' : ' 00:00:00'), '0000-00-00' + (type.kind === 'date' ? '' : ' 00:00:00'), v]);
      assert.equal(r.fields, null, v);
      assert.equal(r.stats.zeroDatesReplaced, 0, v);
    }
  });

  it('TIME as interval microseconds, the sign over the whole value', () => {
    const f = encode({ kind: 'time', fsp: 1 }, ['838:59:59.0', '-838:59:59.5', '00:00:00.0', '-00:00:01.5']).fields;
    const us = (h: number, m: number, s: number, frac: number) => BigInt(((h * 60 + m) * 60 + s) * 1e6 + frac);
    assert.deepEqual(
      f?.map((b) => [b?.readBigInt64BE(0), b?.readInt32BE(8), b?.readInt32BE(12)]),
      [
        [us(838, 59, 59, 0), 0, 0],
        [-us(838, 59, 59, 500000), 0, 0],
        [0n, 0, 0],
        [-us(0, 0, 1, 500000), 0, 0],
      ],
    );
  });

  it('text, JSON and bytes as they are, across piece boundaries; jsonb gets its version byte', () => {
    const long = 'é😀 tab\there\nnew line \\ back '.repeat(20);
    const f = encode(str, ['', 'Zürich', long, null]).fields;
    assert.deepEqual(f?.map((b) => b?.toString('utf8') ?? null), ['', 'Zürich', long, null]);
    const j = encode({ kind: 'json' }, ['{"a": "x\\ty"}', '[]']).fields;
    assert.deepEqual(j?.map((b) => [b?.[0], b?.subarray(1).toString('utf8')]), [[1, '{"a": "x\\ty"}'], [1, '[]']]);
    const bytes = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256));
    const b = encode({ kind: 'binary', maxBytes: 300, fixed: false, lob: true }, [bytes, Buffer.alloc(0), Buffer.from([0, 0x5c, 0xff])]).fields;
    assert.deepEqual(b, [bytes, Buffer.alloc(0), Buffer.from([0, 0x5c, 0xff])]);
  });

  it('FLOAT, BIT, UUID and INET keep the table in text format', () => {
    for (const t of [{ kind: 'float' }, { kind: 'bit', bits: 3 }, { kind: 'uuid' }, { kind: 'inet4' }, { kind: 'inet6' }] as LogicalType[]) {
      assert.equal(copyBinaryRowsEncoder([col({ kind: 'int', bits: 32, unsigned: false }), col(t)], 'null', [0]), null, t.kind);
    }
  });
});

/** Stream rows (canonical values) of one column through the value encoder. */
function encodeValues(type: LogicalType, values: Value[], policy: ZeroDatePolicy = 'null', key = false, pieceBytes = 64) {
  const enc = copyBinaryValuesEncoder([col({ kind: 'int', bits: 32, unsigned: false }), col(type)], policy, key ? [1] : [0], pieceBytes);
  const stats = newLossStats();
  const rows: Row[] = values.map((v, i) => [i, v]);
  // Only the second column present: the encoder writes the columns it is told are there.
  const pieces = enc.encode(rows, [1], stats);
  return { fields: pieces === null ? null : parse(Buffer.concat(pieces)).map((r) => r[0] as Buffer | null), stats };
}

describe('COPY binary from stream values', () => {
  const str100: LogicalType = str;
  // [type, stream values, the same values in the text form a snapshot reads]
  const cases: [LogicalType, Value[], (string | null)[]][] = [
    [{ kind: 'int', bits: 16, unsigned: false }, [-32768, 32767, 0, null], ['-32768', '32767', '0', null]],
    [{ kind: 'int', bits: 32, unsigned: false }, [-2147483648, 2147483647, -0], ['-2147483648', '2147483647', '0']],
    [{ kind: 'int', bits: 32, unsigned: true }, [4294967295], ['4294967295']],
    [{ kind: 'int', bits: 64, unsigned: false }, [-9223372036854775808n, 9223372036854775807n, 9007199254740991, -1], ['-9223372036854775808', '9223372036854775807', '9007199254740991', '-1']],
    [{ kind: 'int', bits: 64, unsigned: true }, [18446744073709551615n, 7], ['18446744073709551615', '7']],
    [{ kind: 'year' }, [0, 2155], ['0', '2155']],
    [{ kind: 'decimal', precision: 12, scale: 2, unsigned: false }, ['-12345.67', '0.00', '-0.00', '1234.50'], ['-12345.67', '0.00', '-0.00', '1234.50']],
    [{ kind: 'decimal', precision: 65, scale: 30, unsigned: false }, ['0.000000000000000000000000000001'], ['0.000000000000000000000000000001']],
    [{ kind: 'double' }, [0.1, -0, 1.7976931348623157e308, 5e-324], ['0.1', '-0', '1.7976931348623157e308', '5e-324']],
    [{ kind: 'date' }, ['2000-01-01', '1000-01-01', '9999-12-31'], ['2000-01-01', '1000-01-01', '9999-12-31']],
    [{ kind: 'datetime', fsp: 6 }, ['2024-01-04 07:10:00.705000', '1970-01-01 00:00:00'], ['2024-01-04 07:10:00.705000', '1970-01-01 00:00:00']],
    [{ kind: 'timestamp', fsp: 3 }, ['2038-01-19 03:14:08.123'], ['2038-01-19 03:14:08.123']],
    [{ kind: 'time', fsp: 1 }, ['838:59:59.0', '-00:00:01.5'], ['838:59:59.0', '-00:00:01.5']],
    [str100, ['Zürich customer 1', '東京 🚀', '', 'tab\there\\back'], ['Zürich customer 1', '東京 🚀', '', 'tab\there\\back']],
    [{ kind: 'enum', values: ['new', 'paid'] }, ['paid', ''], ['paid', '']],
    [{ kind: 'json' }, ['{"k": 1, "s": "é\\n"}'], ['{"k": 1, "s": "é\\n"}']],
    [{ kind: 'binary', maxBytes: 255, fixed: false, lob: true }, [Buffer.from([0, 1, 2, 255]), Buffer.alloc(300, 7)], [null, null]],
  ];

  it('writes the bytes the snapshot encoder writes for the same values in text form', () => {
    for (const [type, values, texts] of cases) {
      const fromValues = encodeValues(type, values);
      const textForms = type.kind === 'binary' ? (values as (Buffer | null)[]) : texts;
      const fromText = encode(type, textForms);
      assert.ok(fromValues.fields, `${type.kind} values are encoded`);
      assert.deepEqual(fromValues.fields, fromText.fields, `${type.kind}: ${JSON.stringify(texts)}`);
    }
  });

  it('U+0000 in text and \\u0000 in JSON are removed and counted, as the text path does', () => {
    let r = encodeValues(str, ['a\u0000b\u0000', 'plain']);
    assert.deepEqual(r.fields?.map((b) => b?.toString('utf8')), ['ab', 'plain']);
    assert.equal(r.stats.nulCharsStripped, 2);
    r = encodeValues({ kind: 'json' }, ['{"a": "x\\u0000y"}']);
    assert.deepEqual(r.fields?.map((b) => b?.subarray(1).toString('utf8')), ['{"a": "xy"}']);
    assert.equal(r.fields?.[0]?.[0], 1, 'jsonb version byte');
    assert.equal(r.stats.nulCharsStripped, 1);
  });

  it('zero dates under every policy, counted; -infinity in a key; fail throws', () => {
    let r = encodeValues({ kind: 'date' }, ['0000-00-00', '2024-00-10'], 'null');
    assert.deepEqual(r.fields, [null, null]);
    assert.equal(r.stats.zeroDatesReplaced, 2);
    r = encodeValues({ kind: 'date' }, ['2024-05-00'], '-infinity');
    assert.deepEqual(r.fields?.map((b) => b?.readInt32BE(0)), [-2147483648]);
    r = encodeValues({ kind: 'datetime', fsp: 0 }, ['0000-00-00 00:00:00'], 'null', true);
    assert.deepEqual(r.fields?.map(int64Of), [-9223372036854775808n]);
    assert.throws(() => encodeValues({ kind: 'timestamp', fsp: 0 }, ['0000-00-00 00:00:00'], 'fail'), /zero date/);
  });

  it('values without an exact binary form here: null, nothing counted (the rows go as text)', () => {
    for (const [type, v] of [
      [{ kind: 'int', bits: 16, unsigned: false }, 40000],
      [{ kind: 'int', bits: 32, unsigned: false }, 2147483648],
      [{ kind: 'int', bits: 32, unsigned: false }, 1.5],
      [{ kind: 'int', bits: 64, unsigned: false }, 9223372036854775808n],
      [{ kind: 'int', bits: 32, unsigned: false }, '12'],
      [{ kind: 'double' }, '0.1'],
      [{ kind: 'decimal', precision: 12, scale: 2, unsigned: false }, '1e5'],
      [{ kind: 'decimal', precision: 12, scale: 2, unsigned: false }, '١٢'],
      [{ kind: 'date' }, '2023-02-29'],
      [{ kind: 'datetime', fsp: 0 }, '2024-01-01 24:00:00'],
      [{ kind: 'datetime', fsp: 0 }, Buffer.from('2024-01-01 00:00:00')],
    ] as [LogicalType, Value][]) {
      const r = encodeValues(type, ['0000-00-00'].includes(String(v)) ? [v] : [null, v]);
      assert.equal(r.fields, null, `${type.kind} ${String(v)}`);
      assert.equal(r.stats.zeroDatesReplaced + r.stats.nulCharsStripped, 0);
    }
    // A zero date counted before a bad value in the same rows is not counted either.
    const r = encodeValues({ kind: 'date' }, ['0000-00-00', '2023-02-29']);
    assert.equal(r.fields, null);
    assert.equal(r.stats.zeroDatesReplaced, 0);
    for (const t of [{ kind: 'float' }, { kind: 'bit', bits: 3 }, { kind: 'uuid' }, { kind: 'inet4' }] as LogicalType[]) {
      assert.equal(encodeValues(t, [null]).fields, null, t.kind);
    }
  });

  it('the trailer gets a piece of its own when the last field fills one to the byte', () => {
    // Header 19 bytes + 7 rows of one NULL (2 + 4 bytes) = 61: the piece is full before the trailer.
    const nulls = [null, null, null, null, null, null, null];
    assert.deepEqual(encode({ kind: 'int', bits: 32, unsigned: false }, nulls, 'null', false, 61).fields, nulls);
    const enc = copyBinaryValuesEncoder([col({ kind: 'int', bits: 32, unsigned: false })], 'null', [], 61);
    const pieces = enc.encode(nulls.map((v) => [v]), [0], newLossStats());
    assert.ok(pieces);
    assert.deepEqual(parse(Buffer.concat(pieces)).map((row) => row[0]), nulls);
  });

  it('a value longer than a piece gets a piece of its size (long text: its exact UTF-8 length)', () => {
    const type: LogicalType = { ...str, maxChars: null, lob: true };
    for (const long of ['ü'.repeat(5000), 'ü'.repeat(20000), '😀'.repeat(9000)]) {
      const r = encodeValues(type, [long, 'x'], 'null', false, 64);
      assert.deepEqual(r.fields?.map((b) => b?.toString('utf8')), [long, 'x']);
    }
    const enc = copyBinaryValuesEncoder([col(type)], 'null', [], 64);
    const long = 'ü'.repeat(20000);
    const pieces = enc.encode([[long]], [0], newLossStats());
    assert.ok(pieces);
    // Field count, length word and the 40,000 bytes: no room reserved for three bytes per unit.
    const big = pieces.find((p) => p.length > 1000);
    assert.equal(big?.buffer.byteLength, 2 + 4 + 40000);
  });

  it('the pg_type names a target column must have', () => {
    assert.deepEqual(binaryTypeNames(col({ kind: 'int', bits: 32, unsigned: true })), ['int8']);
    assert.deepEqual(binaryTypeNames(col({ kind: 'timestamp', fsp: 0 })), ['timestamptz']);
    assert.deepEqual(binaryTypeNames(col({ kind: 'datetime', fsp: 0 })), ['timestamp']);
    assert.deepEqual(binaryTypeNames(col(str)), ['text', 'varchar']);
    assert.equal(binaryTypeNames(col({ kind: 'float' })), null);
  });
});
