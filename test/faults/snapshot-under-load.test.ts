/**
 * The workload runs while the snapshot copies the tables, and the target is sampled from the
 * first row on: no row may ever go back to an older version (the snapshot must not overwrite a
 * newer streamed row, and the stream must not replay an older change over a newer snapshot row),
 * and the end state equals the source. Then a kill -9 in the middle of it and a rerun.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mysqlOptions, pgOptions } from '../helpers/env.js';
import { Scenario, ensureCanaryAccount } from '../helpers/scenario.js';

const src = { host: mysqlOptions.host, port: mysqlOptions.port, user: mysqlOptions.user, password: mysqlOptions.password };
const dstAdmin = { host: pgOptions.host, port: pgOptions.port, user: pgOptions.user, password: pgOptions.password };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('snapshot under load', () => {
  const scenarios: Scenario[] = [];
  before(ensureCanaryAccount);
  after(async () => {
    for (const s of scenarios) await s.dispose();
  });

  test('writes during the snapshot: no target row ever goes back a version, and the target converges', async () => {
    const s = await Scenario.create('snap_load', src, dstAdmin, { items: 100_000, chunkSize: 500, parallelism: 3 });
    scenarios.push(s);
    s.watchTarget();
    s.startWorkload(150);
    await sleep(500);
    s.start();
    await s.waitPhase('stream', 120_000);
    await sleep(3000);
    await s.stopWorkload();
    await s.converge();
    assert.equal((await s.stopFerry()).code, 0, s.tail());
    await s.finish();
  });

  test('writes during the snapshot, kill -9 in the middle, rerun: converges, no version goes back', async () => {
    const s = await Scenario.create('snap_load_kill', src, dstAdmin, { items: 100_000, chunkSize: 300, parallelism: 3 });
    scenarios.push(s);
    s.watchTarget();
    s.startWorkload(150);
    s.start();
    await sleep(2500);
    await s.stopFerry('SIGKILL');
    s.start();
    await s.waitPhase('stream', 120_000);
    await sleep(2000);
    await s.stopWorkload();
    await s.converge();
    assert.equal((await s.stopFerry()).code, 0, s.tail());
    await s.finish();
  });
});
