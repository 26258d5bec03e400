/**
 * The watermark merger: chunks are emitted once the stream passed their high watermark, per
 * table in the order they were opened (key order) whatever order their reads finish in, minus
 * the keys the stream touched while they were pending.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChunkMerger, untouchedRows } from '../../src/core/chunk-merge.js';
import { keyString } from '../../src/core/key-merge.js';
import type { TableSchema } from '../../src/core/schema.js';

const schema = {
  schema: 'db',
  name: 't',
  columns: [
    { name: 'id', type: { kind: 'int', bits: 32, unsigned: false }, nullable: false },
    { name: 'v', type: { kind: 'int', bits: 32, unsigned: false }, nullable: true },
  ],
  primaryKey: [0],
} as unknown as TableSchema;

const merger = (): ChunkMerger<number> => new ChunkMerger<number>((a, b) => a - b);

describe('ChunkMerger', () => {
  it('emits chunks of one table in open order even when later ones are ready first', () => {
    const m = merger();
    const a = m.open('db.t');
    const b = m.open('db.t');
    const c = m.open('db.t');
    m.ready(c, schema, [[5, 0]], 10, [5], false);
    m.ready(b, schema, [[3, 0]], 10, [3], false);
    assert.deepEqual(m.takeReady(100), [], 'the oldest chunk is still being read');
    m.ready(a, schema, [[1, 0]], 10, [1], false);
    assert.deepEqual(m.takeReady(100).map((x) => x.id), [a.id, b.id, c.id]);
    assert.equal(m.pending, 0);
  });

  it('holds a chunk until the stream passed its high watermark, and later chunks of its table with it', () => {
    const m = merger();
    const a = m.open('db.t');
    const b = m.open('db.t');
    const other = m.open('db.u');
    m.ready(a, schema, [], 50, null, false);
    m.ready(b, schema, [], 20, null, true);
    m.ready(other, schema, [], 20, null, true);
    assert.deepEqual(m.takeReady(30).map((x) => x.id), [other.id], 'another table is not held up');
    assert.deepEqual(m.takeReady(50).map((x) => x.id), [a.id, b.id]);
  });

  it('an abandoned chunk no longer holds up the ones after it', () => {
    const m = merger();
    const a = m.open('db.t');
    const b = m.open('db.t');
    m.ready(b, schema, [[2, 0]], 1, [2], false);
    assert.deepEqual(m.takeReady(10), []);
    m.abandon(a);
    assert.deepEqual(m.takeReady(10).map((x) => x.id), [b.id]);
  });

  it('leaves out the keys the stream touched while the chunk was pending', () => {
    const m = merger();
    const a = m.open('db.t');
    m.noteKey('db.t', keyString([2]));
    m.noteKey('db.u', keyString([3]));
    m.ready(a, schema, [[1, 10], [2, 20], [3, 30]], 1, [3], true);
    const [taken] = m.takeReady(1);
    assert.ok(taken);
    assert.deepEqual(untouchedRows(taken), [[1, 10], [3, 30]]);
  });
});
