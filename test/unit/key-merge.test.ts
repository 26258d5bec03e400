import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RowChange } from '../../src/core/change.js';
import type { TargetTable } from '../../src/core/contracts.js';
import { KeyMerger, keyString, laneOf, stepsOf, type KeyedStep } from '../../src/core/key-merge.js';
import type { TableSchema } from '../../src/core/schema.js';

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
  assert.deepEqual(m?.drain(), [{ kind: 'upsert', table: target, row: [1, 'b'] }]);
});

test('insert then delete collapses to a delete; delete then re-insert to an upsert', () => {
  const [m] = merge([
    { op: 'insert', table, before: null, after: [1, 'a'] },
    { op: 'delete', table, before: [1, 'a'], after: null },
    { op: 'delete', table, before: [2, 'x'], after: null },
    { op: 'insert', table, before: null, after: [2, 'y'] },
  ]);
  assert.deepEqual(m?.drain(), [
    { kind: 'delete', table: target, key: [1] },
    { kind: 'upsert', table: target, row: [2, 'y'] },
  ]);
});

test('an update that changes the key becomes a delete of the old key and an upsert of the new', () => {
  const [m] = merge([{ op: 'update', table, before: [1, 'a'], after: [7, 'a'] }]);
  assert.deepEqual(m?.drain(), [
    { kind: 'delete', table: target, key: [1] },
    { kind: 'upsert', table: target, row: [7, 'a'] },
  ]);
});

test('a key moved away and back ends as an upsert of the latest image and a delete of the other key', () => {
  const [m] = merge([
    { op: 'update', table, before: [1, 'a'], after: [2, 'a'] },
    { op: 'update', table, before: [2, 'a'], after: [1, 'c'] },
  ]);
  assert.deepEqual(m?.drain(), [
    { kind: 'delete', table: target, key: [2] },
    { kind: 'upsert', table: target, row: [1, 'c'] },
  ]);
});

test('a partial image keeps the columns an earlier upsert in the batch supplied', () => {
  const [m] = merge([
    { op: 'insert', table, before: null, after: [1, 'a'] },
    { op: 'update', table, before: [1, undefined], after: [1, undefined] },
  ]);
  assert.deepEqual(m?.drain(), [{ kind: 'upsert', table: target, row: [1, 'a'] }]);
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
