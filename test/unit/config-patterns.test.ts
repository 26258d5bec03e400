import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileTablePattern, hasNestedQuantifier, splitTablePatterns } from '../../src/core/config.js';

describe('splitTablePatterns', () => {
  test('splits at top-level commas and trims', () => {
    assert.deepEqual(splitTablePatterns('a\\.b, c\\.d ,e\\..*'), ['a\\.b', 'c\\.d', 'e\\..*']);
  });

  test('keeps commas inside {m,n} quantifiers', () => {
    assert.deepEqual(splitTablePatterns('db\\.t_\\d{1,3},db\\.u{2,}'), ['db\\.t_\\d{1,3}', 'db\\.u{2,}']);
  });

  test('keeps commas inside character classes, escaped brackets included', () => {
    assert.deepEqual(splitTablePatterns('a[,\\]]b,c'), ['a[,\\]]b', 'c']);
  });

  test('an escaped comma does not split', () => {
    assert.deepEqual(splitTablePatterns('a\\,b,c'), ['a\\,b', 'c']);
  });

  test('a brace that is not a quantifier does not protect a comma', () => {
    assert.deepEqual(splitTablePatterns('a{x,b'), ['a{x', 'b']);
  });

  test('empty pieces are kept so they can be reported', () => {
    assert.deepEqual(splitTablePatterns('a,,b'), ['a', '', 'b']);
  });
});

describe('hasNestedQuantifier', () => {
  for (const p of ['(a+)+', '(a*)*', '(.*)+', '(?:x\\d+){2,}', '((ab)+c)*', '(a{1,20})+', '(?<n>a+)*', '(a+b)+']) {
    test(`flags ${p}`, () => assert.equal(hasNestedQuantifier(p), true));
  }
  for (const p of ['shop\\..*', '(a|b)+', '(a+)?', '(ab)+', '[(a+)]+', '\\(a+\\)+', 'db_\\d+\\.t', '(a+){2}', '(?:shop|crm)\\..*']) {
    test(`accepts ${p}`, () => assert.equal(hasNestedQuantifier(p), false));
  }
});

describe('compileTablePattern', () => {
  test('anchors the whole name', () => {
    const r = compileTablePattern('shop\\.order.*');
    assert.ok(r instanceof RegExp);
    assert.equal(r.test('shop.orders'), true);
    assert.equal(r.test('xshop.orders'), false);
  });

  test('alternation stays inside the anchors', () => {
    const r = compileTablePattern('a\\.x|b\\.y');
    assert.ok(r instanceof RegExp);
    assert.equal(r.test('a.x'), true);
    assert.equal(r.test('b.y'), true);
    assert.equal(r.test('a.xz'), false);
    assert.equal(r.test('za.x'), false);
  });

  test('a pattern that closes the anchoring group is refused', () => {
    assert.equal(typeof compileTablePattern('a)|(b'), 'string');
  });

  test('invalid, empty and catastrophic patterns give a problem text', () => {
    assert.match(String(compileTablePattern('(')), /not a valid regular expression/);
    assert.equal(compileTablePattern(''), 'is empty');
    assert.match(String(compileTablePattern('(a+)+')), /exponential/);
  });
});
