/**
 * SIGTERM of `ferry run` in each phase, then a restart: the stop is clean (exit 0, lanes flushed,
 * checkpoint written) and the restart repeats nothing — the snapshot continues after the last
 * stored chunk, the stream resumes exactly at the stored checkpoint, every lane's checkpoint
 * equals it, no row is written again and no target row ever goes back to an older version.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { mysqlOptions, pgOptions } from '../helpers/env.js';
import { waitFor } from '../helpers/ferry.js';
import { comparePositions, metricSum, parseStoredPosition, readCheckpoint, scrapeMetrics } from '../helpers/invariants.js';
import { freePort } from '../helpers/own-servers.js';
import { Scenario, ensureCanaryAccount } from '../helpers/scenario.js';

const src = { host: mysqlOptions.host, port: mysqlOptions.port, user: mysqlOptions.user, password: mysqlOptions.password };
const dstAdmin = { host: pgOptions.host, port: pgOptions.port, user: pgOptions.user, password: pgOptions.password };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function snapshotProgress(stateFile: string): { table_id: string; rows_copied: number; done: number }[] {
  try {
    const db = new Database(stateFile, { fileMustExist: true, timeout: 5000 });
    try {
      return db.prepare('SELECT table_id, rows_copied, done FROM snapshot_progress').all() as { table_id: string; rows_copied: number; done: number }[];
    } finally {
      db.close();
    }
  } catch {
    return [];
  }
}

async function laneCheckpoints(s: Scenario): Promise<string[]> {
  const c = new pg.Client(s.dst);
  await c.connect();
  try {
    const r = await c.query('SELECT position FROM _ferry._ferry_checkpoint WHERE pipeline = $1 ORDER BY lane', [s.pipe.name]);
    return (r.rows as { position: string }[]).map((x) => x.position);
  } finally {
    await c.end();
  }
}

describe('graceful SIGTERM, then restart: zero replays', () => {
  const scenarios: Scenario[] = [];
  before(ensureCanaryAccount);
  after(async () => {
    for (const s of scenarios) await s.dispose();
  });

  test('SIGTERM during the snapshot: exit 0, and the restart copies no chunk twice', async () => {
    const s = await Scenario.create('sigterm_snap', src, dstAdmin, { items: 60_000, chunkSize: 200, parallelism: 2 });
    scenarios.push(s);
    s.start();
    await waitFor('snapshot under way', () => snapshotProgress(s.pipe.stateFile).some((p) => p.table_id.endsWith('.items') && p.rows_copied >= 2000 && !p.done), 60_000, 20);
    const stopped = await s.stopFerry('SIGTERM');
    assert.equal(stopped.code, 0, s.tail());
    const atStop = snapshotProgress(s.pipe.stateFile);
    const items = atStop.find((p) => p.table_id.endsWith('.items'));
    assert.ok(items && !items.done, `the stop happened inside the snapshot: ${JSON.stringify(atStop)}`);
    const copiedBefore = atStop.reduce((n, p) => n + p.rows_copied, 0);

    const port = await freePort();
    s.start(['--metrics-port', String(port)]);
    // The snapshot may run on in the stream phase (watermark chunks): wait until every table is done.
    await waitFor('snapshot done', () => {
      const p = snapshotProgress(s.pipe.stateFile);
      return p.length >= 2 && p.every((x) => x.done);
    }, 120_000, 100);
    await sleep(500);
    const metrics = await scrapeMetrics(port);
    // 60,000 items + 50 accounts were in the source; the first run copied `copiedBefore`.
    assert.equal(metricSum(metrics, 'ferry_snapshot_rows_total'), 60_050 - copiedBefore, 'the restart re-copied rows the first run had stored');
    await s.converge();
    assert.equal((await s.stopFerry()).code, 0, s.tail());
    await s.finish([metrics]);
  });

  test('SIGTERM while streaming under load: every lane checkpoint equals the stored checkpoint, the restart resumes there, writes nothing again, no version goes back', async () => {
    const s = await Scenario.create('sigterm_stream', src, dstAdmin, { parallelism: 3 });
    scenarios.push(s);
    s.start();
    await s.waitPhase('stream');
    await s.converge();
    s.watchTarget();
    s.startWorkload(150);
    await sleep(4000);
    const stopped = await s.stopFerry('SIGTERM');
    assert.equal(stopped.code, 0, s.tail());
    const cp = readCheckpoint(s.pipe.stateFile);
    assert.ok(cp, 'a checkpoint is stored');
    const lanes = await laneCheckpoints(s);
    assert.equal(lanes.length, 3);
    for (const l of lanes) assert.equal(comparePositions(parseStoredPosition(l), parseStoredPosition(cp)), 0, `lane checkpoint ${l} differs from the stored checkpoint ${cp}: the graceful stop left a lane behind`);
    await sleep(1500); // the source goes on while Ferry is down

    s.start();
    const p = parseStoredPosition(cp);
    await waitFor('streaming resumed', () => /"msg":"streaming"/.test(s.ferry?.output() ?? ''), 60_000, 100);
    assert.match(s.ferry?.output() ?? '', new RegExp(`"from":"${p.file.replace(/\./g, '\\.')}:${p.pos}[ "]`), 'the stream resumes at the stored checkpoint');
    await sleep(3000);
    await s.stopWorkload();
    await s.converge();

    // Quiet source, caught up: stop and start again; nothing at all may be written.
    assert.equal((await s.stopFerry('SIGTERM')).code, 0, s.tail());
    const port = await freePort();
    s.start(['--metrics-port', String(port)]);
    await waitFor('streaming resumed', () => /"msg":"streaming"/.test(s.ferry?.output() ?? ''), 60_000, 100);
    await sleep(3000);
    const metrics = await scrapeMetrics(port);
    assert.equal(metricSum(metrics, 'ferry_rows_written_total'), 0, `rows were written again after a clean stop:\n${metrics.split('\n').filter((l) => l.startsWith('ferry_rows_written')).join('\n')}`);
    assert.equal((await s.stopFerry('SIGTERM')).code, 0, s.tail());
    await s.finish([metrics]);
  });
});
