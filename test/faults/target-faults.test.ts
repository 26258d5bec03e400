/**
 * Faults of the target PostgreSQL, on a throwaway server this file owns: down while Ferry
 * streams (lanes retry with backoff, the source is paused by backpressure, the checkpoint does
 * not move, everything lands once it is back), down during the snapshot, and a poison row the
 * target rejects (stop with the key, exit 1, checkpoint unchanged — never a silent skip).
 *
 * The 60-second outage runs only with FERRY_SLOW_FAULTS=1; the default suite uses 15 seconds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { mysqlOptions } from '../helpers/env.js';
import { waitFor } from '../helpers/ferry.js';
import { exitWithin } from '../helpers/fault-pipeline.js';
import { findCanary, readCheckpoint } from '../helpers/invariants.js';
import { CANARY_PASSWORD, startOwnPostgres, type OwnPostgres } from '../helpers/own-servers.js';
import { Scenario, ensureCanaryAccount } from '../helpers/scenario.js';

const SLOW = process.env.FERRY_SLOW_FAULTS === '1';
const src = { host: mysqlOptions.host, port: mysqlOptions.port, user: mysqlOptions.user, password: mysqlOptions.password };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function itemsCopied(stateFile: string): number {
  try {
    const db = new Database(stateFile, { fileMustExist: true, timeout: 5000 });
    try {
      const r = db.prepare("SELECT rows_copied FROM snapshot_progress WHERE table_id LIKE '%.items' AND done = 0").get() as { rows_copied: number } | undefined;
      return r?.rows_copied ?? 0;
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}

describe('target faults (own PostgreSQL)', () => {
  let target: OwnPostgres;
  const scenarios: Scenario[] = [];
  const scenario = async (tag: string, o: Parameters<typeof Scenario.create>[3] = {}): Promise<Scenario> => {
    const s = await Scenario.create(tag, src, target.options, o);
    scenarios.push(s);
    return s;
  };

  before(async () => {
    await ensureCanaryAccount();
    target = await startOwnPostgres('target-faults');
  });
  after(async () => {
    for (const s of scenarios) await s.dispose();
    await target.destroy();
  });

  const outageWhileStreaming = async (tag: string, downMs: number): Promise<void> => {
    const s = await scenario(tag);
    s.start();
    await s.waitPhase('stream');
    await s.converge();
    s.watchTarget();
    s.startWorkload(100);
    await sleep(2000);
    await target.stop();
    let cpDown: string | null = null;
    let cpLater: string | null = null;
    let alive = false;
    try {
      await sleep(2000);
      cpDown = readCheckpoint(s.pipe.stateFile);
      await sleep(downMs - 2000);
      cpLater = readCheckpoint(s.pipe.stateFile);
      alive = s.ferry?.child.exitCode === null;
    } finally {
      await target.start();
    }
    assert.equal(cpLater, cpDown, 'the checkpoint advanced while the target was down');
    assert.ok(alive, `ferry gave up during a ${downMs / 1000} s outage\n${s.tail()}`);
    await sleep(3000);
    await s.stopWorkload();
    await s.converge(120_000);
    assert.match(s.allOutput(), /sink write failed, retrying/);
    assert.equal((await s.stopFerry()).code, 0, s.tail());
    await s.finish();
  };

  test('target down for 15 s while streaming: lanes retry with backoff, checkpoint frozen, then everything lands', async () => {
    await outageWhileStreaming('tgt_down15', 15_000);
  });

  test('target down for 60 s while streaming (FERRY_SLOW_FAULTS=1)', { skip: SLOW ? false : 'set FERRY_SLOW_FAULTS=1' }, async () => {
    await outageWhileStreaming('tgt_down60', 60_000);
  });

  const outageDuringSnapshot = async (tag: string, downMs: number, t: { diagnostic(m: string): void }): Promise<void> => {
    const s = await scenario(tag, { items: 150_000, chunkSize: 100, parallelism: 2 });
    s.start();
    await waitFor('snapshot under way', () => itemsCopied(s.pipe.stateFile) >= 5000, 60_000, 10);
    const copied = itemsCopied(s.pipe.stateFile);
    await target.stop();
    let alive = false;
    try {
      await sleep(downMs);
      alive = s.ferry?.child.exitCode === null;
    } finally {
      await target.start();
    }
    t.diagnostic(`ferry during a ${downMs / 1000} s target outage in the snapshot: ${alive ? 'kept running (lane retries)' : `stopped: ${(s.ferry?.output().match(/^FERRY_[A-Z_]+: .*$/m) ?? [''])[0].slice(0, 200)}`}`);
    assert.ok(alive, `ferry gave up during the outage\n${s.tail(2500)}`);
    assert.ok(itemsCopied(s.pipe.stateFile) >= copied, 'snapshot progress went back');
    await s.waitPhase('stream', 180_000);
    await s.converge(180_000);
    assert.equal((await s.stopFerry()).code, 0, s.tail());
    await s.finish();
  };

  test('target down for 10 s during the snapshot: the chunk writes wait (lane retries) and the snapshot goes on by itself', async (t) => {
    await outageDuringSnapshot('tgt_down_snap', 10_000, t);
  });

  test('target down for 60 s during the snapshot (FERRY_SLOW_FAULTS=1)', { skip: SLOW ? false : 'set FERRY_SLOW_FAULTS=1' }, async (t) => {
    await outageDuringSnapshot('tgt_down_snap60', 60_000, t);
  });

  test('poison row (a CHECK constraint on the target rejects it): ferry stops with the key, exit 1, checkpoint unchanged, rerun fails the same way', async () => {
    const s = await scenario('tgt_poison', { parallelism: 2 });
    s.start();
    await s.waitPhase('stream');
    await s.converge();
    await target.query(`ALTER TABLE "${s.db}".items ADD CONSTRAINT amount_small CHECK (amount < 1000000)`, s.db);
    await sleep(1500);
    const before = readCheckpoint(s.pipe.stateFile);
    const c = await mysql.createConnection({ ...src, database: s.db });
    await c.query("INSERT INTO items (id, grp, payload, amount, version) VALUES (987654321, 1, 'poison', 5000000, 1), (987654322, 1, 'fine', 1, 1)");
    await c.end();
    const exit = await exitWithin(s.ferry!, 60_000);
    assert.equal(exit.code, 1, s.tail());
    assert.match(s.ferry!.output(), /FERRY_SINK_WRITE/);
    assert.match(s.ferry!.output(), /987654321/, 'the message names the rejected key');
    assert.match(s.ferry!.output(), /amount_small/, 'the message names the constraint');
    assert.equal(readCheckpoint(s.pipe.stateFile), before, 'the checkpoint moved past the poison row');
    const rows = await target.query(`SELECT count(*)::int AS n FROM "${s.db}".items WHERE id = 987654321`, s.db);
    assert.equal((rows.rows[0] as { n: number }).n, 0);
    s.start();
    const again = await exitWithin(s.ferry!, 60_000);
    assert.equal(again.code, 1, 'the rerun stops at the same row, never skips it');
    assert.equal(readCheckpoint(s.pipe.stateFile), before);
    assert.deepEqual(findCanary(CANARY_PASSWORD, [s.allOutput()], [s.pipe.dir]), []);
    // The operator's fix: relax the constraint; the rerun then converges.
    await target.query(`ALTER TABLE "${s.db}".items DROP CONSTRAINT amount_small`, s.db);
    s.start();
    await s.converge();
    assert.equal((await s.stopFerry()).code, 0, s.tail());
    await s.finish();
  });
});
