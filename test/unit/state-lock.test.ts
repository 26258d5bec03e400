import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FerryError, isFerryError } from '../../src/core/errors.js';
import { openStateStore } from '../../src/state/sqlite-store.js';

const root = mkdtempSync(join(tmpdir(), 'ferry-lock-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => join(root, `d${++n}`);
const storeModule = new URL('../../src/state/sqlite-store.js', import.meta.url).href;

/** A second process that opens the store, tries to take the run lock, reports, and (if it got it) holds it until killed. */
function otherProcess(dir: string, name: string): { child: ChildProcessWithoutNullStreams; firstLine: Promise<string> } {
  const script = `
    const { openStateStore } = await import(${JSON.stringify(storeModule)});
    const s = openStateStore(${JSON.stringify(dir)}, ${JSON.stringify(name)});
    try {
      s.acquireRunLock();
      globalThis.heldStore = s; // keep it reachable: a collected store closes its lock connection
      process.stdout.write('locked\\n');
      setInterval(() => {}, 1000);
    } catch (e) {
      process.stdout.write(JSON.stringify({ code: e.code, message: e.message }) + '\\n');
      s.close();
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  const firstLine = new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => reject(new Error(`child exited (${code}) before reporting: ${err}`)));
  });
  return { child, firstLine };
}

function exited(child: ChildProcessWithoutNullStreams): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

describe('run lock', () => {
  test('only one store at a time; the error names the PID; release lets the next one in', () => {
    const dir = freshDir();
    const a = openStateStore(dir, 'p');
    const b = openStateStore(dir, 'p');
    a.acquireRunLock();
    a.acquireRunLock(); // idempotent
    assert.throws(
      () => b.acquireRunLock(),
      (e: unknown) => isFerryError(e, 'FERRY_STATE_LOCKED') && e.message.includes(`process ${process.pid}`) && (e.details?.pid as number) === process.pid && /stop PID/.test(e.fix ?? ''),
    );
    assert.equal(a.runLockHolder(), process.pid);
    assert.equal(b.runLockHolder(), process.pid);
    a.releaseRunLock();
    a.releaseRunLock(); // idempotent
    assert.equal(b.runLockHolder(), null);
    b.acquireRunLock();
    assert.throws(() => a.acquireRunLock(), (e: unknown) => isFerryError(e, 'FERRY_STATE_LOCKED'));
    b.close(); // close releases
    a.acquireRunLock();
    a.close();
  });

  test('a pipeline that never ran has no holder', () => {
    const s = openStateStore(freshDir(), 'p');
    assert.equal(s.runLockHolder(), null);
    s.close();
  });

  test('different pipelines in one directory do not exclude each other', () => {
    const dir = freshDir();
    const a = openStateStore(dir, 'p1');
    const b = openStateStore(dir, 'p2');
    a.acquireRunLock();
    b.acquireRunLock();
    a.close();
    b.close();
  });

  test('a second process is refused while this one holds the lock', async () => {
    const dir = freshDir();
    const s = openStateStore(dir, 'p');
    s.acquireRunLock();
    try {
      const { child, firstLine } = otherProcess(dir, 'p');
      const report = JSON.parse(await firstLine) as { code: string; message: string };
      await exited(child);
      assert.equal(report.code, 'FERRY_STATE_LOCKED');
      assert.match(report.message, new RegExp(`process ${process.pid}\\b`));
    } finally {
      s.close();
    }
  });

  test('a lock held by another process names its PID, and dies with it (SIGKILL)', async () => {
    const dir = freshDir();
    const { child, firstLine } = otherProcess(dir, 'p');
    try {
      assert.equal(await firstLine, 'locked');
      const s = openStateStore(dir, 'p');
      try {
        assert.equal(s.runLockHolder(), child.pid);
        assert.throws(
          () => s.acquireRunLock(),
          (e: unknown) => e instanceof FerryError && e.code === 'FERRY_STATE_LOCKED' && e.message.includes(`process ${child.pid}`),
        );
        child.kill('SIGKILL');
        await exited(child);
        // No stale lock: the kernel released it with the process.
        assert.equal(s.runLockHolder(), null);
        s.acquireRunLock();
        assert.equal(s.runLockHolder(), process.pid);
      } finally {
        s.close();
      }
    } finally {
      child.kill('SIGKILL');
    }
  });
});
