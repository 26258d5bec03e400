import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PendingRowChange, type RowChange } from '../../src/core/change.js';
import type { KeyAction, TargetTable } from '../../src/core/contracts.js';
import { KeyMerger, LANE_KEY_BLOCK, keyString, laneOf, stepsOf, type KeyedStep } from '../../src/core/key-merge.js';
import type { TableSchema } from '../../src/core/schema.js';
import { CountingPending } from '../helpers/pending.js';

const table: TableSchema = {
  schema: 'shop',
  name: 'orders',
  columns: [
    { name: 'id', type: { kind: 'int', bits: 64, unsigned: false }, sourceType: 'bigint(20)', nullable: false, defaultValue: null, generated: false },
    { name: 'note', type: { kind: 'string', maxChars: 20, fixed: false, charset: 'utf8mb4', collation: null, lob: false }, sourceType: 'varchar(20)', nullable: true, defaultValue: null, generated: false },
  ],
  primaryKey: [0],
};
const target: TargetTable = { schema: 'shop', name: 'orders', source: table };

/** The actions as the sink contract names them (steps carry their lane and merge key too). */
function drained(m: KeyMerger | undefined): KeyAction[] | undefined {
  return m?.drain().map((a) => (a.kind === 'delete' ? { kind: a.kind, table: a.table, key: a.key } : { kind: a.kind, table: a.table, row: a.row }));
}

function merge(changes: RowChange[], lanes = 1): KeyMerger[] {
  const mergers = Array.from({ length: lanes }, () => new KeyMerger());
  for (const c of changes) {
    const steps: KeyedStep[] = [];
    stepsOf(c, target, lanes, steps);
    for (const s of steps) mergers[s.lane]?.add(s);
  }
  return mergers;
}

test('insert then update of one key collapses to one upsert of the newest image', () => {
  const [m] = merge([
    { op: 'insert', table, before: null, after: [1, 'a'] },
    { op: 'update', table, before: [1, 'a'], after: [1, 'b'] },
  ]);
  assert.deepEqual(drained(m), [{ kind: 'upsert', table: target, row: [1, 'b'] }]);
});

test('insert then delete collapses to a delete; delete then re-insert to an upsert', () => {
  const [m] = merge([
    { op: 'insert', table, before: null, after: [1, 'a'] },
    { op: 'delete', table, before: [1, 'a'], after: null },
    { op: 'delete', table, before: [2, 'x'], after: null },
    { op: 'insert', table, before: null, after: [2, 'y'] },
  ]);
  assert.deepEqual(drained(m), [
    { kind: 'delete', table: target, key: [1] },
    { kind: 'upsert', table: target, row: [2, 'y'] },
  ]);
});

test('an update that changes the key becomes a delete of the old key and an upsert of the new', () => {
  const [m] = merge([{ op: 'update', table, before: [1, 'a'], after: [7, 'a'] }]);
  assert.deepEqual(drained(m), [
    { kind: 'delete', table: target, key: [1] },
    { kind: 'upsert', table: target, row: [7, 'a'] },
  ]);
});

test('a key moved away and back ends as an upsert of the latest image and a delete of the other key', () => {
  const [m] = merge([
    { op: 'update', table, before: [1, 'a'], after: [2, 'a'] },
    { op: 'update', table, before: [2, 'a'], after: [1, 'c'] },
  ]);
  assert.deepEqual(drained(m), [
    { kind: 'delete', table: target, key: [2] },
    { kind: 'upsert', table: target, row: [1, 'c'] },
  ]);
});

test('a partial image keeps the columns an earlier upsert in the batch supplied', () => {
  const [m] = merge([
    { op: 'insert', table, before: null, after: [1, 'a'] },
    { op: 'update', table, before: [1, undefined], after: [1, undefined] },
  ]);
  assert.deepEqual(drained(m), [{ kind: 'upsert', table: target, row: [1, 'a'] }]);
});

test('number and bigint forms of one key are the same key; types are tagged', () => {
  assert.equal(keyString([5]), keyString([5]));
  assert.notEqual(keyString(['5']), keyString([5]));
  assert.notEqual(keyString([Buffer.from('a')]), keyString(['a']));
  assert.notEqual(keyString(['a', 'b']), keyString(['a;s1:b']));
});

test('lanes: a key always maps to the same lane, and keys spread over all lanes', () => {
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const k = keyString([i]);
    const l = laneOf('shop.orders', k, 4);
    assert.equal(laneOf('shop.orders', k, 4), l);
    seen.add(l);
  }
  assert.equal(seen.size, 4);
  assert.equal(laneOf('t', 'k', 1), 0);
});

test('a row image without its key column is refused, not applied', () => {
  assert.throws(() => merge([{ op: 'insert', table, before: null, after: [undefined, 'a'] }]), /FERRY|primary-key/);
});

test('lanes: one-column integer keys go by blocks of consecutive keys, and the blocks spread over the lanes', () => {
  for (const lanes of [2, 3, 4]) {
    const laneOfKey = (v: number): number | undefined => {
      const steps: KeyedStep[] = [];
      stepsOf({ op: 'insert', table, before: null, after: [v, 'x'] }, target, lanes, steps);
      return steps[0]?.lane;
    };
    const seen = new Set<number>();
    for (let b = 0; b < 200; b++) {
      const first = laneOfKey(b * LANE_KEY_BLOCK);
      // Every key of a block in the same lane: ascending inserts stay in one lane (and one transaction's order).
      for (const off of [1, 2, 17, LANE_KEY_BLOCK - 1]) assert.equal(laneOfKey(b * LANE_KEY_BLOCK + off), first, `block ${b}, ${lanes} lanes`);
      seen.add(first as number);
    }
    assert.equal(seen.size, lanes);
    // Negative keys too (floor, not truncation: -1 and 0 are in different blocks).
    assert.equal(laneOfKey(-1), laneOfKey(-LANE_KEY_BLOCK));
  }
});

test('lanes: integer keys (merged without a key string) go where the key string of their block goes', () => {
  const ints = [0, -0, 1, 9, 10, 11, 99, 100, 12345, -1, -10, -987654, 2 ** 31, 2 ** 32 + 7, 2 ** 53 - 1, -(2 ** 53 - 1)];
  for (let i = 0; i < 2000; i++) ints.push(Math.floor((Math.random() - 0.5) * 2 ** 54));
  for (const lanes of [2, 3, 4, 7, 16]) {
    for (const v of ints) {
      if (!Number.isSafeInteger(v)) continue;
      const steps: KeyedStep[] = [];
      stepsOf({ op: 'insert', table, before: null, after: [v, 'x'] }, target, lanes, steps);
      assert.equal(steps[0]?.lane, laneOf('shop.orders', keyString([Math.floor(v / LANE_KEY_BLOCK)]), lanes), `key ${v}, ${lanes} lanes`);
      const big: KeyedStep[] = [];
      stepsOf({ op: 'delete', table, before: [BigInt(v), undefined], after: null }, target, lanes, big);
      assert.equal(big[0]?.lane, steps[0]?.lane, `bigint key ${v}`);
    }
    // Beyond 2^53 (bigint) and non-integers still go by the key string.
    for (const v of [2n ** 63n - 1n, -(2n ** 60n), 1.5, -2.25]) {
      const steps: KeyedStep[] = [];
      stepsOf({ op: 'insert', table, before: null, after: [v, 'x'] }, target, lanes, steps);
      assert.equal(steps[0]?.lane, laneOf('shop.orders', keyString([v]), lanes));
    }
  }
});

test('number and bigint forms of one key merge into one action', () => {
  const [m] = merge([
    { op: 'insert', table, before: null, after: [5, 'a'] },
    { op: 'update', table, before: [5n, 'a'], after: [5n, 'b'] },
    { op: 'insert', table, before: null, after: [2n ** 60n, 'big'] },
    { op: 'delete', table, before: [2n ** 60n, undefined], after: null },
  ]);
  assert.deepEqual(drained(m), [
    { kind: 'delete', table: target, key: [2n ** 60n] },
    { kind: 'upsert', table: target, row: [5n, 'b'] },
  ]);
});

test('keys of different tables never merge, whatever their values', () => {
  const other: TableSchema = { ...table, name: 'other' };
  const otherTarget: TargetTable = { schema: 'shop', name: 'other', source: other };
  const m = new KeyMerger();
  const steps: KeyedStep[] = [];
  stepsOf({ op: 'insert', table, before: null, after: [1, 'a'] }, target, 1, steps);
  stepsOf({ op: 'insert', table: other, before: null, after: [1, 'b'] }, otherTarget, 1, steps);
  stepsOf({ op: 'delete', table, before: [1, undefined], after: null }, target, 1, steps);
  for (const s of steps) m.add(s);
  assert.equal(m.size, 2);
  assert.deepEqual(drained(m), [
    { kind: 'delete', table: target, key: [1] },
    { kind: 'upsert', table: otherTarget, row: [1, 'b'] },
  ]);
});

test('pending after images: merged by their key without being decoded; the sink-facing row decodes them', () => {
  const p1 = new CountingPending([1, 'a']);
  const p2 = new CountingPending([1, 'b']);
  const p3 = new CountingPending([LANE_KEY_BLOCK * 7, 'c']);
  const merged = merge(
    [
      new PendingRowChange('insert', table, null, p1),
      new PendingRowChange('update', table, [1, undefined], p2),
      new PendingRowChange('insert', table, null, p3),
    ],
    2,
  );
  assert.equal(p1.decoded + p2.decoded + p3.decoded, 0, 'merging decodes nothing');
  const actions = merged.flatMap((m) => m.drain());
  assert.equal(actions.length, 2);
  const byKey = new Map(actions.map((a) => [a.kind === 'upsert' ? a.pending : null, a]));
  assert.ok(byKey.has(p2) && byKey.has(p3), 'the newest image of key 1 and the image of the other key');
  assert.equal(p1.decoded + p2.decoded + p3.decoded, 0);
  // Lane and merge key as for the same change decoded.
  for (const k of [1, LANE_KEY_BLOCK * 7, LANE_KEY_BLOCK * 8 + 3]) {
    const lazy: KeyedStep[] = [];
    const plain: KeyedStep[] = [];
    stepsOf(new PendingRowChange('insert', table, null, new CountingPending([k, 'v'])), target, 2, lazy);
    stepsOf({ op: 'insert', table, before: null, after: [k, 'v'] }, target, 2, plain);
    assert.deepEqual([lazy[0]?.lane, lazy[0]?.k], [plain[0]?.lane, plain[0]?.k]);
  }
  const a2 = byKey.get(p2);
  assert.ok(a2 && a2.kind === 'upsert');
  assert.deepEqual(a2.row, [1, 'b']);
  assert.equal(p2.decoded, 1);
});

test('pending after images: a key change deletes the old key; a partial image after a pending one keeps its values', () => {
  const moved = new CountingPending([2, 'x']);
  const [m] = merge([new PendingRowChange('update', table, [1, undefined], moved)]);
  assert.deepEqual(
    m?.drain().map((a) => (a.kind === 'delete' ? a.key : a.row)),
    [[1], [2, 'x']],
  );
  const full = new CountingPending([3, 'full']);
  const [m2] = merge([new PendingRowChange('insert', table, null, full), { op: 'update', table, before: [3, undefined], after: [3, undefined] }]);
  assert.deepEqual(drained(m2), [{ kind: 'upsert', table: target, row: [3, 'full'] }]);
  // A pending (full) image after a partial one replaces it whole.
  const later = new CountingPending([4, 'new']);
  const [m3] = merge([{ op: 'insert', table, before: null, after: [4, 'old'] }, { op: 'update', table, before: [4, undefined], after: [4, undefined] }, new PendingRowChange('update', table, [4, undefined], later)]);
  const out = m3?.drain() ?? [];
  assert.equal(out.length, 1);
  assert.ok(out[0]?.kind === 'upsert' && out[0].pending === later);
});
