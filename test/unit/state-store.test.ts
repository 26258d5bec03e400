import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isFerryError } from '../../src/core/errors.js';
import { openStateStore, stateFileBase, stateFiles } from '../../src/state/sqlite-store.js';

const root = mkdtempSync(join(tmpdir(), 'ferry-state-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function freshDir(): string {
  return join(root, `d${++n}`);
}

describe('state file', () => {
  test('one file per pipeline under the state dir, created with the directory', () => {
    const dir = join(freshDir(), 'nested');
    const s = openStateStore(dir, 'shop-to-dw');
    assert.equal(s.file, join(dir, 'shop-to-dw.sqlite'));
    assert.ok(existsSync(s.file));
    s.close();
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.init-')), [], 'no temporary file left');
  });

  test('unsafe pipeline names are sanitized, and different names never share a file', () => {
    assert.equal(stateFileBase('shop-to-dw'), 'shop-to-dw');
    const a = stateFileBase('../etc/passwd');
    assert.match(a, /^[A-Za-z0-9_.-]+$/);
    assert.ok(!a.startsWith('.'));
    assert.notEqual(stateFileBase('a/b'), stateFileBase('a_b'));
    assert.notEqual(stateFileBase('a/b'), stateFileBase('a:b'));
    const dir = freshDir();
    assert.equal(stateFiles(dir, 'x/y').file.startsWith(join(dir, 'x_y-')), true);
  });

  test('values survive closing and reopening', () => {
    const dir = freshDir();
    const s = openStateStore(dir, 'p');
    s.commitCheckpoint('{"file":"b.000001","pos":4}', { phase: 'snapshot' });
    s.setMeta('phase', 'stream');
    s.recordChunkDone('shop.orders', '[10]', 100);
    s.appendSchemaHistory('pos1', [{ tableId: 'shop.orders', schemaJson: '{"v":1}' }]);
    s.setStatus('{"phase":"stream"}');
    s.close();
    const t = openStateStore(dir, 'p');
    assert.equal(t.getCheckpoint(), '{"file":"b.000001","pos":4}');
    assert.equal(t.getMeta('phase'), 'stream');
    assert.equal(t.getSnapshotProgress('shop.orders')?.rowsCopied, 100);
    assert.equal(t.allSchemaHistory().length, 1);
    assert.equal(t.getStatus(), '{"phase":"stream"}');
    t.close();
  });

  test('a closed store refuses calls, and close is idempotent', () => {
    const s = openStateStore(freshDir(), 'p');
    s.close();
    s.close();
    assert.throws(() => s.getCheckpoint(), (e: unknown) => isFerryError(e, 'FERRY_INTERNAL'));
  });
});

describe('checkpoint', () => {
  test('null before the first commit, then the latest commit', () => {
    const s = openStateStore(freshDir(), 'p');
    assert.equal(s.getCheckpoint(), null);
    s.commitCheckpoint('a');
    s.commitCheckpoint('b', { phase: 'stream', lane: 2 });
    assert.equal(s.getCheckpoint(), 'b');
    const h = s.checkpointHistory();
    assert.deepEqual(h.map((c) => c.position), ['b', 'a']);
    assert.deepEqual(h[0]?.meta, { phase: 'stream', lane: 2 });
    assert.ok(!Number.isNaN(Date.parse(h[0]?.committedAt ?? '')));
    s.close();
  });

  test('history keeps only the last few checkpoints', () => {
    const s = openStateStore(freshDir(), 'p');
    for (let i = 0; i < 50; i++) s.commitCheckpoint(`pos${i}`);
    const h = s.checkpointHistory();
    assert.equal(h.length, 16);
    assert.equal(h[0]?.position, 'pos49');
    assert.equal(h[15]?.position, 'pos34');
    assert.equal(s.getCheckpoint(), 'pos49');
    s.close();
  });

  test('an empty position is a bug, refused', () => {
    const s = openStateStore(freshDir(), 'p');
    assert.throws(() => s.commitCheckpoint(''), (e: unknown) => isFerryError(e, 'FERRY_INTERNAL'));
    s.close();
  });
});

describe('meta', () => {
  test('set, overwrite and read', () => {
    const s = openStateStore(freshDir(), 'p');
    assert.equal(s.getMeta('snapshot.start'), null);
    s.setMeta('snapshot.start', 'x');
    s.setMeta('snapshot.start', 'y');
    s.setMeta('server.uuid', '3e11fa47-71ca-11e1-9e33-c80aa9429562');
    assert.equal(s.getMeta('snapshot.start'), 'y');
    assert.equal(s.getMeta('pipeline_name'), 'p');
    assert.ok(s.getMeta('created_at'));
    s.close();
  });
});

describe('snapshot progress', () => {
  test('estimate, chunks, done, list and reset', () => {
    const s = openStateStore(freshDir(), 'p');
    assert.equal(s.getSnapshotProgress('shop.orders'), null);
    s.setSnapshotEstimate('shop.orders', 1000);
    let p = s.getSnapshotProgress('shop.orders');
    assert.equal(p?.estimatedRows, 1000);
    assert.equal(p?.rowsCopied, 0);
    assert.equal(p?.lastKeyJson, null);
    assert.equal(p?.done, false);
    s.recordChunkDone('shop.orders', '[500]', 500);
    s.recordChunkDone('shop.orders', '[1000]', 1000);
    s.recordChunkDone('shop.orders', '[1000]', 1000); // repeated after a crash: harmless
    p = s.getSnapshotProgress('shop.orders');
    assert.equal(p?.rowsCopied, 1000);
    assert.equal(p?.lastKeyJson, '[1000]');
    assert.equal(p?.estimatedRows, 1000, 'the estimate is kept');
    s.markTableSnapshotted('shop.orders');
    s.markTableSnapshotted('shop.orders');
    s.recordChunkDone('crm.users', '["u1"]', 1);
    assert.deepEqual(
      s.listSnapshotProgress().map((x) => [x.tableId, x.done, x.rowsCopied, x.lastKeyJson]),
      [
        ['crm.users', false, 1, '["u1"]'],
        ['shop.orders', true, 1000, '[1000]'],
      ],
    );
    s.resetSnapshot();
    assert.deepEqual(s.listSnapshotProgress(), []);
    s.close();
  });

  test('negative counts are a bug, refused', () => {
    const s = openStateStore(freshDir(), 'p');
    assert.throws(() => s.recordChunkDone('a.b', '[1]', -1), (e: unknown) => isFerryError(e, 'FERRY_INTERNAL'));
    assert.throws(() => s.setSnapshotEstimate('a.b', 1.5), (e: unknown) => isFerryError(e, 'FERRY_INTERNAL'));
    s.close();
  });
});

describe('schema history', () => {
  test('appends in order with increasing seq; latest per table; drops as null', () => {
    const s = openStateStore(freshDir(), 'p');
    const first = s.appendSchemaHistory('p0', [
      { tableId: 'shop.orders', schemaJson: '{"v":1}' },
      { tableId: 'shop.items', schemaJson: '{"v":1}' },
    ]);
    const second = s.appendSchemaHistory('p5', [{ tableId: 'shop.orders', schemaJson: '{"v":2}' }]);
    const third = s.appendSchemaHistory('p9', [{ tableId: 'shop.items', schemaJson: null }]);
    assert.ok(first < second && second < third);
    const all = s.allSchemaHistory();
    assert.deepEqual(
      all.map((h) => [h.position, h.tableId, h.schemaJson]),
      [
        ['p0', 'shop.orders', '{"v":1}'],
        ['p0', 'shop.items', '{"v":1}'],
        ['p5', 'shop.orders', '{"v":2}'],
        ['p9', 'shop.items', null],
      ],
    );
    assert.deepEqual(all.map((h) => h.seq), [...all.map((h) => h.seq)].sort((a, b) => a - b));
    const latest = s.latestSchemas();
    assert.deepEqual(latest.get('shop.orders'), { seq: second, position: 'p5', schemaJson: '{"v":2}' });
    assert.deepEqual(latest.get('shop.items'), { seq: third, position: 'p9', schemaJson: null });
    s.close();
  });

  test('truncateSchemaHistoryAfter removes later entries, and seq is never reused', () => {
    const s = openStateStore(freshDir(), 'p');
    const a = s.appendSchemaHistory('p1', [{ tableId: 't.a', schemaJson: '1' }]);
    const b = s.appendSchemaHistory('p2', [{ tableId: 't.a', schemaJson: '2' }]);
    s.truncateSchemaHistoryAfter(a);
    assert.deepEqual(s.allSchemaHistory().map((h) => h.seq), [a]);
    assert.equal(s.latestSchemas().get('t.a')?.schemaJson, '1');
    const c = s.appendSchemaHistory('p3', [{ tableId: 't.a', schemaJson: '3' }]);
    assert.ok(c > b);
    s.close();
  });

  test('an empty append changes nothing', () => {
    const s = openStateStore(freshDir(), 'p');
    s.appendSchemaHistory('p1', []);
    assert.deepEqual(s.allSchemaHistory(), []);
    s.close();
  });
});

describe('status', () => {
  test('null until written, then the last write', () => {
    const s = openStateStore(freshDir(), 'p');
    assert.equal(s.getStatus(), null);
    s.setStatus('{"a":1}');
    s.setStatus('{"a":2}');
    assert.equal(s.getStatus(), '{"a":2}');
    // Checkpoints are still written with full durability after a status write.
    s.commitCheckpoint('x');
    s.close();
  });

  test('a second store (ferry status) reads what the runner wrote, while it is open', () => {
    const dir = freshDir();
    const runner = openStateStore(dir, 'p');
    const reader = openStateStore(dir, 'p');
    runner.setStatus('{"phase":"stream"}');
    runner.commitCheckpoint('c1');
    assert.equal(reader.getStatus(), '{"phase":"stream"}');
    assert.equal(reader.getCheckpoint(), 'c1');
    reader.close();
    runner.close();
  });
});
