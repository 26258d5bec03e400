/**
 * The snapshot scheduler against a scripted in-memory source: several readers on one table hand
 * on every row exactly once, in key order; a range read that fails after the cursor moved past it
 * is read again (never skipped); a failed keyset read gives the cursor back.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Row, Value } from '../../src/core/change.js';
import { ChunkMerger, untouchedRows } from '../../src/core/chunk-merge.js';
import { parsePipelineConfig } from '../../src/core/config.js';
import type { Source, SnapshotChunk } from '../../src/core/contracts.js';
import { createPipelineMetrics } from '../../src/core/metrics.js';
import type { TableSchema } from '../../src/core/schema.js';
import { SnapshotScheduler } from '../../src/core/snapshot-scheduler.js';
import { openStateStore } from '../../src/state/sqlite-store.js';

const root = mkdtempSync(path.join(tmpdir(), 'ferry-sched-'));
after(() => rmSync(root, { recursive: true, force: true }));

const schema = {
  schema: 'db',
  name: 't',
  columns: [
    { name: 'id', type: { kind: 'int', bits: 32, unsigned: false }, sourceType: 'int', nullable: false, defaultValue: null, generated: false },
    { name: 'v', type: { kind: 'int', bits: 32, unsigned: false }, sourceType: 'int', nullable: true, defaultValue: null, generated: false },
  ],
  primaryKey: [0],
} as unknown as TableSchema;

const transient = Object.assign(new Error('connection lost'), { code: 'ECONNRESET' });

/** Rows 1..n of db.t; `failRange(k)` says whether the k-th range read fails. */
function scriptedSource(n: number, failRange: (k: number) => boolean, failKeyset: (k: number) => boolean): Source<number> & { ranges: number; keysets: number } {
  const rows: Row[] = Array.from({ length: n }, (_, i) => [i + 1, (i + 1) * 10]);
  const after = (k: Value[] | null): Row[] => (k === null ? rows : rows.filter((r) => (r[0] as number) > (k[0] as number)));
  const s = {
    ranges: 0,
    keysets: 0,
    estimateRows: async () => n,
    currentPosition: async () => 0,
    readChunk: async (_t: TableSchema, a: Value[] | null, limit: number): Promise<SnapshotChunk> => {
      await new Promise((r) => setTimeout(r, 1));
      if (failKeyset(s.keysets++)) throw transient;
      const out = after(a).slice(0, limit);
      const last = out[out.length - 1];
      return { rows: out, lastKey: last ? [last[0] as Value] : null };
    },
    chunkEnd: async (_t: TableSchema, a: Value[] | null, count: number): Promise<Value[] | null> => {
      const r = after(a)[count - 1];
      return r ? [r[0] as Value] : null;
    },
    readRange: async (_t: TableSchema, a: Value[] | null, upTo: Value[]): Promise<SnapshotChunk> => {
      await new Promise((r) => setTimeout(r, 1 + Math.floor(Math.random() * 5)));
      if (failRange(s.ranges++)) throw transient;
      return { rows: after(a).filter((r) => (r[0] as number) <= (upTo[0] as number)), lastKey: upTo };
    },
  };
  return s as unknown as Source<number> & { ranges: number; keysets: number };
}

async function copyAll(name: string, source: Source<number>): Promise<{ ids: number[]; done: boolean }> {
  const config = parsePipelineConfig(
    `source:\n  type: mariadb\n  hostname: h\n  username: u\n  password: p\n  tables: "db\\\\.t"\n  scan.snapshot.chunk.size: 64\nsink:\n  type: postgres\n  hostname: h\n  username: u\n  password: p\n  database: d\npipeline:\n  name: ${name}\n  snapshot.parallelism: 3\n`,
    'test.yaml',
  );
  const state = openStateStore(path.join(root, name), name);
  const merger = new ChunkMerger<number>((a, b) => a - b);
  const ids: number[] = [];
  let done = false;
  const ac = new AbortController();
  const scheduler: SnapshotScheduler<number> = new SnapshotScheduler<number>({
    config,
    source,
    state,
    metrics: createPipelineMetrics(),
    log: { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined },
    observer: { snapshotTableDone: () => (done = true) },
    merger,
    schemaOf: () => schema,
    emitReady: () => {
      for (const c of merger.takeReady(Number.MAX_SAFE_INTEGER)) {
        for (const r of untouchedRows(c)) ids.push(r[0] as number);
        scheduler.emitted(c, [0]);
      }
      scheduler.recordDurable(() => Number.MAX_SAFE_INTEGER);
    },
    backlogged: () => false,
    isTransient: (e) => (e as { code?: string }).code === 'ECONNRESET',
    outageLimitMs: 60_000,
  });
  scheduler.add('db.t');
  scheduler.start(ac.signal);
  const deadline = Date.now() + 30_000;
  while (!done && scheduler.failure === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  ac.abort();
  await scheduler.stop();
  state.close();
  assert.equal(scheduler.failure, null);
  return { ids, done };
}

describe('SnapshotScheduler', () => {
  it('several readers on one table: every row once, in key order, and the table done', async () => {
    const src = scriptedSource(5000, () => false, () => false);
    const { ids, done } = await copyAll('s1', src);
    assert.ok(done);
    assert.deepEqual(ids, Array.from({ length: 5000 }, (_, i) => i + 1));
    assert.ok(src.ranges > 0, 'idle readers joined the table on key ranges');
  });

  it('a range read that fails after the cursor moved on is read again, not skipped', async () => {
    const src = scriptedSource(5000, (k) => k % 3 === 1, () => false);
    const { ids, done } = await copyAll('s2', src);
    assert.ok(done);
    assert.deepEqual(ids, Array.from({ length: 5000 }, (_, i) => i + 1));
  });

  it('a failed keyset read gives the cursor back and is retried', async () => {
    const src = scriptedSource(3000, () => false, (k) => k === 0 || k === 2);
    const { ids, done } = await copyAll('s3', src);
    assert.ok(done);
    assert.deepEqual(ids, Array.from({ length: 3000 }, (_, i) => i + 1));
  });
});
