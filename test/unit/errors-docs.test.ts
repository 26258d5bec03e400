import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES } from '../../src/core/errors.js';

/** docs/ERRORS.md, read from the project root (this file runs from dist/test/unit). */
function errorsDoc(): string {
  return readFileSync(new URL('../../../docs/ERRORS.md', import.meta.url), 'utf8');
}

function documentedSections(doc: string): Map<string, string> {
  const sections = new Map<string, string>();
  const parts = doc.split(/^## /m).slice(1);
  for (const part of parts) {
    const nl = part.indexOf('\n');
    const heading = part.slice(0, nl).trim();
    sections.set(heading, part.slice(nl + 1));
  }
  return sections;
}

test('every registered error code has a section in docs/ERRORS.md', () => {
  const documented = documentedSections(errorsDoc());
  const missing = Object.keys(ERROR_CODES).filter((c) => !documented.has(c));
  assert.deepEqual(missing, [], `add a "## CODE" section to docs/ERRORS.md for: ${missing.join(', ')}`);
});

test('every section of docs/ERRORS.md is a registered error code', () => {
  const documented = [...documentedSections(errorsDoc()).keys()];
  const unknown = documented.filter((c) => !(c in ERROR_CODES));
  assert.deepEqual(unknown, [], `docs/ERRORS.md documents codes that ERROR_CODES lacks: ${unknown.join(', ')}`);
});

test('each documented code states its cause and what to do', () => {
  for (const [code, body] of documentedSections(errorsDoc())) {
    assert.match(body, /\*\*Cause\.\*\*\s+\S/, `${code}: no **Cause.** paragraph`);
    assert.match(body, /\*\*What to do\.\*\*\s+\S/, `${code}: no **What to do.** paragraph`);
  }
});

test('docs/ERRORS.md lists the codes in registry order, each once', () => {
  const headings = errorsDoc()
    .split('\n')
    .filter((l) => l.startsWith('## '))
    .map((l) => l.slice(3).trim());
  assert.deepEqual(headings, Object.keys(ERROR_CODES));
});
