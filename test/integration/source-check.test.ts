/**
 * check() against the running MariaDB: a well-configured server with a fully granted user, a
 * restricted user (SELECT only), missing tables, tables without a primary key, and connection
 * failures that must never show the password.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Connection } from 'mysql2/promise';
import { checkMySqlSource, parseGrantLine, grantDbMatches, accountOf } from '../../src/connectors/mysql/check.js';
import { allocateServerId, openSourceConnection, parseServerVersion, serverFlavor, SERVER_ID_MIN } from '../../src/connectors/mysql/connection.js';
import { Secret } from '../../src/core/config-types.js';
import { isFerryError } from '../../src/core/errors.js';

import { adminConnection, reEscape, sourceConfig, uniqueDb } from '../helpers/source-setup.js';

const db = uniqueDb('check');
const user = `chk_${randomBytes(4).toString('hex')}`;
const password = `pw-${randomBytes(6).toString('hex')}`;
let admin: Connection;

before(async () => {
  admin = await adminConnection();
  await admin.query(`CREATE DATABASE \`${db}\``);
  await admin.query(`CREATE TABLE \`${db}\`.t (id INT PRIMARY KEY)`);
  await admin.query(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}'`);
  await admin.query(`GRANT SELECT ON \`${db}\`.* TO '${user}'@'127.0.0.1'`);
});

after(async () => {
  await admin?.query(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`);
  await admin?.query(`DROP DATABASE IF EXISTS \`${db}\``);
  await admin?.end();
});

describe('checkMySqlSource', () => {
  it('finds no error on the test server with a fully granted user', async () => {
    const config = sourceConfig(`${reEscape(db)}\\..*`);
    const conn = await openSourceConnection(config);
    try {
      const problems = await checkMySqlSource(conn, config);
      assert.deepEqual(problems.filter((p) => p.severity === 'error'), []);
    } finally {
      await conn.end();
    }
  });

  it('names each missing replication grant with the exact GRANT statement for a SELECT-only user', async () => {
    const config = sourceConfig(`${reEscape(db)}\\..*`, { username: user, password: new Secret(password) });
    const conn = await openSourceConnection(config);
    try {
      const problems = await checkMySqlSource(conn, config);
      const fixes = problems.map((p) => p.fix);
      assert.ok(fixes.includes(`GRANT REPLICATION SLAVE ON *.* TO '${user}'@'127.0.0.1';`), JSON.stringify(problems, null, 2));
      const flavor = await serverFlavor(conn);
      const monitor = flavor.flavor === 'mariadb' ? 'BINLOG MONITOR' : 'REPLICATION CLIENT';
      assert.ok(fixes.includes(`GRANT ${monitor} ON *.* TO '${user}'@'127.0.0.1';`), JSON.stringify(problems, null, 2));
      assert.ok(problems.every((p) => p.code.startsWith('FERRY_') && p.message.length > 0 && p.fix.length > 0));
      // SELECT on the database is held: no SELECT problem, and the table is seen.
      assert.ok(!problems.some((p) => /lacks SELECT/.test(p.message)));
      assert.ok(!problems.some((p) => p.code === 'FERRY_NO_TABLES'));
    } finally {
      await conn.end();
    }
  });

  it('reports FERRY_NO_TABLES when nothing matches and FERRY_NO_PRIMARY_KEY per keyless table', async () => {
    await admin.query(`CREATE TABLE \`${db}\`.\`no key\` (v INT)`);
    const config = sourceConfig(`${reEscape(db)}\\.no key`);
    const conn = await openSourceConnection(config);
    try {
      const problems = await checkMySqlSource(conn, config);
      const pk = problems.find((p) => p.code === 'FERRY_NO_PRIMARY_KEY');
      assert.ok(pk, JSON.stringify(problems));
      assert.match(pk.message, /no key/);
      assert.match(pk.fix, new RegExp(`^ALTER TABLE \`${db}\`\\.\`no key\` ADD PRIMARY KEY`));
      const none = await checkMySqlSource(conn, { ...config, tables: 'nothing\\.here', tablePatterns: [/^(?:nothing\.here)$/] });
      assert.ok(none.some((p) => p.code === 'FERRY_NO_TABLES'));
    } finally {
      await conn.end();
      await admin.query(`DROP TABLE \`${db}\`.\`no key\``);
    }
  });
});

describe('openSourceConnection failures', () => {
  it('reports a wrong password as FERRY_SOURCE_UNREACHABLE without the password', async () => {
    const secret = 'not-the-password-7731';
    const config = sourceConfig('x\\.y', { username: user, password: new Secret(secret) });
    await assert.rejects(openSourceConnection(config), (e) => {
      assert.ok(isFerryError(e, 'FERRY_SOURCE_UNREACHABLE'));
      const text = `${e.message} ${e.fix} ${JSON.stringify(e.details)} ${e.describe()}`;
      assert.ok(!text.includes(secret));
      assert.match(e.fix ?? '', /password/);
      return true;
    });
  });
  it('reports a closed port as FERRY_SOURCE_UNREACHABLE with a fix', async () => {
    await assert.rejects(openSourceConnection(sourceConfig('x\\.y', { port: 1 })), (e) => {
      assert.ok(isFerryError(e, 'FERRY_SOURCE_UNREACHABLE'));
      assert.match(e.fix ?? '', /127\.0\.0\.1:1/);
      return true;
    });
  });
});

describe('server identity helpers', () => {
  it('allocates a server id in the high range, avoiding taken ids', async () => {
    const conn = await openSourceConnection(sourceConfig('x\\.y'));
    try {
      let calls = 0;
      // The first draw hits the server's own id range floor; a fixed random sequence proves the retry.
      const id = await allocateServerId(conn, () => (calls++ === 0 ? 0 : 0.5));
      assert.ok(id >= SERVER_ID_MIN);
    } finally {
      await conn.end();
    }
  });
  it('parses server versions', () => {
    assert.deepEqual(parseServerVersion('10.11.19-MariaDB-0+deb12u1-log'), { flavor: 'mariadb', version: '10.11.19-MariaDB-0+deb12u1-log', major: 10, minor: 11, patch: 19 });
    assert.equal(parseServerVersion('5.5.5-10.6.1-MariaDB').major, 10);
    assert.equal(parseServerVersion('8.0.36').flavor, 'mysql');
  });
  it('parses SHOW GRANTS lines', () => {
    const g = parseGrantLine("GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `u`@`%` IDENTIFIED BY PASSWORD '*ABC'");
    assert.deepEqual(g && [...g.privileges], ['SELECT', 'REPLICATION SLAVE', 'BINLOG MONITOR']);
    const t = parseGrantLine('GRANT SELECT (`a`, `b`), INSERT ON `my db`.`t``x` TO `u`@`h`');
    assert.deepEqual(t && { p: [...t.privileges], db: t.db, table: t.table }, { p: ['INSERT'], db: 'my db', table: 't`x' });
    assert.equal(parseGrantLine('GRANT `role1` TO `u`@`%`'), null);
    assert.equal(parseGrantLine("GRANT PROXY ON ''@'%' TO 'u'@'%'"), null);
    assert.equal(grantDbMatches('shop\\_%', 'shop_eu'), true);
    assert.equal(grantDbMatches('shop\\_%', 'shopXeu'), false);
    assert.equal(grantDbMatches('s_op', 'shop'), true);
    assert.equal(accountOf("o'k@10.%"), "'o''k'@'10.%'");
  });
});
