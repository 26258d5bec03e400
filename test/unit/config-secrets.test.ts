import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, test } from 'node:test';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { describeConfig, parsePipelineConfig } from '../../src/core/config.js';
import { Secret, configForTransfer, configFromTransfer } from '../../src/core/config-types.js';
import { FerryError } from '../../src/core/errors.js';

const SOURCE_PASSWORD = 'Tr0ub4dor-src';
const SINK_PASSWORD = 'c0rrect-horse-sink';

const VALID = `source:
  type: mysql
  hostname: 127.0.0.1
  username: ferry
  password: ${SOURCE_PASSWORD}
  tables: shop\\..*
sink:
  type: postgres
  hostname: 127.0.0.1
  username: ferry
  password: \${SINK_PASSWORD}
  database: dw
pipeline:
  name: shop
`;
const ENV = { SINK_PASSWORD };

/** Everything an error exposes: message, fix, details, stack, util.inspect. */
function everything(e: FerryError): string {
  return [e.message, e.fix ?? '', JSON.stringify(e.details ?? {}), e.stack ?? '', inspect(e, { depth: 10 }), e.describe()].join('\n');
}

function assertNoSecret(text: string, env: Record<string, string> = ENV, secrets = [SOURCE_PASSWORD, SINK_PASSWORD]): FerryError {
  try {
    parsePipelineConfig(text, 'secret.yaml', env);
  } catch (e) {
    assert.ok(e instanceof FerryError, String(e));
    const all = everything(e);
    for (const s of secrets) assert.ok(!all.includes(s), `secret leaked in:\n${all}`);
    return e;
  }
  assert.fail('the configuration was accepted');
}

describe('secrets in the resolved config', () => {
  const cfg = parsePipelineConfig(VALID, 'secret.yaml', ENV);

  test('reveal() gives the real values to drivers', () => {
    assert.equal(cfg.source.password.reveal(), SOURCE_PASSWORD);
    assert.equal(cfg.sink.password.reveal(), SINK_PASSWORD);
  });

  test('describeConfig masks secrets and is plain JSON', () => {
    const d = describeConfig(cfg);
    const text = JSON.stringify(d);
    assert.ok(!text.includes(SOURCE_PASSWORD) && !text.includes(SINK_PASSWORD), text);
    assert.equal((d.source as Record<string, unknown>).password, '******');
    assert.equal((d.sink as Record<string, unknown>).password, '******');
    assert.deepEqual((d.source as Record<string, unknown>).tablePatterns, ['^(?:shop\\..*)$']);
    assert.deepEqual(JSON.parse(text), d);
  });

  test('JSON.stringify, util.inspect and template strings of the config mask secrets', () => {
    for (const text of [JSON.stringify(cfg), inspect(cfg, { depth: 10 }), `${cfg.source.password}`, String(cfg.sink.password)]) {
      assert.ok(!text.includes(SOURCE_PASSWORD) && !text.includes(SINK_PASSWORD), text);
    }
  });
});

describe('the config handed to the pipeline worker', () => {
  test('survives postMessage with its secrets, patterns and values intact', () => {
    const cfg = parsePipelineConfig(VALID, 'secret.yaml', ENV);
    // Through a real message port: the same structured clone the worker's config goes through.
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(configForTransfer(cfg));
    const got = configFromTransfer(receiveMessageOnPort(port2)?.message);
    port1.close();
    assert.ok(got.source.password instanceof Secret && got.sink.password instanceof Secret);
    assert.equal(got.source.password.reveal(), SOURCE_PASSWORD);
    assert.equal(got.sink.password.reveal(), SINK_PASSWORD);
    assert.equal(String(got.sink.password), '******');
    assert.ok(got.source.tablePatterns[0] instanceof RegExp);
    assert.ok(got.source.tablePatterns[0]?.test('shop.orders'));
    // Everything else is the same, value for value.
    assert.deepEqual(describeConfig(got), describeConfig(cfg));
    assert.deepEqual({ ...got, source: { ...got.source, password: null }, sink: { ...got.sink, password: null } }, { ...cfg, source: { ...cfg.source, password: null }, sink: { ...cfg.sink, password: null } });
  });
});

describe('secrets never appear in configuration errors', () => {
  test('an unknown key next to a password', () => {
    const e = assertNoSecret(VALID.replace('hostname: 127.0.0.1\n  username: ferry\n  password: Tr', 'hostnme: 127.0.0.1\n  username: ferry\n  password: Tr'));
    assert.match(e.message, /source\.hostnme/);
  });

  test('a typo in the password key itself', () => {
    const e = assertNoSecret(VALID.replace(`password: ${SOURCE_PASSWORD}`, `pasword: ${SOURCE_PASSWORD}`));
    assert.match(e.message, /source\.pasword: unknown key .*did you mean `password`/);
  });

  test('a missing space after the colon of the password key', () => {
    assertNoSecret(VALID.replace(`password: ${SOURCE_PASSWORD}`, `password:${SOURCE_PASSWORD}`));
    assertNoSecret(VALID.replace(`password: ${SOURCE_PASSWORD}`, `password:${SOURCE_PASSWORD}: x`));
  });

  test('a password of the wrong type', () => {
    const e = assertNoSecret(VALID.replace(`password: ${SOURCE_PASSWORD}`, 'password: 987654321'), ENV, ['987654321']);
    assert.match(e.message, /source\.password: expected string, got a number .*quote the value/);
  });

  test('a password in a list', () => {
    assertNoSecret(VALID.replace(`password: ${SOURCE_PASSWORD}`, `password: [${SOURCE_PASSWORD}]`));
  });

  test('a YAML syntax error on the password line', () => {
    const e = assertNoSecret(VALID.replace(`password: ${SOURCE_PASSWORD}`, `password: "${SOURCE_PASSWORD}`));
    assert.equal(e.code, 'FERRY_CONFIG_UNREADABLE');
    assertNoSecret(VALID.replace(`password: ${SOURCE_PASSWORD}`, `password: ${SOURCE_PASSWORD}: [`));
  });

  test('a malformed ${ in a password', () => {
    const e = assertNoSecret(VALID.replace(`password: ${SOURCE_PASSWORD}`, `password: ${SOURCE_PASSWORD}\${oops`), ENV, [SOURCE_PASSWORD]);
    assert.match(e.message, /source\.password: has a malformed/);
  });

  test('a password substituted from the environment, with errors elsewhere', () => {
    assertNoSecret(VALID.replace('name: shop', 'name: shop\n  parallelism: lots'));
  });

  test('a password that also appears in a non-secret value is masked there too', () => {
    const e = assertNoSecret(VALID.replace('tables: shop\\..*', `tables: ${SOURCE_PASSWORD}(`));
    assert.match(e.message, /\*\*\*\*\*\*/);
  });

  test('a duplicate password key', () => {
    assertNoSecret(VALID.replace(`password: ${SOURCE_PASSWORD}`, `password: ${SOURCE_PASSWORD}\n  password: ${SOURCE_PASSWORD}x`), ENV, [SOURCE_PASSWORD]);
  });
});
