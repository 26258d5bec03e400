import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mysqlColumnDefinition, mysqlColumnType, mysqlCreateTableSql } from '../../src/connectors/mysql/sink-types.js';
import { newLossStats, pgColumnType, pgEncoder, pgNotNull } from '../../src/connectors/postgres/type-map.js';
import type { ColumnSchema, LogicalType } from '../../src/core/schema.js';
import { isFerryError } from '../../src/core/errors.js';

function col(name: string, type: LogicalType, sourceType: string, nullable = true): ColumnSchema {
  return { name, type, sourceType, nullable, defaultValue: null, generated: false };
}
const int = (bits: 8 | 16 | 24 | 32 | 64, unsigned: boolean): LogicalType => ({ kind: 'int', bits, unsigned });

test('MySQL sink types reuse the source type text, with charset and nullability', () => {
  assert.equal(mysqlColumnType(col('a', int(32, true), 'int(10) unsigned')), 'int(10) unsigned');
  assert.equal(mysqlColumnType(col('a', { kind: 'decimal', precision: 65, scale: 30, unsigned: false }, 'decimal(65,30)')), 'decimal(65,30)');
  assert.equal(
    mysqlColumnDefinition(col('n', { kind: 'string', maxChars: 20, fixed: false, charset: 'latin1', collation: 'latin1_bin', lob: false }, 'varchar(20)', false)),
    '`n` varchar(20) CHARACTER SET `latin1` COLLATE `latin1_bin` NOT NULL',
  );
  assert.equal(mysqlColumnDefinition(col('g', { kind: 'datetime', fsp: 6 }, 'datetime(6)')), '`g` datetime(6) NULL');
});

test('MySQL sink types: ENUM/SET are rebuilt from their labels (quotes, commas, backslashes)', () => {
  assert.equal(mysqlColumnType(col('e', { kind: 'enum', values: ["it's", 'a,b', 'back\\'] }, 'whatever')), "enum('it\\'s','a,b','back\\\\')");
  assert.equal(mysqlColumnType(col('s', { kind: 'set', values: ['x'] }, "set('x')")), "set('x')");
});

test('MySQL sink types: a source type text of unexpected shape is not pasted into DDL (injection)', () => {
  const evil = col('a', int(32, false), 'int) ; DROP TABLE x; -- (');
  assert.equal(mysqlColumnType(evil), 'int');
  assert.equal(mysqlColumnType(col('a', { kind: 'timestamp', fsp: 3 }, 'timestamp(3) DEFAULT now()')), 'timestamp(3)');
});

test('MySQL CREATE TABLE keeps the key order; a table without a key is refused', () => {
  const sql = mysqlCreateTableSql('d', 't', {
    schema: 's',
    name: 't',
    columns: [col('a', int(32, false), 'int(11)', false), col('b', int(32, false), 'int(11)', false)],
    primaryKey: [1, 0],
  });
  assert.match(sql, /PRIMARY KEY \(`b`, `a`\)/);
  assert.throws(() => mysqlCreateTableSql('d', 't', { schema: 's', name: 't', columns: [], primaryKey: [] }), (e) => isFerryError(e, 'FERRY_NO_PRIMARY_KEY'));
});

test('PostgreSQL type map: integers take the smallest type holding the MySQL range', () => {
  assert.equal(pgColumnType(int(8, false)), 'smallint');
  assert.equal(pgColumnType(int(8, true)), 'smallint');
  assert.equal(pgColumnType(int(16, false)), 'smallint');
  assert.equal(pgColumnType(int(16, true)), 'integer');
  assert.equal(pgColumnType(int(24, true)), 'integer');
  assert.equal(pgColumnType(int(32, false)), 'integer');
  assert.equal(pgColumnType(int(32, true)), 'bigint');
  assert.equal(pgColumnType(int(64, false)), 'bigint');
  assert.equal(pgColumnType(int(64, true)), 'numeric(20,0)');
});

test('PostgreSQL type map: the other kinds', () => {
  const cases: [LogicalType, string][] = [
    [{ kind: 'decimal', precision: 10, scale: 2, unsigned: false }, 'numeric(10,2)'],
    [{ kind: 'float' }, 'real'],
    [{ kind: 'double' }, 'double precision'],
    [{ kind: 'bit', bits: 7 }, 'bit varying(7)'],
    [{ kind: 'year' }, 'smallint'],
    [{ kind: 'date' }, 'date'],
    [{ kind: 'datetime', fsp: 3 }, 'timestamp(3) without time zone'],
    [{ kind: 'timestamp', fsp: 0 }, 'timestamp(0) with time zone'],
    [{ kind: 'time', fsp: 6 }, 'interval'],
    [{ kind: 'string', maxChars: 20, fixed: true, charset: 'utf8mb4', collation: null, lob: false }, 'varchar(20)'],
    [{ kind: 'string', maxChars: 65535, fixed: false, charset: 'utf8mb4', collation: null, lob: true }, 'text'],
    [{ kind: 'string', maxChars: null, fixed: false, charset: 'utf8mb4', collation: null, lob: true }, 'text'],
    [{ kind: 'binary', maxBytes: 16, fixed: true, lob: false }, 'bytea'],
    [{ kind: 'json' }, 'jsonb'],
    [{ kind: 'enum', values: ['a'] }, 'text'],
    [{ kind: 'set', values: ['a'] }, 'text'],
    [{ kind: 'geometry', subtype: 'point' }, 'bytea'],
    [{ kind: 'uuid' }, 'uuid'],
    [{ kind: 'inet4' }, 'inet'],
    [{ kind: 'inet6' }, 'inet'],
  ];
  for (const [t, want] of cases) assert.equal(pgColumnType(t), want, JSON.stringify(t));
});

test('PostgreSQL encoders: canonical values to input text', () => {
  const stats = newLossStats();
  const enc = (t: LogicalType) => pgEncoder(col('c', t, ''), stats);
  assert.equal(enc(int(64, true))(18446744073709551615n), '18446744073709551615');
  assert.equal(enc({ kind: 'double' })(-0), '-0');
  assert.equal(enc({ kind: 'bit', bits: 10 })(Buffer.from([0x02, 0x01])), '1000000001');
  assert.equal(enc({ kind: 'bit', bits: 1 })(Buffer.from([1])), '1');
  assert.equal(enc({ kind: 'timestamp', fsp: 6 })('2024-01-02 03:04:05.123456'), '2024-01-02 03:04:05.123456+00');
  assert.equal(enc({ kind: 'time', fsp: 0 })('-838:59:59'), '-838:59:59');
  assert.equal(enc({ kind: 'date' })(null), null);
  const b = Buffer.from([0, 1]);
  assert.equal(enc({ kind: 'binary', maxBytes: null, fixed: false, lob: true })(b), b);
});

test('PostgreSQL encoders: zero dates become NULL by default (key columns -infinity); policy -infinity and fail; counted', () => {
  const stats = newLossStats();
  const dflt = pgEncoder(col('d', { kind: 'date' }, 'date', false), stats);
  assert.equal(dflt('0000-00-00'), null);
  const key = pgEncoder(col('d', { kind: 'date' }, 'date', false), stats, 'null', true);
  assert.equal(key('0000-00-00'), '-infinity');
  const failing = pgEncoder(col('d', { kind: 'date' }, 'date', true), stats, 'fail');
  assert.throws(() => failing('2024-00-01'), /FERRY_SINK_WRITE|zero date/);
  assert.equal(failing('2024-01-01'), '2024-01-01');
  assert.equal(pgNotNull(col('d', { kind: 'date' }, 'date', false), false), false);
  assert.equal(pgNotNull(col('d', { kind: 'date' }, 'date', false), false, '-infinity'), true);
  assert.equal(pgNotNull(col('d', { kind: 'date' }, 'date', false), true), true);
  assert.equal(pgNotNull(col('n', { kind: 'int', bits: 8, unsigned: false }, 'tinyint', false), false), true);
  assert.equal(stats.zeroDatesReplaced, 2);
  stats.zeroDatesReplaced = 0;
  const nullable = pgEncoder(col('d', { kind: 'date' }, 'date', true), stats, '-infinity');
  const notNull = pgEncoder(col('d', { kind: 'datetime', fsp: 0 }, 'datetime', false), stats, '-infinity');
  const ts = pgEncoder(col('d', { kind: 'timestamp', fsp: 0 }, 'timestamp', false), stats, '-infinity');
  assert.equal(nullable('0000-00-00'), '-infinity');
  assert.equal(nullable('2020-00-10'), '-infinity');
  assert.equal(nullable('2020-10-00'), '-infinity');
  assert.equal(nullable('2020-10-10'), '2020-10-10');
  assert.equal(notNull('0000-00-00 00:00:00'), '-infinity');
  assert.equal(ts('0000-00-00 00:00:00'), '-infinity');
  assert.equal(notNull('2000-01-01 00:00:00'), '2000-01-01 00:00:00');
  assert.equal(stats.zeroDatesReplaced, 5);
});

test('PostgreSQL encoders: U+0000 is stripped from text and \\u0000 from JSON, counted; escaped backslashes are kept', () => {
  const stats = newLossStats();
  const text = pgEncoder(col('s', { kind: 'string', maxChars: 10, fixed: false, charset: 'utf8mb4', collation: null, lob: false }, ''), stats);
  const json = pgEncoder(col('j', { kind: 'json' }, 'json'), stats);
  assert.equal(text('a\u0000b\u0000'), 'ab');
  assert.equal(json('["\\u0000", "\\\\u0000", "\\\\\\u0000x"]'), '["", "\\\\u0000", "\\\\x"]');
  assert.equal(stats.nulCharsStripped, 4);
});
