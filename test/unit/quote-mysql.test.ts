import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MySqlStatementBuffer, STATEMENT_HEADER_BYTES, mysqlLiteral, mysqlStringLiteral, quoteMySqlIdent, quoteMySqlTable } from '../../src/connectors/mysql/quote.js';
import { isFerryError } from '../../src/core/errors.js';

/** Hostile names: each must come back as exactly one quoted identifier. */
export const HOSTILE_NAMES = [
  'plain',
  'a`b',
  '``',
  '`; DROP TABLE t; --',
  "o'neil",
  'say "hi"',
  'd.o.t',
  '100%_like',
  'back\\slash',
  'new\nline',
  'tab\there',
  'ünïcødé',
  '表名',
  'select',
  'order',
  ' leading space',
  '-- comment',
  '/* c */',
  '?',
  '$1',
];

/** Reads one backtick-quoted identifier from the start of `s`; returns the name and the rest. */
function readQuotedIdent(s: string): { name: string; rest: string } {
  assert.equal(s[0], '`');
  let name = '';
  let i = 1;
  for (;;) {
    const c = s[i];
    assert.ok(c !== undefined, 'unterminated identifier');
    if (c === '`') {
      if (s[i + 1] === '`') {
        name += '`';
        i += 2;
        continue;
      }
      return { name, rest: s.slice(i + 1) };
    }
    name += c;
    i++;
  }
}

test('quoteMySqlIdent: hostile names round trip as exactly one identifier (injection)', () => {
  for (const n of HOSTILE_NAMES) {
    const q = quoteMySqlIdent(n);
    const { name, rest } = readQuotedIdent(q);
    assert.equal(name, n);
    assert.equal(rest, '', `nothing may follow the identifier for ${JSON.stringify(n)}`);
  }
});

test('quoteMySqlIdent doubles backticks and nothing else', () => {
  assert.equal(quoteMySqlIdent('a`b'), '`a``b`');
  assert.equal(quoteMySqlIdent("x'y\"z"), '`x\'y"z`');
  assert.equal(quoteMySqlTable('d.b', 't`t'), '`d.b`.`t``t`');
});

test('quoteMySqlIdent refuses empty names and U+0000', () => {
  assert.throws(() => quoteMySqlIdent(''), (e) => isFerryError(e, 'FERRY_SINK_WRITE'));
  assert.throws(() => quoteMySqlIdent('a\u0000b'), (e) => isFerryError(e, 'FERRY_SINK_WRITE'));
});

/** Reads one single-quoted literal with backslash escapes (sql_mode without NO_BACKSLASH_ESCAPES). */
function readStringLiteral(s: string): { value: string; rest: string } {
  assert.equal(s[0], "'");
  const map: Record<string, string> = { '0': '\u0000', n: '\n', r: '\r', Z: '\u001a', "'": "'", '\\': '\\', '"': '"', t: '\t', b: '\b' };
  let v = '';
  let i = 1;
  for (;;) {
    const c = s[i];
    assert.ok(c !== undefined, 'unterminated literal');
    if (c === '\\') {
      const e = s[i + 1] as string;
      v += map[e] ?? e;
      i += 2;
      continue;
    }
    if (c === "'") {
      if (s[i + 1] === "'") {
        v += "'";
        i += 2;
        continue;
      }
      return { value: v, rest: s.slice(i + 1) };
    }
    v += c;
    i++;
  }
}

test('mysqlStringLiteral: hostile strings round trip as exactly one literal (injection)', () => {
  const hostile = [
    "' OR 1=1 -- ",
    "\\' OR 1=1 -- ",
    "\\",
    "\\\\'",
    "a\u0000b",
    'line\nbreak\r\n',
    '\u001a',
    "''",
    '😀 emoji',
    '\uD800 lone surrogate',
    ...HOSTILE_NAMES,
  ];
  for (const s of hostile) {
    const { value, rest } = readStringLiteral(mysqlStringLiteral(s));
    assert.equal(value, s);
    assert.equal(rest, '');
  }
});

test('mysqlStringLiteral: random strings round trip', () => {
  const alphabet = ["'", '\\', '"', '`', '\u0000', '\n', '\r', '\u001a', 'a', 'é', '😀', ' ', '%', '_'];
  for (let k = 0; k < 2000; k++) {
    let s = '';
    const len = Math.floor(Math.random() * 12);
    for (let j = 0; j < len; j++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
    const { value, rest } = readStringLiteral(mysqlStringLiteral(s));
    assert.equal(value, s);
    assert.equal(rest, '');
  }
});

test('mysqlLiteral encodes each canonical value form', () => {
  assert.equal(mysqlLiteral(null), 'NULL');
  assert.equal(mysqlLiteral(42), '42');
  assert.equal(mysqlLiteral(-1.5), '-1.5');
  assert.equal(mysqlLiteral(-0), '-0E0');
  assert.equal(mysqlLiteral(1e-7), '1e-7');
  assert.equal(mysqlLiteral(18446744073709551615n), '18446744073709551615');
  assert.equal(mysqlLiteral(-9223372036854775808n), '-9223372036854775808');
  assert.equal(mysqlLiteral('12.340'), "'12.340'");
  assert.equal(mysqlLiteral(Buffer.from([0, 1, 0xff])), "X'0001ff'");
  assert.equal(mysqlLiteral(Buffer.alloc(0)), "X''");
  assert.throws(() => mysqlLiteral(Number.NaN), (e) => isFerryError(e, 'FERRY_SINK_WRITE'));
  assert.throws(() => mysqlLiteral(Infinity), (e) => isFerryError(e, 'FERRY_SINK_WRITE'));
});

test('MySqlStatementBuffer writes the same bytes as mysqlLiteral for every value form', () => {
  const values = [
    null, 0, 7, 10, 42, -1, -10, 99, 100, 12345678, -2147483648, 4294967295, 999999999999999, -999999999999999,
    1e15, 2 ** 53, -(2 ** 53), 1.5, -1.5, -0, 1e-7, 3.4028234663852886e38, 0.1 + 0.2,
    18446744073709551615n, -9223372036854775808n, 0n,
    '', '12.340', "it's", 'back\\slash', 'a\u0000b', 'line\nbreak\r\n', '\u001a', '😀 emoji', '\uD800 lone surrogate', 'ünïcødé 表名',
    Buffer.alloc(0), Buffer.from([0, 1, 0x27, 0x5c, 0xff]), Buffer.alloc(300, 0xab),
  ];
  const sb = new MySqlStatementBuffer(16);
  for (const v of values) {
    sb.reset();
    sb.literal(v);
    assert.deepEqual(sb.packet().subarray(STATEMENT_HEADER_BYTES), Buffer.from(mysqlLiteral(v), 'utf8'), `value ${String(v)}`);
  }
  // Many values into one statement: the buffer grows and keeps what it held.
  sb.reset();
  let expected = 'INSERT INTO `t` VALUES ';
  sb.text('INSERT INTO `t` VALUES ');
  for (let i = 0; i < 2000; i++) {
    const v = values[i % values.length] as (typeof values)[number];
    if (i > 0) {
      sb.byte(0x2c);
      expected += ',';
    }
    sb.literal(v);
    expected += mysqlLiteral(v);
  }
  const packet = sb.packet();
  assert.equal(packet[4], 0x03); // COM_QUERY
  assert.deepEqual(packet.subarray(STATEMENT_HEADER_BYTES), Buffer.from(expected, 'utf8'));
  assert.throws(() => sb.literal(Number.NaN), (e) => isFerryError(e, 'FERRY_SINK_WRITE'));
});
