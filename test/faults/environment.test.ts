/**
 * The machine Ferry runs on misbehaves: the state directory's disk fills up, the state file is
 * truncated or overwritten with garbage, a source transaction has 1M rows, a row is 64 MB, a row
 * is larger than the pipeline's heap cap (`pipeline.heap.max-bytes`).
 * Expected: coded errors and non-zero exits, never a half-written or silently recreated state;
 * memory bounded (peak RSS, VmHWM, of the ferry process is measured and reported).
 *
 * The full-disk test needs root (tmpfs mount); the 1M-row and 64 MB tests run only with
 * FERRY_SLOW_FAULTS=1.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { compareToPostgres, isEqual, summarize } from '../helpers/compare.js';
import { mysqlOptions, pgOptions } from '../helpers/env.js';
import { runFerry, startFerry, tempDir, waitFor, writePipelineFile, type FerryProcess } from '../helpers/ferry.js';
import { peakRssMiB, readCheckpoint } from '../helpers/invariants.js';
import { freshPgDatabase } from '../helpers/scenario.js';

const SLOW = process.env.FERRY_SLOW_FAULTS === '1';
const IS_ROOT = process.getuid?.() === 0;
const pgAdmin = { host: pgOptions.host, port: pgOptions.port, user: pgOptions.user, password: pgOptions.password };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function smallSource(db: string, rows: number, extra = ''): Promise<void> {
  const c = await mysql.createConnection({ ...mysqlOptions });
  try {
    await c.query(`DROP DATABASE IF EXISTS \`${db}\`; CREATE DATABASE \`${db}\`; USE \`${db}\`;
      CREATE TABLE \`${db}\`.t (id BIGINT PRIMARY KEY, v VARCHAR(100) NOT NULL, n INT NOT NULL) ${extra};
      INSERT INTO \`${db}\`.t SELECT seq, CONCAT('v', seq), 0 FROM seq_1_to_${rows};`);
  } finally {
    await c.end();
  }
  await freshPgDatabase(pgAdmin, db);
}

async function sourceExec(sql: string): Promise<void> {
  const c = await mysql.createConnection({ ...mysqlOptions });
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function converged(db: string, table: string, ferry: FerryProcess, ms = 120_000): Promise<void> {
  let last = '';
  await waitFor('convergence', async () => {
    const d = await compareToPostgres(db, table, db);
    last = summarize(d);
    return isEqual(d);
  }, ms, 1000).catch((e: unknown) => {
    throw new Error(`${String(e)}\n${last}\n${ferry.output().slice(-3000)}`);
  });
}

function quickCheck(file: string): string {
  const db = new Database(file, { fileMustExist: true, readonly: true });
  try {
    return String(db.pragma('quick_check', { simple: true }));
  } finally {
    db.close();
  }
}

describe('environment faults', () => {
  const mounts: string[] = [];
  const running: FerryProcess[] = [];
  after(async () => {
    for (const f of running) if (f.child.exitCode === null && f.child.signalCode === null) {
      f.child.kill('SIGKILL');
      await f.exited;
    }
    for (const m of mounts) {
      try {
        execFileSync('umount', [m]);
      } catch {
        // already unmounted
      }
    }
  });

  test('the state disk fills up while streaming: a coded error, exit 1, the state file intact; after space is freed the rerun converges', { skip: IS_ROOT ? false : 'needs root for a tmpfs mount' }, async (t) => {
    const db = `fault_diskfull_${process.pid}`;
    await smallSource(db, 2000);
    const dir = tempDir('fault-diskfull');
    const stateDir = path.join(dir, 'state');
    mkdirSync(stateDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', stateDir]);
    mounts.push(stateDir);
    const file = writePipelineFile(dir, { name: 'f-diskfull', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: db });
    const stateFile = path.join(stateDir, 'f-diskfull.sqlite');
    const ferry = startFerry(['run', file]);
    running.push(ferry);
    await converged(db, 't', ferry);
    // Fill the disk: whatever Ferry writes next to its state fails with ENOSPC / SQLITE_FULL.
    const filler = path.join(stateDir, 'filler');
    const fd = openSync(filler, 'w');
    const block = Buffer.alloc(4096, 1);
    try {
      for (;;) writeSync(fd, block);
    } catch {
      // full
    } finally {
      closeSync(fd);
    }
    const before = readCheckpoint(stateFile);
    const writer = (async () => {
      for (let i = 0; i < 200 && ferry.child.exitCode === null; i++) {
        await sourceExec(`UPDATE \`${db}\`.t SET n = n + 1 WHERE id <= ${1 + (i % 50) * 40}`);
        await sleep(100);
      }
    })();
    const exit = await Promise.race([ferry.exited, sleep(60_000).then(() => null)]);
    await writer;
    t.diagnostic(`ferry with a full state disk: ${exit === null ? 'still running after 60 s' : `exit ${exit.code}`}; ${(ferry.output().match(/^FERRY_[A-Z_]+: .*$/m) ?? ['(no coded error line)'])[0].slice(0, 300)}`);
    assert.ok(exit !== null, `ferry kept running on a full state disk without reporting it\n${ferry.output().slice(-2000)}`);
    assert.equal(exit.code, 1, ferry.output().slice(-3000));
    assert.match(ferry.output(), /^FERRY_(STATE_[A-Z_]+): .*(full|space)/im, 'a state error that says the disk is full');
    assert.doesNotMatch(ferry.output(), /^FERRY_INTERNAL/m);
    rmSync(filler);
    assert.equal(quickCheck(stateFile), 'ok', 'the state file survived the full disk');
    assert.equal(readCheckpoint(stateFile) !== null, true);
    void before;
    const again = startFerry(['run', file]);
    running.push(again);
    await converged(db, 't', again);
    // The target may already be equal: make sure the rerun is up (signal handlers installed) before stopping it.
    await waitFor('rerun streaming', () => /"msg":"streaming"/.test(again.output()), 60_000, 100);
    again.child.kill('SIGTERM');
    assert.equal((await again.exited).code, 0, again.output().slice(-2000));
  });

  describe('a damaged state file is refused with FERRY_STATE_CORRUPT, never recreated', () => {
    const damages: [string, (f: string) => void][] = [
      ['truncated to zero bytes', (f) => truncateSync(f, 0)],
      ['truncated to half its size', (f) => truncateSync(f, Math.floor(statSync(f).size / 2))],
      ['garbage over the header', (f) => {
        const b = readFileSync(f);
        b.fill(0x5a, 0, 100);
        writeFileSync(f, b);
      }],
      ['garbage over the second page', (f) => {
        const b = readFileSync(f);
        b.fill(0xa5, 4096, Math.min(b.length, 8192));
        writeFileSync(f, b);
      }],
    ];
    for (const [what, damage] of damages) {
      test(what, async () => {
        const db = `fault_corrupt_${process.pid}`;
        await smallSource(db, 200);
        const dir = tempDir('fault-corrupt');
        const file = writePipelineFile(dir, { name: 'f-corrupt', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: db });
        const first = startFerry(['run', file]);
        running.push(first);
        await converged(db, 't', first);
        first.child.kill('SIGTERM');
        assert.equal((await first.exited).code, 0);
        const stateFile = path.join(dir, 'state', 'f-corrupt.sqlite');
        for (const side of ['-wal', '-shm']) if (existsSync(stateFile + side)) rmSync(stateFile + side);
        damage(stateFile);
        const damaged = readFileSync(stateFile);
        for (const cmd of ['run', 'status']) {
          const r = await runFerry([cmd, file], {}, 60_000);
          assert.notEqual(r.code, 0, `${cmd}: ${r.output}`);
          assert.match(r.output, /FERRY_STATE_CORRUPT/, `${cmd}: ${r.output}`);
          assert.match(r.output, /f-corrupt\.sqlite/, 'the message names the file');
          assert.match(r.output, /fix: .*Move/i, 'the message says what to do');
        }
        assert.ok(readFileSync(stateFile).equals(damaged), 'the damaged file was modified or replaced');
      });
    }
  });

  const measure = (ferry: FerryProcess): { stop(): number } => {
    let peak = 0;
    const timer = setInterval(() => {
      const v = ferry.child.pid ? peakRssMiB(ferry.child.pid) : null;
      if (v !== null) peak = Math.max(peak, v);
    }, 200);
    return {
      stop() {
        clearInterval(timer);
        return peak;
      },
    };
  };

  test('a 1,000,000-row source transaction (FERRY_SLOW_FAULTS=1): lands whole, memory bounded', { skip: SLOW ? false : 'set FERRY_SLOW_FAULTS=1' }, async (t) => {
    const db = `fault_hugetxn_${process.pid}`;
    await smallSource(db, 10);
    const file = writePipelineFile(tempDir('fault-hugetxn'), { name: 'f-hugetxn', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: db, parallelism: 2 });
    const ferry = startFerry(['run', file]);
    running.push(ferry);
    await converged(db, 't', ferry);
    const m = measure(ferry);
    const started = Date.now();
    await sourceExec(`USE \`${db}\`; BEGIN; INSERT INTO \`${db}\`.t SELECT 100 + seq, REPEAT('y', 80), seq FROM seq_1_to_1000000; COMMIT;`);
    await converged(db, 't', ferry, 600_000);
    const peak = m.stop();
    t.diagnostic(`1M-row transaction: applied in ${Math.round((Date.now() - started) / 1000)} s, ferry peak RSS ${Math.round(peak)} MiB`);
    ferry.child.kill('SIGTERM');
    assert.equal((await ferry.exited).code, 0);
    assert.ok(peak < 1536, `peak RSS ${peak} MiB`);
  });

  test('a 64 MB row (FERRY_SLOW_FAULTS=1): lands exactly, memory bounded', { skip: SLOW ? false : 'set FERRY_SLOW_FAULTS=1' }, async (t) => {
    const db = `fault_hugerow_${process.pid}`;
    await sourceExec(`DROP DATABASE IF EXISTS \`${db}\`; CREATE DATABASE \`${db}\`; CREATE TABLE \`${db}\`.big (id INT PRIMARY KEY, body LONGTEXT NOT NULL, h CHAR(32) NOT NULL);
                      INSERT INTO \`${db}\`.big VALUES (1, REPEAT('a', 1000), MD5(REPEAT('a', 1000)));`);
    await freshPgDatabase(pgAdmin, db);
    // A row change of 64 MB needs four times that in heap (FERRY_OUT_OF_MEMORY names the size otherwise).
    const file = writePipelineFile(tempDir('fault-hugerow'), { name: 'f-hugerow', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: db, parallelism: 1, extraPipeline: '  heap.max-bytes: 320MiB' });
    const ferry = startFerry(['run', file]);
    running.push(ferry);
    const m = measure(ferry);
    const sameHash = async (): Promise<boolean> => {
      const c = new pg.Client({ ...pgOptions, database: db });
      await c.connect();
      try {
        const r = await c.query(`SELECT count(*)::int AS n FROM "${db}".big WHERE md5(body) = h AND length(body) = 67108864`).catch(() => ({ rows: [{ n: 0 }] }));
        return (r.rows[0] as { n: number }).n === 1;
      } finally {
        await c.end();
      }
    };
    await waitFor('first row', async () => (await compareToPostgres(db, 'big', db)).targetRows === 1, 60_000, 500);
    await sourceExec(`UPDATE \`${db}\`.big SET body = REPEAT('0123456789abcdef', 4194304), h = MD5(REPEAT('0123456789abcdef', 4194304)) WHERE id = 1`);
    await waitFor('64 MB row landed exactly', sameHash, 300_000, 1000).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${ferry.output().slice(-3000)}`);
    });
    const peak = m.stop();
    t.diagnostic(`64 MB row: ferry peak RSS ${Math.round(peak)} MiB`);
    ferry.child.kill('SIGTERM');
    assert.equal((await ferry.exited).code, 0, ferry.output().slice(-2000));
    assert.ok(peak < 2048, `peak RSS ${peak} MiB`);
  });

  test('the pipeline worker runs out of heap: FERRY_OUT_OF_MEMORY naming pipeline.heap.max-bytes, exit 1, no abort; the rerun loses nothing', async () => {
    const db = `fault_heapfull_${process.pid}`;
    await smallSource(db, 500);
    const file = writePipelineFile(tempDir('fault-heapfull'), { name: 'f-heapfull', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: db, parallelism: 2, extraPipeline: '  heap.max-bytes: 64MiB\n  queue.max-bytes: 8MiB' });
    const ferry = startFerry(['run', file], { FERRY_EXHAUST_HEAP_AT: 'stream.after-lane-commit:3' });
    running.push(ferry);
    await sleep(2000);
    await sourceExec(`USE \`${db}\`; INSERT INTO \`${db}\`.t SELECT 1000 + seq, CONCAT('w', seq), seq FROM seq_1_to_200; UPDATE \`${db}\`.t SET n = n + 1 WHERE id <= 100; DELETE FROM \`${db}\`.t WHERE id BETWEEN 400 AND 450;`);
    for (let i = 0; i < 20; i++) await sourceExec(`UPDATE \`${db}\`.t SET n = n + 1 WHERE id = ${1000 + i}`);
    const ended = await Promise.race([ferry.exited, sleep(60_000).then(() => null)]);
    assert.ok(ended !== null, `ferry did not stop on a full heap:\n${ferry.output().slice(-3000)}`);
    assert.equal(ended.code, 1, ferry.output().slice(-3000));
    assert.match(ferry.output(), /FERRY_OUT_OF_MEMORY: the pipeline used all of its 64 MB JavaScript heap/, ferry.output().slice(-3000));
    assert.match(ferry.output(), /fix: Raise `pipeline\.heap\.max-bytes`/);
    assert.doesNotMatch(ferry.output(), /FATAL ERROR|Aborted|core dumped/, 'the process ended by itself, it did not abort');
    const again = startFerry(['run', file]);
    running.push(again);
    await converged(db, 't', again);
    again.child.kill('SIGTERM');
    assert.equal((await again.exited).code, 0, again.output().slice(-2000));
  });

  test('a row change larger than the heap cap allows: FERRY_OUT_OF_MEMORY before decoding it, naming the table and a heap that fits; with that heap the rerun lands it exactly', async () => {
    const db = `fault_heaprow_${process.pid}`;
    await sourceExec(`DROP DATABASE IF EXISTS \`${db}\`; CREATE DATABASE \`${db}\`; CREATE TABLE \`${db}\`.big (id INT PRIMARY KEY, body LONGTEXT NOT NULL, h CHAR(32) NOT NULL); USE \`${db}\`;
                      INSERT INTO \`${db}\`.big SELECT seq, CONCAT('r', seq), MD5(CONCAT('r', seq)) FROM seq_1_to_50;`);
    await freshPgDatabase(pgAdmin, db);
    const dir = tempDir('fault-heaprow');
    const pipeline = (heap: string): string => writePipelineFile(dir, { name: 'f-heaprow', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: db, parallelism: 1, extraPipeline: `  heap.max-bytes: ${heap}\n  queue.max-bytes: 8MiB` });
    const first = startFerry(['run', pipeline('64MiB')]);
    running.push(first);
    await converged(db, 'big', first);
    // 20 MB in one value: more than a quarter of a 64 MiB heap.
    await sourceExec(`INSERT INTO \`${db}\`.big VALUES (100, REPEAT('0123456789abcdef', 1310720), MD5(REPEAT('0123456789abcdef', 1310720)))`);
    const ended = await Promise.race([first.exited, sleep(60_000).then(() => null)]);
    assert.ok(ended !== null, `ferry did not stop on the large row:\n${first.output().slice(-3000)}`);
    assert.equal(ended.code, 1, first.output().slice(-3000));
    assert.match(first.output(), new RegExp(`FERRY_OUT_OF_MEMORY: a row change of 2[01] MiB in ${db}\\.big`), first.output().slice(-3000));
    assert.doesNotMatch(first.output(), /FATAL ERROR|Aborted|core dumped/);
    const suggested = /Raise `pipeline\.heap\.max-bytes` to at least `(\d+MiB)`/.exec(first.output())?.[1];
    assert.ok(suggested, `the fix names a heap size:\n${first.output().slice(-2000)}`);
    const second = startFerry(['run', pipeline(suggested)]);
    running.push(second);
    await converged(db, 'big', second, 180_000);
    const c = new pg.Client({ ...pgOptions, database: db });
    await c.connect();
    try {
      const r = await c.query(`SELECT count(*)::int AS n FROM "${db}".big WHERE md5(body) = h`);
      assert.equal((r.rows[0] as { n: number }).n, 51, 'every row, the 20 MB one included, landed exactly');
    } finally {
      await c.end();
    }
    second.child.kill('SIGTERM');
    assert.equal((await second.exited).code, 0, second.output().slice(-2000));
  });
});
