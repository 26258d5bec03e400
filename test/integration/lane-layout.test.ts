/**
 * Lanes and their checkpoints across a change of how keys are assigned to lanes.
 *
 * Each lane's checkpoint row in the target says how far that lane has applied the keys it owns.
 * A pipeline whose state was written under another assignment (another lane count, or a Ferry
 * that hashed integer keys one by one, before LANE_SCHEME) must not trust those rows: a lane
 * may now own keys another lane had not applied yet. This test makes that situation by hand
 * (the state's lane layout as an older Ferry wrote it, and one lane's checkpoint row far ahead,
 * as if it had applied everything) and checks that the restart applies every change anyway.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { compareToPostgres, isEqual, summarize } from '../helpers/compare.js';
import { mysqlOptions, pgOptions } from '../helpers/env.js';
import { startFerry, tempDir, waitFor, writePipelineFile } from '../helpers/ferry.js';

const db = `lanes_${process.pid}`;
const pgdb = `lanes_${process.pid}`;

async function converged(what: string): Promise<void> {
  let last = '';
  try {
    await waitFor(
      what,
      async () => {
        const d = await compareToPostgres(db, 't', pgdb);
        last = summarize(d);
        return isEqual(d);
      },
      90_000,
      300,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${last}`);
  }
}

describe('lane layout', () => {
  let dir = '';
  before(async () => {
    const c = await mysql.createConnection(mysqlOptions);
    await c.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await c.query(`CREATE DATABASE \`${db}\``);
    await c.query(`CREATE TABLE \`${db}\`.t (id BIGINT PRIMARY KEY, v INT NOT NULL)`);
    await c.query(`INSERT INTO \`${db}\`.t SELECT seq, 0 FROM \`${db}\`.seq_1_to_5000`);
    await c.end();
    const p = new pg.Client(pgOptions);
    await p.connect();
    await p.query(`DROP DATABASE IF EXISTS "${pgdb}"`);
    await p.query(`CREATE DATABASE "${pgdb}"`);
    await p.end();
    dir = tempDir('lane-layout');
  });
  after(async () => {
    const c = await mysql.createConnection(mysqlOptions);
    await c.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await c.end();
  });

  test('a state written under another lane assignment restarts every lane from the pipeline checkpoint', async () => {
    const name = 'lane-layout';
    const file = writePipelineFile(dir, { name, tables: `${db}\\..*`, sink: 'postgres', pgDatabase: pgdb, parallelism: 2 });
    const first = startFerry(['run', file]);
    await converged('snapshot applied');
    first.child.kill('SIGTERM');
    assert.equal((await first.exited).code, 0, first.output());

    // Changes while stopped, over many blocks of keys: both lanes own some of them.
    const c = await mysql.createConnection({ ...mysqlOptions, database: db });
    await c.query('INSERT INTO t SELECT seq, 1 FROM seq_10000_to_19999');
    await c.query('UPDATE t SET v = v + 10 WHERE id % 3 = 0');
    await c.query('DELETE FROM t WHERE id % 7 = 0');
    const [[status]] = (await c.query('SHOW MASTER STATUS')) as unknown as [[{ File: string; Position: number }]];
    await c.end();

    // As an older Ferry left it: the lane count alone in the state, and lane 1's row at the end
    // of the binlog (under the old assignment it had applied everything it owned).
    const state = new Database(path.join(dir, 'state', `${name}.sqlite`));
    const layout = state.prepare("SELECT value FROM meta WHERE key = 'parallelism'").pluck().get() as string;
    assert.match(layout, /^2 \S+$/, 'the lane count and the assignment are stored together');
    state.prepare("UPDATE meta SET value = '2' WHERE key = 'parallelism'").run();
    state.close();
    const p = new pg.Client({ ...pgOptions, database: pgdb });
    await p.connect();
    const rows = (await p.query<{ lane: number; position: string }>('SELECT lane, position FROM _ferry._ferry_checkpoint WHERE pipeline = $1 ORDER BY lane', [name])).rows;
    assert.equal(rows.length, 2, JSON.stringify(rows));
    const ahead = { ...(JSON.parse(rows[1]?.position ?? '{}') as object), file: status.File, pos: Number(status.Position) };
    await p.query('UPDATE _ferry._ferry_checkpoint SET position = $1 WHERE pipeline = $2 AND lane = 1', [JSON.stringify(ahead), name]);
    await p.end();

    const again = startFerry(['run', file]);
    await converged('every change applied after the restart');
    again.child.kill('SIGTERM');
    assert.equal((await again.exited).code, 0, again.output());
  });
});
