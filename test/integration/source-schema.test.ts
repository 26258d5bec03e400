/**
 * Schema reading from information_schema on the running MariaDB, and agreement between the
 * schema read from the server and the schema the DDL parser builds from the same CREATE TABLE.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Connection } from 'mysql2/promise';
import { openSourceConnection, type MySqlConnection } from '../../src/connectors/mysql/connection.js';
import { parseDdl, tableFromCreate } from '../../src/connectors/mysql/ddl.js';
import { readTableSchemas } from '../../src/connectors/mysql/schema-reader.js';

import { adminConnection, reEscape, sourceConfig, uniqueDb } from '../helpers/source-setup.js';

const db = uniqueDb('schema');
let admin: Connection;
let conn: MySqlConnection;

const ALL_TYPES = `CREATE TABLE \`${db}\`.all_types (
  a INT NOT NULL, b VARCHAR(10) CHARACTER SET latin1 COLLATE latin1_swedish_ci NOT NULL,
  ti TINYINT, su SMALLINT UNSIGNED, mi MEDIUMINT, iu INT(10) UNSIGNED ZEROFILL, bi BIGINT UNSIGNED,
  d DECIMAL(65,30), f FLOAT, dbl DOUBLE, bt BIT(12), y YEAR, da DATE, dt DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(2),
  c CHAR(3), vc VARCHAR(300) COLLATE utf8mb4_bin, tt TINYTEXT, tx TEXT, mt MEDIUMTEXT, lt LONGTEXT,
  bn BINARY(16), vb VARBINARY(8), tb TINYBLOB, bl BLOB, lb LONGBLOB,
  j JSON, e ENUM('a,b', 'it''s', 'p(q)') DEFAULT 'a,b', s SET('x','y'), g GEOMETRY, pt POINT,
  u UUID, i4 INET4, i6 INET6,
  gv INT AS (a + 1) VIRTUAL, gp INT AS (a * 2) PERSISTENT, gs INT GENERATED ALWAYS AS (a * 3) STORED,
  n INT DEFAULT 7,
  PRIMARY KEY (b, a)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci`;

before(async () => {
  admin = await adminConnection();
  await admin.query(`CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.query(ALL_TYPES);
  await admin.query(`CREATE TABLE \`${db}\`.other (id INT PRIMARY KEY)`);
  await admin.query(`CREATE TABLE \`${db}\`.nokey (v INT)`);
  await admin.query(`CREATE VIEW \`${db}\`.a_view AS SELECT 1 AS x`);
  conn = await openSourceConnection(sourceConfig(`${reEscape(db)}\\..*`));
});

after(async () => {
  await conn?.end();
  await admin?.query(`DROP DATABASE IF EXISTS \`${db}\``);
  await admin?.end();
});

describe('readTableSchemas', () => {
  it('reads every common type, the primary key in key order, nullability, defaults and generated columns', async () => {
    const [t] = await readTableSchemas(conn, [new RegExp(`^${reEscape(db)}\\.all_types$`)]);
    assert.ok(t);
    const col = (name: string) => {
      const c = t.columns.find((x) => x.name === name);
      assert.ok(c, name);
      return c;
    };
    assert.equal(t.columns[0]?.name, 'a');
    assert.deepEqual(t.primaryKey, [1, 0], 'key order (b, a), not column order');
    assert.deepEqual(col('b').type, { kind: 'string', maxChars: 10, fixed: false, charset: 'latin1', collation: 'latin1_swedish_ci', lob: false });
    assert.deepEqual(col('iu').type, { kind: 'int', bits: 32, unsigned: true });
    assert.equal(col('iu').sourceType, 'int(10) unsigned zerofill');
    assert.deepEqual(col('bi').type, { kind: 'int', bits: 64, unsigned: true });
    assert.deepEqual(col('d').type, { kind: 'decimal', precision: 65, scale: 30, unsigned: false });
    assert.deepEqual(col('f').type, { kind: 'float' });
    assert.deepEqual(col('bt').type, { kind: 'bit', bits: 12 });
    assert.deepEqual(col('dt').type, { kind: 'datetime', fsp: 6 });
    assert.deepEqual(col('ts').type, { kind: 'timestamp', fsp: 3 });
    assert.deepEqual(col('tm').type, { kind: 'time', fsp: 2 });
    assert.deepEqual(col('c').type, { kind: 'string', maxChars: 3, fixed: true, charset: 'utf8mb4', collation: 'utf8mb4_unicode_ci', lob: false });
    assert.deepEqual(col('vc').type, { kind: 'string', maxChars: 300, fixed: false, charset: 'utf8mb4', collation: 'utf8mb4_bin', lob: false });
    assert.deepEqual(col('lt').type, { kind: 'string', maxChars: null, fixed: false, charset: 'utf8mb4', collation: 'utf8mb4_unicode_ci', lob: true });
    assert.deepEqual(col('bn').type, { kind: 'binary', maxBytes: 16, fixed: true, lob: false });
    assert.deepEqual(col('lb').type, { kind: 'binary', maxBytes: null, fixed: false, lob: true });
    assert.deepEqual(col('j').type, { kind: 'json' }, 'MariaDB JSON (longtext + json_valid check) is json');
    assert.deepEqual(col('e').type, { kind: 'enum', values: ['a,b', "it's", 'p(q)'] });
    assert.equal(col('e').defaultValue, "'a,b'");
    assert.deepEqual(col('s').type, { kind: 'set', values: ['x', 'y'] });
    assert.deepEqual(col('g').type, { kind: 'geometry', subtype: 'geometry' });
    assert.deepEqual(col('pt').type, { kind: 'geometry', subtype: 'point' });
    assert.deepEqual(col('u').type, { kind: 'uuid' });
    assert.deepEqual(col('i4').type, { kind: 'inet4' });
    assert.deepEqual(col('i6').type, { kind: 'inet6' });
    assert.equal(col('gv').generated, true);
    assert.equal(col('gp').generated, true);
    assert.equal(col('gs').generated, true);
    assert.equal(col('n').generated, false);
    assert.equal(col('n').defaultValue, '7');
    assert.equal(col('a').nullable, false);
    assert.equal(col('ti').nullable, true);
  });

  it('agrees with the schema the DDL parser builds from the same CREATE TABLE', async () => {
    const [fromServer] = await readTableSchemas(conn, [new RegExp(`^${reEscape(db)}\\.all_types$`)]);
    const stmt = parseDdl(ALL_TYPES, 'ignored');
    assert.ok(stmt && stmt.kind === 'create-table');
    const fromDdl = tableFromCreate(stmt, { charset: 'utf8mb4', collation: 'utf8mb4_unicode_ci' });
    assert.ok(fromServer);
    assert.deepEqual(fromDdl.primaryKey, fromServer.primaryKey);
    assert.deepEqual(
      fromDdl.columns.map((c) => [c.name, c.type, c.nullable, c.generated]),
      fromServer.columns.map((c) => [c.name, c.type, c.nullable, c.generated]),
    );
  });

  it('lists only base tables matching the patterns, never views or system tables', async () => {
    const all = await readTableSchemas(conn, [new RegExp(`^${reEscape(db)}\\..*$`), /^mysql\..*$/]);
    assert.deepEqual(all.map((t) => t.name), ['all_types', 'nokey', 'other']);
    assert.deepEqual(all.find((t) => t.name === 'nokey')?.primaryKey, []);
    const one = await readTableSchemas(conn, [new RegExp(`^${reEscape(db)}\\.oth.*$`)]);
    assert.deepEqual(one.map((t) => t.name), ['other']);
    assert.deepEqual(await readTableSchemas(conn, [/^no_such_db\..*$/]), []);
  });
});
