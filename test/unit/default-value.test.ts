import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDefault } from '../../src/core/default-value.js';

test('column defaults: literals, NULL, now and expressions are told apart', () => {
  assert.deepEqual(parseDefault(null), { kind: 'none' });
  assert.deepEqual(parseDefault('NULL'), { kind: 'null' });
  assert.deepEqual(parseDefault("'basic'"), { kind: 'literal', value: 'basic' });
  assert.deepEqual(parseDefault("'it''s, (x)'"), { kind: 'literal', value: "it's, (x)" });
  assert.deepEqual(parseDefault("'a\\nb'"), { kind: 'literal', value: 'a\nb' });
  assert.deepEqual(parseDefault('-12.50'), { kind: 'literal', value: '-12.50' });
  assert.deepEqual(parseDefault('current_timestamp(6)'), { kind: 'now', fsp: 6 });
  assert.deepEqual(parseDefault('CURRENT_TIMESTAMP'), { kind: 'now', fsp: 0 });
  assert.deepEqual(parseDefault("concat('a','b')"), { kind: 'expression', text: "concat('a','b')" });
  assert.deepEqual(parseDefault("b'101'"), { kind: 'expression', text: "b'101'" });
});
