import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HEAP_GROWING_PERCENT, heapGrowthFlag } from '../../src/cli/heap-growth.js';

describe('heap growth of the pipeline worker', () => {
  test('is set when the user gave no growth flag', () => {
    assert.equal(heapGrowthFlag([], undefined), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    assert.equal(heapGrowthFlag(['--enable-source-maps'], '--max-old-space-size=512'), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    // A different flag that merely starts the same way is not the user's choice of growth.
    assert.equal(heapGrowthFlag(['--heap-growing-percentage-of-nothing'], undefined), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  });

  test("the user's flag wins, on the command line or in NODE_OPTIONS, in either spelling", () => {
    assert.equal(heapGrowthFlag(['--heap-growing-percent=30'], undefined), null);
    assert.equal(heapGrowthFlag([], '--max-old-space-size=512 --heap_growing_percent=0'), null);
    assert.equal(heapGrowthFlag(['--heap-growing-percent'], undefined), null);
  });
});
