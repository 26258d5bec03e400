/**
 * ALTER TABLE specs applied to the schema model (the schema rows after a DDL decode with), the
 * swap diff used for gh-ost / pt-osc, the shadow-table names, and `lenient`'s widening rule.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyAlterSpecs, diffTables, parseDdl, tableFromCreate, type DdlStatement } from '../../src/connectors/mysql/ddl.js';
import { isShadowTable } from '../../src/connectors/mysql/stream.js';
import { isWidening, lenientColumnChanges } from '../../src/core/change.js';
import type { ColumnSchema, TableSchema } from '../../src/core/schema.js';

const defaults = { charset: 'utf8mb4', collation: 'utf8mb4_general_ci' };

function table(sql: string): TableSchema {
  const s = parseDdl(sql, 'd');
  assert.ok(s && s.kind === 'create-table');
  return tableFromCreate(s, defaults);
}

function alter(base: TableSchema, sql: string): ReturnType<typeof applyAlterSpecs> {
  const s = parseDdl(sql, 'd') as DdlStatement;
  assert.equal(s.kind, 'alter-columns', sql);
  return applyAlterSpecs(base, (s as Extract<DdlStatement, { kind: 'alter-columns' }>).specs, defaults);
}

const names = (t: TableSchema): string[] => t.columns.map((c) => c.name);
const key = (t: TableSchema): string[] => t.primaryKey.map((i) => (t.columns[i] as ColumnSchema).name);
const base = table('CREATE TABLE t (id INT PRIMARY KEY, a INT, b VARCHAR(20) NOT NULL, c INT NOT NULL DEFAULT 0)');

describe('applyAlterSpecs', () => {
  it('DROP COLUMN removes the column and keeps key indexes right', () => {
    const { table: t, changes } = alter(base, 'ALTER TABLE t DROP COLUMN a, DROP b');
    assert.deepEqual(names(t), ['id', 'c']);
    assert.deepEqual(key(t), ['id']);
    assert.deepEqual(changes, [{ op: 'drop', column: 'a' }, { op: 'drop', column: 'b' }]);
    assert.deepEqual(names(base), ['id', 'a', 'b', 'c'], 'input unchanged');
  });
  it('CHANGE renames and retypes; MODIFY replaces the whole definition (NULL when not said)', () => {
    const { table: t, changes } = alter(base, 'ALTER TABLE t CHANGE c c2 BIGINT NOT NULL DEFAULT 0, MODIFY b VARCHAR(40)');
    assert.deepEqual(names(t), ['id', 'a', 'b', 'c2']);
    assert.deepEqual(t.columns[3]?.type, { kind: 'int', bits: 64, unsigned: false });
    assert.equal(t.columns[2]?.nullable, true);
    assert.deepEqual(changes, [{ op: 'rename', from: 'c', to: 'c2' }, { op: 'modify', column: 'c2' }, { op: 'modify', column: 'b' }]);
  });
  it('FIRST / AFTER reorder, and a MODIFY to the same definition is a pure move', () => {
    const { table: t, changes } = alter(base, 'ALTER TABLE t MODIFY c INT NOT NULL DEFAULT 0 FIRST, MODIFY COLUMN a INT AFTER b');
    assert.deepEqual(names(t), ['c', 'id', 'b', 'a']);
    assert.deepEqual(key(t), ['id']);
    assert.deepEqual(changes, [{ op: 'move', column: 'c' }, { op: 'move', column: 'a' }]);
  });
  it('RENAME COLUMN and ALTER COLUMN SET/DROP DEFAULT', () => {
    const { table: t, changes } = alter(base, "ALTER TABLE t RENAME COLUMN id TO pk, ALTER COLUMN c SET DEFAULT 5, ALTER b DROP DEFAULT");
    assert.deepEqual(names(t), ['pk', 'a', 'b', 'c']);
    assert.deepEqual(key(t), ['pk']);
    assert.equal(t.columns[3]?.defaultValue, '5');
    assert.equal(t.columns[2]?.defaultValue, null);
    assert.deepEqual(changes.map((c) => c.op), ['rename', 'modify', 'modify']);
  });
  it('DROP / ADD PRIMARY KEY change the key; key columns become NOT NULL', () => {
    const { table: t, changes } = alter(base, 'ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (a, id)');
    assert.deepEqual(key(t), ['a', 'id']);
    assert.equal(t.columns[1]?.nullable, false);
    assert.ok(changes.some((c) => c.op === 'primary-key'));
    const { table: none } = alter(base, 'ALTER TABLE t DROP PRIMARY KEY');
    assert.deepEqual(none.primaryKey, []);
    const { table: named } = alter(none, 'ALTER TABLE t ADD CONSTRAINT pk PRIMARY KEY (b)');
    assert.deepEqual(key(named), ['b']);
  });
  it('IF EXISTS skips a missing column; without it a mismatch is an error', () => {
    assert.deepEqual(alter(base, 'ALTER TABLE t DROP COLUMN IF EXISTS zz').changes, []);
    assert.throws(() => alter(base, 'ALTER TABLE t DROP COLUMN zz'), /FERRY_SCHEMA_MISMATCH|no column/);
  });
  it('index, constraint and table-option specs next to column specs change nothing else', () => {
    const { table: t } = alter(base, "ALTER TABLE t ADD INDEX ix (a), DROP COLUMN b, ENGINE=InnoDB, COMMENT='x', ALGORITHM=COPY");
    assert.deepEqual(names(t), ['id', 'a', 'c']);
  });
});

describe('diffTables (online schema change swap)', () => {
  it('lists drops, adds, type changes, moves and key changes by name', () => {
    const ghost = table('CREATE TABLE t (id INT PRIMARY KEY, z INT NOT NULL DEFAULT 7, a BIGINT, b VARCHAR(20) NOT NULL)');
    assert.deepEqual(diffTables(base, ghost), [
      { op: 'drop', column: 'c' },
      { op: 'add', column: 'z' },
      { op: 'modify', column: 'a' },
    ]);
    const moved = table('CREATE TABLE t (b VARCHAR(20) NOT NULL, id INT, a INT, c INT NOT NULL DEFAULT 0, PRIMARY KEY (b))');
    assert.deepEqual(diffTables(base, moved).map((c) => c.op), ['move', 'modify', 'primary-key']);
  });
});

describe('shadow tables', () => {
  it('recognises gh-ost and pt-online-schema-change names only', () => {
    for (const n of ['_t_gho', '_t_ghc', '_t_del', '_t_20240101120000_del', '_t_new', '_t_old', '_my table_gho']) assert.ok(isShadowTable(n), n);
    for (const n of ['t', 't_gho', '_t', 'news', '_t_ghost', 'old']) assert.ok(!isShadowTable(n), n);
  });
});

describe('lenient: isWidening', () => {
  const col = (sql: string): ColumnSchema => table(`CREATE TABLE x (id INT PRIMARY KEY, ${sql})`).columns[1] as ColumnSchema;
  it('accepts changes that keep every value', () => {
    for (const [a, b] of [
      ['v INT', 'v BIGINT'],
      ['v INT UNSIGNED', 'v BIGINT'],
      ['v VARCHAR(10)', 'v VARCHAR(20)'],
      ['v VARCHAR(10)', 'v TEXT'],
      ['v DECIMAL(5,2)', 'v DECIMAL(8,3)'],
      ['v INT', 'v DECIMAL(12,0)'],
      ['v FLOAT', 'v DOUBLE'],
      ['v DATETIME(0)', 'v DATETIME(6)'],
      ["v ENUM('a','b')", "v ENUM('a','b','c')"],
      ['v INT NOT NULL', 'v INT NULL'],
    ]) assert.ok(isWidening(col(a as string), col(b as string)), `${a} -> ${b}`);
  });
  it('refuses changes that can lose or alter values', () => {
    for (const [a, b] of [
      ['v BIGINT', 'v INT'],
      ['v INT', 'v INT UNSIGNED'],
      ['v VARCHAR(20)', 'v VARCHAR(10)'],
      ['v DECIMAL(8,3)', 'v DECIMAL(8,2)'],
      ['v INT', 'v VARCHAR(30)'],
      ["v ENUM('a','b')", "v ENUM('b','a')"],
      ['v INT NULL', 'v INT NOT NULL'],
    ]) assert.ok(!isWidening(col(a as string), col(b as string)), `${a} -> ${b}`);
  });
  it('lenientColumnChanges drops only the narrowing type changes, following renames', () => {
    const { table: t, changes } = alter(base, 'ALTER TABLE t CHANGE a a2 BIGINT, MODIFY c SMALLINT NOT NULL, DROP b');
    assert.deepEqual(lenientColumnChanges(base, t, changes), [{ op: 'rename', from: 'a', to: 'a2' }, { op: 'modify', column: 'a2' }, { op: 'drop', column: 'b' }]);
  });
});
