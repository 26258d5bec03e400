/**
 * pipeline.schema-change end to end: `fail` stops before applying anything, `lenient` keeps the
 * target's rows on TRUNCATE, `evolve` (the default) applies it. Runs bin/ferry into MariaDB.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { mysqlOptions } from '../helpers/env.js';
import { ferryStatus, startFerry, tempDir, waitFor, writePipelineFile } from '../helpers/ferry.js';

const db = `ddl_policy_${process.pid}`;

async function count(c: mysql.Connection, table: string): Promise<number> {
  const [rows] = (await c.query(`SELECT COUNT(*) AS n FROM ${table}`)) as unknown as [{ n: number | string }[]];
  return Number(rows[0]?.n ?? 0);
}

describe('pipeline.schema-change', () => {
  let c: mysql.Connection;
  let dir = '';
  before(async () => {
    c = await mysql.createConnection({ ...mysqlOptions, multipleStatements: true });
    await c.query(`DROP DATABASE IF EXISTS \`${db}\`; CREATE DATABASE \`${db}\``);
    for (const p of ['fail', 'lenient', 'evolve']) {
      await c.query(`DROP DATABASE IF EXISTS \`${db}_${p}\`; CREATE TABLE \`${db}\`.t_${p} (id INT PRIMARY KEY, v INT); INSERT INTO \`${db}\`.t_${p} VALUES (1, 1), (2, 2)`);
    }
    dir = tempDir('ddl-policy');
  });

  after(async () => {
    await c.end();
  });

  for (const policy of ['fail', 'lenient', 'evolve'] as const) {
    test(`${policy}: ${policy === 'fail' ? 'stops with FERRY_DDL_UNSUPPORTED before applying' : policy === 'lenient' ? 'TRUNCATE keeps the target rows' : 'TRUNCATE empties the target'}`, async () => {
      const file = writePipelineFile(dir, {
        name: `ddl-${policy}`,
        tables: `${db}\\.t_${policy}`,
        sink: 'mysql',
        parallelism: 1,
        route: `  - source-table: ${db}\\..*\n    sink-table: ${db}_${policy}.<>\n    replace-symbol: <>`,
        extraPipeline: policy === 'evolve' ? '' : `  schema-change: ${policy}\n`,
      });
      const run = startFerry(['run', file]);
      try {
        await waitFor('streaming', async () => (await ferryStatus(file)).phase === 'stream', 60_000, 300);
        await waitFor('snapshot landed', async () => (await count(c, `\`${db}_${policy}\`.t_${policy}`)) === 2, 30_000, 200);
        await c.query(`TRUNCATE TABLE \`${db}\`.t_${policy}; INSERT INTO \`${db}\`.t_${policy} VALUES (3, 3)`);
        if (policy === 'fail') {
          const exit = await run.exited;
          assert.notEqual(exit.code, 0);
          assert.match(run.output(), /FERRY_DDL_UNSUPPORTED/);
          assert.equal(await count(c, `\`${db}_${policy}\`.t_${policy}`), 2);
          return;
        }
        const want = policy === 'lenient' ? 3 : 1;
        await waitFor(`target has ${want} rows`, async () => (await count(c, `\`${db}_${policy}\`.t_${policy}`)) === want, 30_000, 200);
        run.child.kill('SIGTERM');
        assert.equal((await run.exited).code, 0, run.output().slice(-2000));
      } finally {
        run.child.kill('SIGKILL');
      }
    });
  }
});
