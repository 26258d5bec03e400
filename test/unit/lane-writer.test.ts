import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LaneBatch, Sink, SinkLane, TargetTable } from '../../src/core/contracts.js';
import type { KeyedStep } from '../../src/core/key-merge.js';
import { stepsOf } from '../../src/core/key-merge.js';
import { LaneWriter } from '../../src/core/lane-writer.js';
import type { TableSchema } from '../../src/core/schema.js';

const table: TableSchema = {
  schema: 's',
  name: 't',
  columns: [{ name: 'id', type: { kind: 'int', bits: 64, unsigned: false }, sourceType: 'bigint(20)', nullable: false, defaultValue: null, generated: false }],
  primaryKey: [0],
};
const target: TargetTable = { schema: 's', name: 't', source: table };

function stepsFor(ids: number[]): KeyedStep[] {
  const out: KeyedStep[] = [];
  for (const id of ids) stepsOf({ op: 'insert', table, before: null, after: [id] }, target, 1, out);
  return out;
}

/** A sink lane whose writes finish when the test says so. */
function scriptedSink(): { sink: Sink; writes: LaneBatch[]; finishNext: () => void } {
  const writes: LaneBatch[] = [];
  const waiting: (() => void)[] = [];
  const lane: SinkLane = {
    write: (batch) => {
      writes.push(batch);
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    close: async () => undefined,
  };
  const sink = { openLane: async () => lane } as unknown as Sink;
  return { sink, writes, finishNext: () => waiting.shift()?.() };
}

const tick = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A started lane writer over a scripted sink, and the checkpoints it marked durable. */
function startedWriter(maxRows: number): { w: LaneWriter; ctl: AbortController; durable: string[] } & ReturnType<typeof scriptedSink> {
  const scripted = scriptedSink();
  const durable: string[] = [];
  const w = new LaneWriter({
    lane: 0,
    sink: scripted.sink,
    maxRows,
    flushIntervalMs: 60_000,
    maxAttempts: 1,
    markDurable: (_l, cp) => durable.push(cp),
    fail: (e) => assert.fail(e),
    log: () => undefined,
  });
  const ctl = new AbortController();
  w.start(ctl.signal);
  return { ...scripted, w, ctl, durable };
}

test('lane writer: a lane writes at maxRows; the next batch grows while that one is written; durable only after the write', async () => {
  const { writes, finishNext, w, ctl, durable } = startedWriter(10);
  w.enqueue(stepsFor([1, 2, 3]), 'p1');
  await tick();
  assert.equal(writes.length, 0, 'below maxRows and no flush interval yet: nothing written');
  w.enqueue(stepsFor([4, 5, 6, 7, 8, 9, 10]), 'p2');
  await tick();
  assert.equal(writes.length, 1);
  assert.equal(writes[0]?.actions.length, 10);
  assert.equal(writes[0]?.checkpoint, 'p2');
  // While the first write is in flight, more steps pile up past maxRows: no second write yet
  // (one transaction per lane at a time), and nothing is durable.
  w.enqueue(stepsFor(Array.from({ length: 30 }, (_, i) => 100 + i)), 'p3');
  await tick();
  assert.equal(writes.length, 1);
  assert.deepEqual(durable, []);
  finishNext();
  await tick();
  assert.deepEqual(durable, ['p2']);
  assert.equal(writes.length, 2, 'the grown batch follows right after');
  assert.equal(writes[1]?.actions.length, 30);
  assert.equal(writes[1]?.checkpoint, 'p3');
  finishNext();
  await tick();
  assert.deepEqual(durable, ['p2', 'p3']);
  ctl.abort();
  await w.stop();
});

test('lane writer: flushSoon writes a small batch at once, and only after the write in flight', async () => {
  const { writes, finishNext, w, ctl, durable } = startedWriter(100);
  w.flushSoon(); // nothing held: nothing to write
  await tick();
  assert.equal(writes.length, 0);
  w.enqueue(stepsFor([1, 2]), 'p1');
  w.flushSoon();
  await tick();
  assert.equal(writes.length, 1);
  assert.equal(writes[0]?.actions.length, 2);
  w.enqueue(stepsFor([3]), 'p2');
  w.flushSoon();
  await tick();
  assert.equal(writes.length, 1, 'a lane has one transaction in flight at a time');
  finishNext();
  await tick();
  assert.equal(writes.length, 2);
  assert.equal(writes[1]?.checkpoint, 'p2');
  finishNext();
  await tick();
  assert.deepEqual(durable, ['p1', 'p2']);
  // A newer position without steps (e.g. another lane's transaction) is written too.
  w.enqueue([], 'p3');
  w.flushSoon();
  await tick();
  assert.equal(writes.length, 3);
  assert.equal(writes[2]?.actions.length, 0);
  assert.equal(writes[2]?.checkpoint, 'p3');
  finishNext();
  await tick();
  assert.deepEqual(durable, ['p1', 'p2', 'p3']);
  ctl.abort();
  await w.stop();
});
