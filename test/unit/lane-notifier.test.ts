import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Notifier } from '../../src/core/async-queue.js';

test('waitAtMost resolves on notify, on timeout and on abort, and leaves no abort listener behind', async () => {
  const n = new Notifier();
  const ctl = new AbortController();
  const t0 = Date.now();
  for (let i = 0; i < 50; i++) await n.waitAtMost(1, ctl.signal);
  assert.ok(Date.now() - t0 < 2000);
  const woken = n.waitAtMost(60_000, ctl.signal);
  n.notify();
  await woken;
  const aborted = n.waitAtMost(60_000, ctl.signal);
  ctl.abort();
  await aborted;
  // 50+ waits on one signal would have tripped MaxListenersExceededWarning if listeners leaked
  let warned = false;
  process.once('warning', () => (warned = true));
  const ctl2 = new AbortController();
  for (let i = 0; i < 30; i++) await n.waitAtMost(1, ctl2.signal);
  await new Promise((r) => setImmediate(r));
  assert.equal(warned, false);
});
