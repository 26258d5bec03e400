/**
 * Faults of the source MariaDB, on a throwaway server this file owns (never the shared one):
 * restarted and killed while Ferry streams and while it snapshots, grants revoked and restored,
 * another binlog client with the same server-id, the binlog purged past the checkpoint, and a
 * checkpoint ahead of the server (RESET MASTER). Each runs the workload of
 * test/helpers/workload.ts and ends with the shared checks: target equal to source, bank total
 * intact, no rolled-back row, checkpoints never backwards, canary password nowhere.
 * Purge and RESET MASTER come last: they rewrite the server's binlog for every database on it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pgOptions } from '../helpers/env.js';
import { waitFor } from '../helpers/ferry.js';
import { exitWithin, runPipelineProcess } from '../helpers/fault-pipeline.js';
import { findCanary, parseStoredPosition, readCheckpoint } from '../helpers/invariants.js';
import Database from 'better-sqlite3';
import { CANARY_PASSWORD, CANARY_USER, startOwnMariaDb, type OwnMariaDb } from '../helpers/own-servers.js';
import { Scenario } from '../helpers/scenario.js';

const dstAdmin = { host: pgOptions.host, port: pgOptions.port, user: pgOptions.user, password: pgOptions.password };
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

describe('source faults (own MariaDB)', () => {
  let server: OwnMariaDb;
  const scenarios: Scenario[] = [];
  const scenario = async (tag: string, o: Parameters<typeof Scenario.create>[3] = {}): Promise<Scenario> => {
    const s = await Scenario.create(tag, server.options, dstAdmin, o);
    scenarios.push(s);
    return s;
  };
  /** Scenario streaming, caught up, with the workload and the target monitor running. */
  const streaming = async (tag: string, o: Parameters<typeof Scenario.create>[3] = {}): Promise<Scenario> => {
    const s = await scenario(tag, o);
    s.start();
    await s.waitPhase('stream');
    await s.converge();
    s.watchTarget();
    s.startWorkload(100);
    await sleep(2000);
    return s;
  };

  before(async () => {
    server = await startOwnMariaDb('source-faults');
  });
  after(async () => {
    for (const s of scenarios) await s.dispose();
    await server.destroy();
  });

  test('MariaDB restarted gracefully while Ferry streams: Ferry reconnects by itself and converges', async () => {
    const s = await streaming('src_restart');
    await server.stop();
    await sleep(3000);
    await server.start();
    await sleep(3000);
    await s.stopWorkload();
    await s.converge(120_000);
    assert.equal(s.ferry?.child.exitCode, null, `ferry kept running\n${s.tail()}`);
    assert.match(s.allOutput(), /source stream lost; reconnecting/);
    assert.equal((await s.stopFerry()).code, 0, s.tail());
    await s.finish();
  });

  test('MariaDB killed (-9) while Ferry streams: Ferry reconnects after crash recovery and converges', async () => {
    const s = await streaming('src_kill');
    await server.kill9();
    await sleep(2000);
    await server.start();
    await sleep(3000);
    await s.stopWorkload();
    await s.converge(120_000);
    assert.equal(s.ferry?.child.exitCode, null, `ferry kept running\n${s.tail()}`);
    assert.equal((await s.stopFerry()).code, 0, s.tail());
    await s.finish();
  });

  test('MariaDB killed (-9) during the snapshot and back after 10 s: Ferry retries the chunk read (or fails loudly and resumes on rerun) and converges', async (t) => {
    const s = await scenario('src_kill_snap', { items: 150_000, chunkSize: 100, parallelism: 2 });
    s.start();
    await waitFor('snapshot under way', () => itemsCopied(s.pipe.stateFile) >= 5000, 60_000, 10);
    const copied = itemsCopied(s.pipe.stateFile);
    await server.kill9();
    try {
      await sleep(10_000);
    } finally {
      await server.start();
    }
    const exitedEarly = s.ferry?.child.exitCode !== null;
    t.diagnostic(`ferry during a 10 s source crash in the snapshot: ${exitedEarly ? `exited with ${s.ferry?.child.exitCode}` : 'kept running (retries)'}`);
    if (exitedEarly) {
      assert.equal(s.ferry?.child.exitCode, 1, s.tail());
      assert.match(s.ferry!.output(), /FERRY_[A-Z_]+:/);
      assert.ok(itemsCopied(s.pipe.stateFile) >= copied, 'snapshot progress was kept');
      s.start();
    }
    s.startWorkload(100);
    await s.waitPhase('stream', 180_000);
    await sleep(2000);
    await s.stopWorkload();
    await s.converge(180_000);
    assert.equal((await s.stopFerry()).code, 0, s.tail());
    await s.finish();
  });

  test('REPLICATION SLAVE revoked mid-stream: a loud failure naming the grant, checkpoint unchanged while revoked; after GRANT the rerun converges', async () => {
    const s = await streaming('src_grants');
    await s.stopWorkload();
    const admin = await server.admin();
    try {
      await admin.query(`REVOKE REPLICATION SLAVE ON *.* FROM '${CANARY_USER}'@'127.0.0.1'`);
      // A revoke does not end sessions: cut the dump so that Ferry must log in again.
      const [rows] = (await admin.query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")) as unknown as [{ ID: number }[]];
      for (const r of rows) await admin.query(`KILL CONNECTION ${Number(r.ID)}`).catch(() => undefined);
      const exit = await exitWithin(s.ferry!, 90_000);
      assert.equal(exit.timedOut, false, `no loud failure within 90 s\n${s.tail()}`);
      assert.equal(exit.code, 1, s.tail());
      assert.match(s.ferry!.output(), /FERRY_SOURCE_MISCONFIGURED/);
      assert.match(s.ferry!.output(), /REPLICATION SLAVE/);
      const cp = readCheckpoint(s.pipe.stateFile);
      s.startWorkload(100);
      const again = runPipelineProcess(s.pipe);
      const exit2 = await exitWithin(again, 90_000);
      assert.equal(exit2.code, 1, again.output());
      assert.equal(readCheckpoint(s.pipe.stateFile), cp, 'a failing run moved the checkpoint');
      assert.deepEqual(findCanary(CANARY_PASSWORD, [again.output()], []), []);
      await admin.query(`GRANT REPLICATION SLAVE ON *.* TO '${CANARY_USER}'@'127.0.0.1'`);
    } finally {
      await admin.end();
    }
    s.start();
    await sleep(3000);
    await s.stopWorkload();
    await s.converge();
    assert.equal((await s.stopFerry()).code, 0, s.tail());
    await s.finish();
  });

  test('a second binlog client with the same server-id: one of the two stops loudly (exit 1, message names the server id), nothing is lost, and with a distinct id both converge', async (t) => {
    const a = await streaming('src_sid_a', { serverId: 777 });
    const b = await scenario('src_sid_b', { serverId: 777, items: 100 });
    b.start();
    // MariaDB refuses (errno 4052) or drops one of two dumps with the same server id.
    await waitFor('one pipeline stops', () => a.ferry?.child.exitCode !== null || b.ferry?.child.exitCode !== null, 90_000, 200);
    const failed = a.ferry?.child.exitCode !== null ? a : b;
    const other = failed === a ? b : a;
    t.diagnostic(`pipeline ${failed.pipe.name} stopped: ${(failed.ferry?.output().match(/FERRY_[A-Z_]+: [^\n]*/) ?? [''])[0].slice(0, 200)}`);
    assert.equal(failed.ferry?.child.exitCode, 1, failed.tail());
    assert.match(failed.ferry?.output() ?? '', /server_id|server-id/);
    await a.stopWorkload();
    await other.converge();
    // The operator's fix: a distinct server-id for the pipeline that stopped.
    const { writeFileSync, readFileSync } = await import('node:fs');
    writeFileSync(failed.pipe.file, readFileSync(failed.pipe.file, 'utf8').replace('server-id: 777', 'server-id: 778'));
    failed.start();
    await failed.converge();
    await b.stopFerry();
    await a.stopFerry();
    await a.finish();
    await b.finish();
  });

  test('a second binlog client with the same server-id is reported as a configuration problem (FERRY_SOURCE_MISCONFIGURED naming source.server-id)', async () => {
    const a = await streaming('src_sid_c', { serverId: 779 });
    const b = await scenario('src_sid_d', { serverId: 779, items: 100 });
    b.start();
    await waitFor('one pipeline stops', () => a.ferry?.child.exitCode !== null || b.ferry?.child.exitCode !== null, 90_000, 200);
    const out = a.allOutput() + b.allOutput();
    await a.stopFerry();
    await b.stopFerry();
    assert.match(out, /FERRY_SOURCE_MISCONFIGURED/);
    assert.match(out, /source\.server-id/);
  });

  test('binlog purged past the checkpoint while Ferry was stopped: FERRY_HISTORY_LOST, exit 1, checkpoint unchanged, no skip', async () => {
    const s = await streaming('src_purge');
    await s.stopWorkload();
    assert.equal((await s.stopFerry()).code, 0, s.tail());
    const cp = readCheckpoint(s.pipe.stateFile);
    s.startWorkload(200);
    await sleep(1500);
    await s.stopWorkload();
    const admin = await server.admin();
    try {
      await admin.query('FLUSH BINARY LOGS');
      await admin.query('FLUSH BINARY LOGS');
      const [rows] = (await admin.query('SHOW MASTER STATUS')) as unknown as [{ File: string }[]];
      const current = String(rows[0]?.File);
      // MariaDB keeps a binlog until InnoDB has checkpointed its transactions (binlog checkpoint):
      // PURGE skips such files silently, so repeat until the checkpoint's file is gone.
      await waitFor('binlog purged past the checkpoint', async () => {
        await admin.query(`PURGE BINARY LOGS TO '${current}'`);
        const [logs] = (await admin.query('SHOW BINARY LOGS')) as unknown as [{ Log_name: string }[]];
        return !logs.some((l) => l.Log_name === parseStoredPosition(cp ?? '').file);
      }, 60_000, 500);
    } finally {
      await admin.end();
    }
    const started = Date.now();
    s.start();
    const exit = await exitWithin(s.ferry!, 60_000);
    assert.equal(exit.code, 1, s.tail());
    assert.ok(Date.now() - started < 30_000, 'the failure is reported within 30 s');
    assert.match(s.ferry!.output(), /FERRY_HISTORY_LOST/);
    assert.match(s.ferry!.output(), /fix: .*snapshot/i);
    assert.equal(readCheckpoint(s.pipe.stateFile), cp, 'the checkpoint moved although history is lost');
    assert.deepEqual(findCanary(CANARY_PASSWORD, [s.allOutput()], [s.pipe.dir]), []);
  });

  test('checkpoint ahead of the server (RESET MASTER while Ferry was stopped): FERRY_CHECKPOINT_AHEAD, exit 1, checkpoint unchanged', async () => {
    const s = await streaming('src_reset');
    await sleep(1000);
    await s.stopWorkload();
    assert.equal((await s.stopFerry()).code, 0, s.tail());
    const cp = readCheckpoint(s.pipe.stateFile);
    const admin = await server.admin();
    try {
      await admin.query('RESET MASTER');
    } finally {
      await admin.end();
    }
    s.start();
    const exit = await exitWithin(s.ferry!, 60_000);
    assert.equal(exit.code, 1, s.tail());
    assert.match(s.ferry!.output(), /FERRY_CHECKPOINT_AHEAD/);
    assert.equal(readCheckpoint(s.pipe.stateFile), cp);
    assert.deepEqual(findCanary(CANARY_PASSWORD, [s.allOutput()], [s.pipe.dir]), []);
  });
});
