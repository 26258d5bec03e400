import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isCapturedTable,
  jsonValidColumn,
  logicalTypeFromColumnType,
  parseColumnType,
  parseEnumLabels,
} from '../../src/connectors/mysql/schema-reader.js';
import { isFerryError } from '../../src/core/errors.js';

describe('parseEnumLabels', () => {
  it('keeps commas, parentheses and spaces inside labels', () => {
    assert.deepEqual(parseEnumLabels("'a','b,c','p(q)','  s',''"), ['a', 'b,c', 'p(q)', '  s', '']);
  });
  it('unescapes doubled quotes and backslash escapes as information_schema prints them', () => {
    assert.deepEqual(parseEnumLabels("'it''s','a\\\\b','x\"y'"), ["it's", 'a\\b', 'x"y']);
  });
  it('accepts double-quoted labels as DDL may write them', () => {
    assert.deepEqual(parseEnumLabels(`"a""b", 'c'`), ['a"b', 'c']);
  });
  it('reads a label that is only a comma or a quote', () => {
    assert.deepEqual(parseEnumLabels("',',''''"), [',', "'"]);
  });
  it('refuses unterminated labels instead of guessing', () => {
    assert.throws(() => parseEnumLabels("'a','b"));
  });
});

describe('parseColumnType', () => {
  it('splits base, arguments and flags', () => {
    assert.deepEqual(parseColumnType('int(10) unsigned zerofill'), { base: 'int', args: ['10'], labels: [], unsigned: true, zerofill: true });
    assert.deepEqual(parseColumnType('decimal(65,30)').args, ['65', '30']);
    assert.equal(parseColumnType('double precision').base, 'double precision');
    assert.equal(parseColumnType('datetime /* mariadb-5.3 */').base, 'datetime');
  });
  it('parses enum labels with a closing parenthesis inside a label', () => {
    assert.deepEqual(parseColumnType("enum('a)','b')").labels, ['a)', 'b']);
  });
});

describe('logicalTypeFromColumnType', () => {
  const t = (ct: string, cs: string | null = null, coll: string | null = null) => logicalTypeFromColumnType(ct, cs, coll);
  it('maps every integer width with signedness', () => {
    assert.deepEqual(t('tinyint(4)'), { kind: 'int', bits: 8, unsigned: false });
    assert.deepEqual(t('smallint(5) unsigned'), { kind: 'int', bits: 16, unsigned: true });
    assert.deepEqual(t('mediumint(9)'), { kind: 'int', bits: 24, unsigned: false });
    assert.deepEqual(t('int(10) unsigned'), { kind: 'int', bits: 32, unsigned: true });
    assert.deepEqual(t('bigint(20) unsigned'), { kind: 'int', bits: 64, unsigned: true });
    assert.deepEqual(t('int unsigned'), { kind: 'int', bits: 32, unsigned: true });
  });
  it('maps numeric types', () => {
    assert.deepEqual(t('decimal(65,30)'), { kind: 'decimal', precision: 65, scale: 30, unsigned: false });
    assert.deepEqual(t('decimal'), { kind: 'decimal', precision: 10, scale: 0, unsigned: false });
    assert.deepEqual(t('float'), { kind: 'float' });
    assert.deepEqual(t('float(7,3)'), { kind: 'float' });
    assert.deepEqual(t('float(30)'), { kind: 'double' });
    assert.deepEqual(t('double'), { kind: 'double' });
    assert.deepEqual(t('bit(12)'), { kind: 'bit', bits: 12 });
    assert.deepEqual(t('bit'), { kind: 'bit', bits: 1 });
  });
  it('maps temporal types with fsp', () => {
    assert.deepEqual(t('year(4)'), { kind: 'year' });
    assert.deepEqual(t('date'), { kind: 'date' });
    assert.deepEqual(t('datetime(6)'), { kind: 'datetime', fsp: 6 });
    assert.deepEqual(t('timestamp'), { kind: 'timestamp', fsp: 0 });
    assert.deepEqual(t('time(3)'), { kind: 'time', fsp: 3 });
  });
  it('maps character types with charset, collation, length and lob', () => {
    assert.deepEqual(t('varchar(20)', 'latin1', 'latin1_swedish_ci'), {
      kind: 'string', maxChars: 20, fixed: false, charset: 'latin1', collation: 'latin1_swedish_ci', lob: false,
    });
    assert.deepEqual(t('char(3)', 'utf8mb4', null), { kind: 'string', maxChars: 3, fixed: true, charset: 'utf8mb4', collation: null, lob: false });
    assert.equal((t('text', 'utf8mb4', 'utf8mb4_bin') as { maxChars: number }).maxChars, 65535);
    assert.deepEqual(t('longtext', 'utf8mb4', 'utf8mb4_bin'), { kind: 'string', maxChars: null, fixed: false, charset: 'utf8mb4', collation: 'utf8mb4_bin', lob: true });
  });
  it('maps binary types, and character types in the binary charset', () => {
    assert.deepEqual(t('binary(16)'), { kind: 'binary', maxBytes: 16, fixed: true, lob: false });
    assert.deepEqual(t('varbinary(255)'), { kind: 'binary', maxBytes: 255, fixed: false, lob: false });
    assert.deepEqual(t('blob'), { kind: 'binary', maxBytes: 65535, fixed: false, lob: true });
    assert.deepEqual(t('longblob'), { kind: 'binary', maxBytes: null, fixed: false, lob: true });
    assert.deepEqual(t('char(4)', 'binary', 'binary'), { kind: 'binary', maxBytes: 4, fixed: true, lob: false });
  });
  it('maps enum/set with labels, json, geometry and MariaDB types', () => {
    assert.deepEqual(t("enum('a','b,c','it''s')", 'utf8mb4', null), { kind: 'enum', values: ['a', 'b,c', "it's"] });
    assert.deepEqual(t("set('x','y')", 'utf8mb4', null), { kind: 'set', values: ['x', 'y'] });
    assert.deepEqual(t('json'), { kind: 'json' });
    assert.deepEqual(t('point'), { kind: 'geometry', subtype: 'point' });
    assert.deepEqual(t('geometry'), { kind: 'geometry', subtype: 'geometry' });
    assert.deepEqual(t('uuid'), { kind: 'uuid' });
    assert.deepEqual(t('inet4'), { kind: 'inet4' });
    assert.deepEqual(t('inet6'), { kind: 'inet6' });
  });
  it('refuses an unknown type with a coded error', () => {
    assert.throws(() => t('vector(3)'), (e) => isFerryError(e, 'FERRY_BINLOG_UNSUPPORTED'));
  });
});

describe('jsonValidColumn', () => {
  it('finds the column of a MariaDB JSON check', () => {
    assert.equal(jsonValidColumn('json_valid(`doc`)'), 'doc');
    assert.equal(jsonValidColumn('json_valid(`a``b`)'), 'a`b');
    assert.equal(jsonValidColumn('json_valid(`a`) and `b` > 0'), null);
    assert.equal(jsonValidColumn('`x` > 0'), null);
  });
});

describe('isCapturedTable', () => {
  it('matches db.table against anchored patterns and never system databases', () => {
    const pats = [/^(?:shop\..*)$/, /^(?:mysql\..*)$/];
    assert.equal(isCapturedTable(pats, 'shop', 'orders'), true);
    assert.equal(isCapturedTable(pats, 'shopx', 'orders'), false);
    assert.equal(isCapturedTable(pats, 'mysql', 'user'), false);
  });
});
