import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyAddColumns, parseDdl, tableFromCreate, tokenize, type DdlStatement } from '../../src/connectors/mysql/ddl.js';
import type { TableSchema } from '../../src/core/schema.js';

const defaults = { charset: 'utf8mb4', collation: 'utf8mb4_general_ci' };

function create(sql: string, db = 'd'): Extract<DdlStatement, { kind: 'create-table' }> {
  const s = parseDdl(sql, db);
  assert.ok(s && s.kind === 'create-table', `expected create-table, got ${JSON.stringify(s)}`);
  return s;
}

function addCols(sql: string, db = 'd'): Extract<DdlStatement, { kind: 'add-columns' }> {
  const s = parseDdl(sql, db);
  assert.ok(s && s.kind === 'add-columns', `expected add-columns, got ${JSON.stringify(s)}`);
  return s;
}

describe('tokenize', () => {
  it('drops comments and keeps executable comments', () => {
    const toks = tokenize("CREATE /* x */ TABLE -- y\n t # z\n /*!50100 IF NOT EXISTS */ /*M!100100 u */").map((t) => t.value);
    assert.deepEqual(toks, ['CREATE', 'TABLE', 't', 'IF', 'NOT', 'EXISTS', 'u']);
  });
  it('reads quoted identifiers with doubled backticks and strings with escapes', () => {
    const toks = tokenize("`a``b c` 'it''s' 'x\\'y' \"q\"");
    assert.deepEqual(toks.map((t) => [t.kind, t.value]), [['ident', 'a`b c'], ['string', "it's"], ['string', "x'y"], ['string', 'q']]);
  });
  it('does not treat --x (no space) as a comment', () => {
    assert.deepEqual(tokenize('1--2').map((t) => t.value), ['1', '-', '-', '2']);
  });
});

describe('parseDdl: CREATE TABLE', () => {
  it('reads columns, types, nullability, defaults and the primary key', () => {
    const s = create(`CREATE TABLE IF NOT EXISTS shop.orders (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      note VARCHAR(40) CHARACTER SET latin1 COLLATE latin1_bin DEFAULT 'a,b(c)' COMMENT 'x, y)',
      price DECIMAL(10,2) NOT NULL DEFAULT -1.50,
      created DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
      PRIMARY KEY (id),
      KEY idx_note (note(10)),
      CONSTRAINT fk FOREIGN KEY (id) REFERENCES other (id) ON DELETE CASCADE,
      CHECK (price > 0)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin COMMENT='t'`);
    assert.deepEqual(s.table, { schema: 'shop', name: 'orders' });
    assert.equal(s.ifNotExists, true);
    assert.deepEqual(s.primaryKey, ['id']);
    assert.deepEqual(s.options, { charset: 'utf8mb4', collation: 'utf8mb4_bin' });
    const t = tableFromCreate(s, defaults);
    assert.deepEqual(t.columns.map((c) => c.name), ['id', 'note', 'price', 'created']);
    assert.deepEqual(t.primaryKey, [0]);
    assert.deepEqual(t.columns[0]?.type, { kind: 'int', bits: 64, unsigned: true });
    assert.equal(t.columns[0]?.nullable, false);
    assert.deepEqual(t.columns[1]?.type, { kind: 'string', maxChars: 40, fixed: false, charset: 'latin1', collation: 'latin1_bin', lob: false });
    assert.equal(t.columns[1]?.defaultValue, "'a,b(c)'");
    assert.equal(t.columns[2]?.defaultValue, '-1.50');
    assert.deepEqual(t.columns[2]?.type, { kind: 'decimal', precision: 10, scale: 2, unsigned: false });
    assert.equal(t.columns[3]?.defaultValue, 'current_timestamp(6)');
    assert.deepEqual(t.columns[3]?.type, { kind: 'datetime', fsp: 6 });
  });

  it('uses the table charset, then the database default, for columns without one', () => {
    const s = create('CREATE TABLE t (a TEXT, b CHAR(2) COLLATE utf8mb4_bin, c VARCHAR(3) BINARY, id INT PRIMARY KEY) DEFAULT CHARSET latin1');
    const t = tableFromCreate(s, defaults);
    assert.deepEqual(t.columns[0]?.type, { kind: 'string', maxChars: 65535, fixed: false, charset: 'latin1', collation: null, lob: true });
    assert.deepEqual(t.columns[1]?.type, { kind: 'string', maxChars: 2, fixed: true, charset: 'utf8mb4', collation: 'utf8mb4_bin', lob: false });
    assert.equal((t.columns[2]?.type as { collation: string }).collation, 'latin1_bin');
    const u = tableFromCreate(create('CREATE TABLE t (a VARCHAR(5), id INT KEY)'), defaults);
    assert.deepEqual(u.columns[0]?.type, { kind: 'string', maxChars: 5, fixed: false, charset: 'utf8mb4', collation: 'utf8mb4_general_ci', lob: false });
    assert.deepEqual(u.primaryKey, [1]);
  });

  it('handles quoted names with spaces, dots and backticks', () => {
    const s = create('CREATE TABLE `my db`.`we``ird.t` (`the id` INT NOT NULL, `a``b` INT, PRIMARY KEY (`the id`, `a``b`))');
    assert.deepEqual(s.table, { schema: 'my db', name: 'we`ird.t' });
    assert.deepEqual(s.columns.map((c) => c.name), ['the id', 'a`b']);
    const t = tableFromCreate(s, defaults);
    assert.deepEqual(t.primaryKey, [0, 1]);
    assert.equal(t.columns[1]?.nullable, false);
  });

  it('reads enum and set labels with commas, parentheses and quotes', () => {
    const s = create(`CREATE TABLE t (id INT PRIMARY KEY, e ENUM('a,b', 'c(d)', 'it''s', "q\\"r") NOT NULL DEFAULT 'a,b', s SET('x)','y'))`);
    const t = tableFromCreate(s, defaults);
    assert.deepEqual(t.columns[1]?.type, { kind: 'enum', values: ['a,b', 'c(d)', "it's", 'q"r'] });
    assert.deepEqual(t.columns[2]?.type, { kind: 'set', values: ['x)', 'y'] });
    assert.equal(t.columns[1]?.defaultValue, "'a,b'");
  });

  it('maps the types the schema reader maps, generated columns and type aliases', () => {
    const s = create(`CREATE TABLE t (
      id INT(11) NOT NULL PRIMARY KEY, b BOOL, f FLOAT, d DOUBLE PRECISION, r REAL, n NUMERIC(5,1), bt BIT(3),
      y YEAR, ts TIMESTAMP(3) NULL, tm TIME(2), j JSON, g POINT NOT NULL SRID 4326, bl LONGBLOB, vb VARBINARY(8),
      u UUID, i4 INET4, i6 INET6, nc NATIONAL CHAR(2), cb CHAR(4) CHARACTER SET binary,
      v INT AS (id + 1) VIRTUAL, p INT GENERATED ALWAYS AS (id * 2) STORED, q INT AS (id) PERSISTENT,
      z INT(10) ZEROFILL, sr SERIAL)`);
    const t = tableFromCreate(s, defaults);
    const types = Object.fromEntries(t.columns.map((c) => [c.name, c.type]));
    assert.deepEqual(types.b, { kind: 'int', bits: 8, unsigned: false });
    assert.deepEqual(types.f, { kind: 'float' });
    assert.deepEqual(types.d, { kind: 'double' });
    assert.deepEqual(types.r, { kind: 'double' });
    assert.deepEqual(types.n, { kind: 'decimal', precision: 5, scale: 1, unsigned: false });
    assert.deepEqual(types.bt, { kind: 'bit', bits: 3 });
    assert.deepEqual(types.y, { kind: 'year' });
    assert.deepEqual(types.ts, { kind: 'timestamp', fsp: 3 });
    assert.deepEqual(types.tm, { kind: 'time', fsp: 2 });
    assert.deepEqual(types.j, { kind: 'json' });
    assert.deepEqual(types.g, { kind: 'geometry', subtype: 'point' });
    assert.deepEqual(types.bl, { kind: 'binary', maxBytes: null, fixed: false, lob: true });
    assert.deepEqual(types.vb, { kind: 'binary', maxBytes: 8, fixed: false, lob: false });
    assert.deepEqual(types.u, { kind: 'uuid' });
    assert.deepEqual(types.i4, { kind: 'inet4' });
    assert.deepEqual(types.i6, { kind: 'inet6' });
    assert.equal((types.nc as { charset: string }).charset, 'utf8mb3');
    assert.deepEqual(types.cb, { kind: 'binary', maxBytes: 4, fixed: true, lob: false });
    assert.deepEqual(types.z, { kind: 'int', bits: 32, unsigned: true });
    assert.deepEqual(types.sr, { kind: 'int', bits: 64, unsigned: true });
    const gen = Object.fromEntries(t.columns.map((c) => [c.name, c.generated]));
    assert.equal(gen.v, true);
    assert.equal(gen.p, true);
    assert.equal(gen.q, true);
    assert.equal(gen.id, false);
    assert.equal(t.columns.find((c) => c.name === 'ts')?.nullable, true);
  });

  it('uses the default schema for unqualified names and handles comments inside', () => {
    const s = create('/* lead */ CREATE TABLE t ( -- c1\n id INT /* inline, (x) */ PRIMARY KEY # tail\n ) /*!50100 PARTITION BY HASH (id) */', 'dflt');
    assert.deepEqual(s.table, { schema: 'dflt', name: 't' });
    assert.deepEqual(s.primaryKey, ['id']);
  });

  it('recognises CREATE TABLE ... LIKE in both forms, and CREATE ... SELECT', () => {
    assert.deepEqual(parseDdl('CREATE TABLE a.n LIKE a.o', 'd'), {
      kind: 'create-table-like', table: { schema: 'a', name: 'n' }, like: { schema: 'a', name: 'o' }, ifNotExists: false, orReplace: false, temporary: false,
    });
    const s = parseDdl('CREATE TABLE IF NOT EXISTS n (LIKE o)', 'd');
    assert.equal(s?.kind, 'create-table-like');
    assert.equal(parseDdl('CREATE TABLE n AS SELECT * FROM o', 'd')?.kind, 'create-table-select');
    assert.equal(parseDdl('CREATE TABLE n (id INT PRIMARY KEY) SELECT id FROM o', 'd')?.kind, 'create-table-select');
  });

  it('marks temporary tables and OR REPLACE', () => {
    const s = create('CREATE OR REPLACE TEMPORARY TABLE t (id INT PRIMARY KEY)');
    assert.equal(s.temporary, true);
    assert.equal(s.orReplace, true);
  });

  it('ignores PERIOD FOR but keeps a column named period', () => {
    const s = create('CREATE TABLE t (id INT PRIMARY KEY, period INT, s DATE, e DATE, PERIOD FOR p (s, e))');
    assert.deepEqual(s.columns.map((c) => c.name), ['id', 'period', 's', 'e']);
  });
});

describe('parseDdl: ALTER TABLE', () => {
  it('reads ADD COLUMN with positions', () => {
    const s = addCols("ALTER TABLE shop.t ADD COLUMN c VARCHAR(10) DEFAULT 'x,y' AFTER a, ADD d INT FIRST, ADD COLUMN e BLOB");
    assert.deepEqual(s.table, { schema: 'shop', name: 't' });
    assert.deepEqual(s.columns.map((c) => [c.column.name, c.position]), [
      ['c', { kind: 'after', column: 'a' }],
      ['d', { kind: 'first' }],
      ['e', { kind: 'last' }],
    ]);
  });
  it('reads ADD COLUMN (a int, b int) and IF NOT EXISTS', () => {
    const s = addCols('ALTER TABLE t ADD COLUMN IF NOT EXISTS (a INT, b INT NOT NULL)');
    assert.deepEqual(s.columns.map((c) => [c.column.name, c.ifNotExists, c.column.nullable]), [['a', true, true], ['b', true, false]]);
  });
  it('keeps ADD COLUMN when only indexes and algorithm options come with it', () => {
    const s = addCols('ALTER TABLE t ADD COLUMN x INT, ADD INDEX ix (x), ALGORITHM=INPLACE, LOCK=NONE');
    assert.equal(s.columns.length, 1);
  });
  it('sorts every other ALTER into alter-columns, alter-no-columns, rename-table or other-alter', () => {
    const kinds: [string, string][] = [
      ['ALTER TABLE t DROP COLUMN a', 'alter-columns'],
      ['ALTER TABLE t MODIFY a BIGINT', 'alter-columns'],
      ['ALTER TABLE t CHANGE a b INT', 'alter-columns'],
      ['ALTER TABLE t ADD COLUMN x INT, DROP COLUMN y', 'alter-columns'],
      ['ALTER TABLE t ADD PRIMARY KEY (a)', 'alter-columns'],
      ['ALTER TABLE t ADD CONSTRAINT pk PRIMARY KEY (a)', 'alter-columns'],
      ['ALTER TABLE t DROP PRIMARY KEY', 'alter-columns'],
      ['ALTER TABLE t RENAME TO u', 'rename-table'],
      ['ALTER TABLE t RENAME TO u, ADD x INT', 'other-alter'],
      ['ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4', 'other-alter'],
      ['ALTER TABLE t ADD INDEX (a)', 'alter-no-columns'],
      ['ALTER TABLE t DROP INDEX ix, DROP FOREIGN KEY fk, RENAME INDEX a TO b, COMMENT = \'x\'', 'alter-no-columns'],
      ['ALTER TABLE `a b`.`c` ENGINE=InnoDB', 'alter-no-columns'],
      ['ALTER TABLE t DEFAULT CHARSET = latin1, ALGORITHM=INPLACE', 'alter-no-columns'],
    ];
    for (const [sql, kind] of kinds) assert.equal(parseDdl(sql, 'd')?.kind, kind, sql);
    assert.deepEqual(parseDdl('ALTER TABLE `a b`.`c` ENGINE=InnoDB', 'd'), { kind: 'alter-no-columns', table: { schema: 'a b', name: 'c' } });
  });
  it('applies added columns to a schema, keeping primary key indexes right', () => {
    const base: TableSchema = tableFromCreate(create('CREATE TABLE t (a INT, b INT, PRIMARY KEY (b))'), defaults);
    const s = addCols("ALTER TABLE t ADD z TEXT FIRST, ADD m ENUM('p,q','r') AFTER a, ADD e INT");
    const out = applyAddColumns(base, s, defaults);
    assert.deepEqual(out.columns.map((c) => c.name), ['z', 'a', 'm', 'b', 'e']);
    assert.deepEqual(out.primaryKey, [3]);
    assert.deepEqual(out.columns[2]?.type, { kind: 'enum', values: ['p,q', 'r'] });
    assert.deepEqual(base.columns.map((c) => c.name), ['a', 'b'], 'input unchanged');
    assert.throws(() => applyAddColumns(out, addCols('ALTER TABLE t ADD a INT'), defaults));
    assert.equal(applyAddColumns(out, addCols('ALTER TABLE t ADD COLUMN IF NOT EXISTS a INT'), defaults).columns.length, 5);
  });
});

describe('parseDdl: DROP, TRUNCATE, RENAME, others', () => {
  it('reads DROP TABLE with several tables and the server comment', () => {
    assert.deepEqual(parseDdl('DROP TABLE IF EXISTS `a`, b.`c d` /* generated by server */', 'd'), {
      kind: 'drop-table', tables: [{ schema: 'd', name: 'a' }, { schema: 'b', name: 'c d' }], ifExists: true, temporary: false,
    });
  });
  it('reads TRUNCATE with and without TABLE', () => {
    assert.deepEqual(parseDdl('TRUNCATE TABLE x.y', 'd'), { kind: 'truncate-table', table: { schema: 'x', name: 'y' } });
    assert.deepEqual(parseDdl('truncate y', 'd'), { kind: 'truncate-table', table: { schema: 'd', name: 'y' } });
  });
  it('reads RENAME TABLE with several pairs', () => {
    assert.deepEqual(parseDdl('RENAME TABLE a TO b, x.c TO y.`d`', 'd'), {
      kind: 'rename-table',
      renames: [
        { from: { schema: 'd', name: 'a' }, to: { schema: 'd', name: 'b' } },
        { from: { schema: 'x', name: 'c' }, to: { schema: 'y', name: 'd' } },
      ],
    });
  });
  it('returns null for statements that are not tracked table DDL', () => {
    for (const sql of ['BEGIN', 'INSERT INTO t VALUES (1)', 'CREATE DATABASE x', 'CREATE INDEX i ON t (a)', 'DROP VIEW v', 'GRANT SELECT ON *.* TO u', 'CREATE DEFINER=`root`@`%` VIEW v AS SELECT 1']) {
      assert.equal(parseDdl(sql, 'd'), null, sql);
    }
  });
  it('reports a table DDL it cannot read as unparsed, never as something else', () => {
    assert.equal(parseDdl('CREATE TABLE t (a INT WOBBLE)', 'd')?.kind, 'unparsed');
    assert.equal(parseDdl("CREATE TABLE t (a ENUM('x)", 'd')?.kind, 'unparsed');
  });
});

it('xaIdOf: the xid of XA statements as the binlog writes them, normalised', async () => {
  const { xaIdOf } = await import('../../src/connectors/mysql/stream.js');
  assert.equal(xaIdOf("XA START X'6665727279',X'',1"), "X'6665727279',X'',1");
  assert.equal(xaIdOf("XA COMMIT X'6665727279', X'', 1"), "X'6665727279',X'',1");
  assert.equal(xaIdOf("XA COMMIT 'a' ONE PHASE"), "'a'");
  assert.equal(xaIdOf("XA ROLLBACK 'a'"), "'a'");
  assert.equal(xaIdOf('COMMIT'), null);
});

it('sameTimeZone: equal, different and undecidable zone texts (source.server-time-zone check)', async () => {
  const { sameTimeZone } = await import('../../src/connectors/mysql/check.js');
  assert.equal(sameTimeZone('UTC', '+00:00'), true);
  assert.equal(sameTimeZone('SYSTEM', 'system'), true);
  assert.equal(sameTimeZone('+05:30', '+01:00'), false);
  assert.equal(sameTimeZone('UTC', 'Europe/Oslo'), false);
  assert.equal(sameTimeZone('CET', 'Europe/Oslo'), null);
});
