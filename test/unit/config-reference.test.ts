import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { EXAMPLE_PIPELINE_YAML, configReference, parsePipelineConfig } from '../../src/core/config.js';

test('docs/CONFIG.md is the output of configReference() (regenerate it when the schema changes)', () => {
  const doc = readFileSync(new URL('../../../docs/CONFIG.md', import.meta.url), 'utf8');
  assert.equal(doc, configReference());
});

test('the reference documents every key of the example', () => {
  const ref = configReference();
  for (const line of EXAMPLE_PIPELINE_YAML.split('\n')) {
    const m = /^\s+(?:- )?([a-z.-]+):/.exec(line);
    if (m?.[1]) assert.ok(ref.includes(`| \`${m[1]}\` |`), `no row for ${m[1]}`);
  }
});

test('the example in the reference is a valid pipeline file', () => {
  const cfg = parsePipelineConfig(EXAMPLE_PIPELINE_YAML, 'example.yaml', { MYSQL_PASSWORD: 'a', PG_PASSWORD: 'b' });
  assert.equal(cfg.pipeline.name, 'shop-to-dw');
});

test('secret keys are marked in the reference', () => {
  const rows = configReference()
    .split('\n')
    .filter((l) => l.startsWith('| `password` |'));
  assert.equal(rows.length, 2);
  for (const r of rows) assert.match(r, /\*\*Secret\*\*/);
});
