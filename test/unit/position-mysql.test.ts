import assert from 'node:assert/strict';
import { test } from 'node:test';
import { binlogPositionCodec as codec } from '../../src/connectors/mysql/position.js';
import { isFerryError } from '../../src/core/errors.js';

test('binlog positions order by file index, then offset (never as strings)', () => {
  const a = { file: 'binlog.000009', pos: 900, gtid: '' };
  const b = { file: 'binlog.000010', pos: 4, gtid: '' };
  const c = { file: 'binlog.000010', pos: 120, gtid: '' };
  assert.ok(codec.compare(a, b) < 0);
  assert.ok(codec.compare(b, c) < 0);
  assert.ok(codec.compare(c, a) > 0);
  assert.equal(codec.compare(c, { ...c }), 0);
  // 1000000 sorts after 999999 although it is longer
  assert.ok(codec.compare({ file: 'b.999999', pos: 4, gtid: '' }, { file: 'b.1000000', pos: 4, gtid: '' }) < 0);
});

test('binlog position round trip keeps file, offset and GTID state', () => {
  const p = { file: 'mysql-bin.000003', pos: 12345, gtid: '0-1-100,1-2-5' };
  assert.deepEqual(codec.decode(codec.encode(p)), p);
  assert.equal(codec.format(p), 'mysql-bin.000003:12345 [0-1-100,1-2-5]');
});

test('malformed positions and positions of different logs are refused with a coded error', () => {
  for (const bad of ['', 'nope', '{"file":"x","pos":1}', '{"file":"b.1","pos":-1}', '{"file":"b.1","pos":"4"}', '[]', 'null']) {
    assert.throws(() => codec.decode(bad), (e) => isFerryError(e, 'FERRY_POSITION_INVALID'), bad);
  }
  assert.throws(() => codec.compare({ file: 'a.1', pos: 4, gtid: '' }, { file: 'b.1', pos: 4, gtid: '' }), (e) => isFerryError(e, 'FERRY_POSITION_INVALID'));
});
