import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RouteConfig } from '../../src/core/config-types.js';
import { compileTablePattern } from '../../src/core/config.js';
import { isFerryError } from '../../src/core/errors.js';
import { resolveTarget } from '../../src/transform/route.js';
import { matchesTables } from '../../src/transform/table-filter.js';

function re(p: string): RegExp {
  const r = compileTablePattern(p);
  if (typeof r === 'string') throw new Error(r);
  return r;
}

function route(source: string, sinkTable: string, replaceSymbol: string | null = null): RouteConfig {
  return { sourceTable: re(source), sinkTable, replaceSymbol };
}

describe('matchesTables', () => {
  test('matches the whole database.table name', () => {
    const patterns = [re('shop\\..*')];
    assert.equal(matchesTables(patterns, 'shop', 'orders'), true);
    assert.equal(matchesTables(patterns, 'shopping', 'orders'), false);
    assert.equal(matchesTables(patterns, 'old_shop', 'orders'), false);
  });

  test('any pattern of the list may match', () => {
    const patterns = [re('a\\.x'), re('b\\.(y|z)')];
    assert.equal(matchesTables(patterns, 'a', 'x'), true);
    assert.equal(matchesTables(patterns, 'b', 'z'), true);
    assert.equal(matchesTables(patterns, 'b', 'x'), false);
    assert.equal(matchesTables(patterns, 'a', 'xx'), false, 'anchored at the end');
  });

  test('no pattern matches nothing', () => {
    assert.equal(matchesTables([], 'a', 'b'), false);
  });

  test('repeated calls give the same answer (no regex state)', () => {
    const patterns = [re('s\\.t')];
    for (let i = 0; i < 3; i++) assert.equal(matchesTables(patterns, 's', 't'), true);
  });
});

describe('resolveTarget', () => {
  test('no route keeps database.table', () => {
    assert.deepEqual(resolveTarget([], { schema: 'shop', name: 'orders' }, 'postgres'), { schema: 'shop', name: 'orders' });
  });

  test('replace-symbol is replaced by the source table name', () => {
    const routes = [route('shop\\..*', 'analytics.<>', '<>')];
    assert.deepEqual(resolveTarget(routes, { schema: 'shop', name: 'orders' }, 'postgres'), { schema: 'analytics', name: 'orders' });
  });

  test('the first matching route wins', () => {
    const routes = [route('shop\\.orders', 'dw.all_orders'), route('shop\\..*', 'dw.<>', '<>')];
    assert.deepEqual(resolveTarget(routes, { schema: 'shop', name: 'orders' }, 'mysql'), { schema: 'dw', name: 'all_orders' });
    assert.deepEqual(resolveTarget(routes, { schema: 'shop', name: 'items' }, 'mysql'), { schema: 'dw', name: 'items' });
  });

  test('a route that does not match falls through to the same name', () => {
    const routes = [route('shop\\..*', 'dw.<>', '<>')];
    assert.deepEqual(resolveTarget(routes, { schema: 'crm', name: 'users' }, 'mysql'), { schema: 'crm', name: 'users' });
  });

  test('sharded tables merge into one target', () => {
    const routes = [route('shard_\\d+\\.orders', 'dw.orders')];
    for (const db of ['shard_1', 'shard_22']) {
      assert.deepEqual(resolveTarget(routes, { schema: db, name: 'orders' }, 'postgres'), { schema: 'dw', name: 'orders' });
    }
  });

  test('the schema part is split before substitution, so a dotted table name stays in the table part', () => {
    const routes = [route('s\\..*', 'dw.t_<>', '<>')];
    assert.deepEqual(resolveTarget(routes, { schema: 's', name: 'a.b' }, 'postgres'), { schema: 'dw', name: 't_a.b' });
  });

  test('every occurrence of the symbol is replaced, and literal text around it kept', () => {
    const routes = [route('s\\..*', 'x_$$.$$_$$', '$$')];
    assert.deepEqual(resolveTarget(routes, { schema: 's', name: 'n' }, 'mysql'), { schema: 'x_n', name: 'n_n' });
  });

  test('without replace-symbol the sink-table is taken literally', () => {
    const routes = [route('s\\..*', 'dw.<>')];
    assert.deepEqual(resolveTarget(routes, { schema: 's', name: 'n' }, 'mysql'), { schema: 'dw', name: '<>' });
  });

  test('a target name too long for PostgreSQL (63 bytes) is refused instead of truncated', () => {
    const long = 'x'.repeat(60);
    const routes = [route('s\\..*', 'dw.prefix_<>', '<>')];
    assert.throws(
      () => resolveTarget(routes, { schema: 's', name: long }, 'postgres'),
      (e: unknown) => isFerryError(e, 'FERRY_CONFIG_INVALID') && /too long for postgres/.test(e.message),
    );
    // MySQL allows 64 characters.
    assert.deepEqual(resolveTarget([route('s\\..*', 'dw.<>', '<>')], { schema: 's', name: 'y'.repeat(64) }, 'mysql').name.length, 64);
    assert.throws(() => resolveTarget([], { schema: 's', name: 'y'.repeat(65) }, 'mysql'), (e: unknown) => isFerryError(e, 'FERRY_CONFIG_INVALID'));
  });

  test('a multi-byte name is measured in bytes for PostgreSQL', () => {
    const name = 'é'.repeat(32); // 64 bytes, 32 characters
    assert.throws(() => resolveTarget([], { schema: 's', name }, 'postgres'), (e: unknown) => isFerryError(e, 'FERRY_CONFIG_INVALID'));
    assert.equal(resolveTarget([], { schema: 's', name }, 'mysql').name, name);
  });
});
