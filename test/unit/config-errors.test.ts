import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MAX_CONFIG_BYTES, closestKey, loadPipelineConfig, parsePipelineConfig } from '../../src/core/config.js';
import type { FerryErrorCode } from '../../src/core/errors.js';
import { FerryError } from '../../src/core/errors.js';

const VALID = `source:
  type: mysql
  hostname: 127.0.0.1
  username: ferry
  password: src-pass-123
  tables: shop\\..*
sink:
  type: postgres
  hostname: 127.0.0.1
  username: ferry
  password: sink-pass-456
  database: dw
pipeline:
  name: shop
`;

interface Problem {
  key: string;
  problem: string;
  fix: string;
  line: number | null;
}

/** Parses text expected to fail; returns the error and its problems. */
function failure(text: string, env: Record<string, string> = {}): { error: FerryError; problems: Problem[] } {
  try {
    parsePipelineConfig(text, '/tmp/pipeline.yaml', env);
  } catch (e) {
    assert.ok(e instanceof FerryError, `expected a FerryError, got ${String(e)}`);
    return { error: e, problems: (e.details?.problems as Problem[] | undefined) ?? [] };
  }
  assert.fail('the configuration was accepted');
}

function expectProblem(text: string, code: FerryErrorCode, key: string, pattern: RegExp, env: Record<string, string> = {}): Problem {
  const { error, problems } = failure(text, env);
  assert.equal(error.code, code, error.message);
  const p = problems.find((x) => x.key === key);
  assert.ok(p, `no problem for ${key} in:\n${error.message}`);
  assert.match(`${p.problem} — ${p.fix}`, pattern);
  // The message lists it as `key: problem — fix`.
  assert.ok(error.message.includes(`${key}: ${p.problem}`), error.message);
  return p;
}

describe('unknown keys', () => {
  test('a typo names the full key path and the closest valid key', () => {
    const p = expectProblem(VALID.replace('hostname: 127.0.0.1\n  username: ferry\n  password: src', 'hostnme: 127.0.0.1\n  hostname: h\n  username: ferry\n  password: src'), 'FERRY_CONFIG_INVALID', 'source.hostnme', /unknown key — did you mean `hostname`\?/);
    assert.equal(p.line, 3);
  });

  test('a typo in a dotted key', () => {
    expectProblem(VALID.replace('tables:', 'scan.startup.mod: initial\n  tables:'), 'FERRY_CONFIG_INVALID', 'source.scan.startup.mod', /did you mean `scan\.startup\.mode`/);
  });

  test('an unknown section', () => {
    expectProblem(`${VALID}pipline:\n  name: x\n`, 'FERRY_CONFIG_INVALID', 'pipline', /did you mean `pipeline`/);
  });

  test('nested mappings instead of a dotted key get a hint about literal dots', () => {
    expectProblem(VALID.replace('tables:', 'scan:\n    startup:\n      mode: latest-offset\n  tables:'), 'FERRY_CONFIG_INVALID', 'source.scan', /literal dots: write `scan\.startup\.mode: …`/);
  });

  test('a key of another section says where it belongs', () => {
    expectProblem(VALID.replace('tables:', 'parallelism: 2\n  tables:'), 'FERRY_CONFIG_INVALID', 'source.parallelism', /unknown key|is a key of/);
  });

  test('closestKey suggests only near misses', () => {
    assert.equal(closestKey('hostnme', ['hostname', 'port']), 'hostname');
    assert.equal(closestKey('Port', ['hostname', 'port']), 'port');
    assert.equal(closestKey('banana', ['hostname', 'port']), null);
  });

  test('an unknown key inside a route names its index', () => {
    expectProblem(`${VALID}route:\n  - source-table: a\\.b\n    sink-tabel: x.y\n`, 'FERRY_CONFIG_INVALID', 'route[0].sink-tabel', /did you mean `sink-table`/);
  });
});

describe('wrong types and values', () => {
  test('a wrong type names the key and the expected type', () => {
    expectProblem(VALID.replace('hostname: 127.0.0.1\n  username: ferry\n  password: src', 'hostname: 127.0.0.1\n  port: [1]\n  username: ferry\n  password: src'), 'FERRY_CONFIG_INVALID', 'source.port', /expected integer \(1–65535\), got a list/);
  });

  test('a non-numeric string for a number', () => {
    expectProblem(VALID.replace('name: shop', 'name: shop\n  parallelism: many'), 'FERRY_CONFIG_INVALID', 'pipeline.parallelism', /expected an integer, got `many`/);
  });

  test('an out-of-range number', () => {
    expectProblem(VALID.replace('name: shop', 'name: shop\n  parallelism: 0'), 'FERRY_CONFIG_INVALID', 'pipeline.parallelism', /between 1 and 64, got 0/);
  });

  test('an enum value lists the allowed values', () => {
    expectProblem(VALID.replace('tables:', 'scan.startup.mode: earliest\n  tables:'), 'FERRY_CONFIG_INVALID', 'source.scan.startup.mode', /expected one of `initial`, `snapshot`, `latest-offset`, `specific-offset`, `timestamp`, got `earliest`/);
  });

  test('a bad duration and a bad size', () => {
    const text = VALID.replace('name: shop', 'name: shop\n  flush-interval: soon\n  queue.max-bytes: 1KB');
    const { problems } = failure(text);
    assert.match(problems.find((p) => p.key === 'pipeline.flush-interval')?.problem ?? '', /expected a duration, got `soon`/);
    assert.match(problems.find((p) => p.key === 'pipeline.queue.max-bytes')?.problem ?? '', /between 1MiB and 1024GiB/);
  });

  test('an invalid pipeline name', () => {
    expectProblem(VALID.replace('name: shop', 'name: ../etc'), 'FERRY_CONFIG_INVALID', 'pipeline.name', /not a valid pipeline name/);
  });

  test('a route sink-table without a schema', () => {
    expectProblem(`${VALID}route:\n  - source-table: a\\.b\n    sink-table: orders\n`, 'FERRY_CONFIG_INVALID', 'route[0].sink-table', /not `schema\.table`/);
  });
});

describe('missing keys', () => {
  test('a missing required key names the key and an example', () => {
    expectProblem(VALID.replace('  username: ferry\n  password: src-pass-123\n', '  password: src-pass-123\n'), 'FERRY_CONFIG_INVALID', 'source.username', /is required — add it, e\.g\. `username: ferry`/);
  });

  test('a missing section', () => {
    expectProblem(VALID.replace(/pipeline:\n  name: shop\n/, ''), 'FERRY_CONFIG_INVALID', 'pipeline', /required section/);
  });

  test('a required key with no value', () => {
    expectProblem(VALID.replace('hostname: 127.0.0.1\n  username: ferry\n  password: src', 'hostname:\n  username: ferry\n  password: src'), 'FERRY_CONFIG_INVALID', 'source.hostname', /has no value/);
  });

  test('an empty file lists every required section', () => {
    const { error, problems } = failure('');
    assert.equal(error.code, 'FERRY_CONFIG_INVALID');
    assert.deepEqual(problems.map((p) => p.key), ['source', 'sink', 'pipeline']);
  });

  test('a file that is not a mapping', () => {
    expectProblem('- a\n- b\n', 'FERRY_CONFIG_INVALID', '(file)', /expected a mapping of sections/);
  });
});

describe('rules between keys', () => {
  test('specific-offset needs file and pos, or a gtid-set', () => {
    expectProblem(VALID.replace('tables:', 'scan.startup.mode: specific-offset\n  tables:'), 'FERRY_CONFIG_INVALID', 'source.scan.startup.specific-offset.file', /needs a binlog file and position, or a GTID set/);
    expectProblem(VALID.replace('tables:', 'scan.startup.mode: specific-offset\n  scan.startup.specific-offset.file: mysql-bin.000001\n  tables:'), 'FERRY_CONFIG_INVALID', 'source.scan.startup.specific-offset.pos', /is required with `scan\.startup\.specific-offset\.file`/);
  });

  test('timestamp mode needs timestamp-millis', () => {
    expectProblem(VALID.replace('tables:', 'scan.startup.mode: timestamp\n  tables:'), 'FERRY_CONFIG_INVALID', 'source.scan.startup.timestamp-millis', /required when scan\.startup\.mode is `timestamp`/);
  });

  test('a postgres sink needs database; a mysql sink refuses it', () => {
    expectProblem(VALID.replace('  database: dw\n', ''), 'FERRY_CONFIG_INVALID', 'sink.database', /required for a postgres sink/);
    expectProblem(VALID.replace('type: postgres', 'type: mysql'), 'FERRY_CONFIG_INVALID', 'sink.database', /not used by a mysql sink — remove it/);
  });

  test('the heap cap must hold twice the queue', () => {
    expectProblem(VALID.replace("  name: shop\n", "  name: shop\n  queue.max-bytes: 128MiB\n  heap.max-bytes: 200MiB\n"), 'FERRY_CONFIG_INVALID', 'pipeline.heap.max-bytes', /is 200MiB, less than twice pipeline\.queue\.max-bytes \(128MiB\).*raise it to at least `256MiB`/s);
  });

  test('replace-symbol must occur in sink-table', () => {
    expectProblem(`${VALID}route:\n  - source-table: a\\..*\n    sink-table: dw.t\n    replace-symbol: <>\n`, 'FERRY_CONFIG_INVALID', 'route[0].replace-symbol', /does not occur in sink-table/);
  });
});

describe('regular expressions', () => {
  test('an invalid pattern names the key and the pattern', () => {
    expectProblem(VALID.replace('tables: shop\\..*', 'tables: shop\\..*, orders(\\d'), 'FERRY_CONFIG_INVALID', 'source.tables', /pattern 2 `orders\(\\d` is not a valid regular expression/);
  });

  test('a pattern that would escape the anchors is refused', () => {
    expectProblem(VALID.replace('tables: shop\\..*', 'tables: a)|(b'), 'FERRY_CONFIG_INVALID', 'source.tables', /not a valid regular expression/);
  });

  test('a nested quantifier is refused', () => {
    expectProblem(VALID.replace('tables: shop\\..*', 'tables: (a+)+'), 'FERRY_CONFIG_INVALID', 'source.tables', /exponential time/);
  });

  test('an empty pattern between commas', () => {
    expectProblem(VALID.replace('tables: shop\\..*', 'tables: a\\.b,,c\\.d'), 'FERRY_CONFIG_INVALID', 'source.tables', /pattern 2 is empty — remove the extra comma/);
  });

  test('a route source-table is checked too', () => {
    expectProblem(`${VALID}route:\n  - source-table: "[a-"\n    sink-table: dw.t\n`, 'FERRY_CONFIG_INVALID', 'route[0].source-table', /not a valid regular expression/);
  });
});

describe('environment variables', () => {
  test('a missing variable names the variable and the key', () => {
    const { error, problems } = failure(VALID.replace('password: src-pass-123', 'password: ${MYSQL_PASSWORD}'));
    assert.equal(error.code, 'FERRY_CONFIG_ENV_MISSING');
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.key, 'source.password');
    assert.match(problems[0]?.problem ?? '', /MYSQL_PASSWORD, which is not set/);
  });

  test('a missing variable together with other problems is FERRY_CONFIG_INVALID listing both', () => {
    const { error, problems } = failure(VALID.replace('password: src-pass-123', 'password: ${MYSQL_PASSWORD}').replace('hostname: 127.0.0.1\n  username: ferry\n  password: $', 'hostnam: 127.0.0.1\n  username: ferry\n  password: $'));
    assert.equal(error.code, 'FERRY_CONFIG_INVALID');
    assert.ok(problems.some((p) => /MYSQL_PASSWORD/.test(p.problem)));
    assert.ok(problems.some((p) => p.key === 'source.hostnam'));
  });

  test('a malformed reference', () => {
    expectProblem(VALID.replace('hostname: 127.0.0.1\n  username: ferry\n  password: src', 'hostname: ${HOST\n  username: ferry\n  password: src'), 'FERRY_CONFIG_INVALID', 'source.hostname', /malformed `\$\{\.\.\.\}` reference/);
  });

  test('variables in keys are not substituted', () => {
    expectProblem(VALID.replace('tables:', '${KEY}: 1\n  tables:'), 'FERRY_CONFIG_INVALID', 'source.${KEY}', /unknown key/, { KEY: 'port' });
  });
});

describe('all problems at once', () => {
  test('every problem of the file is listed, in file order', () => {
    const text = VALID.replace('hostname: 127.0.0.1\n  username: ferry\n  password: src', 'hostnme: 127.0.0.1\n  username: ferry\n  password: src')
      .replace('type: postgres', 'type: oracle')
      .replace('name: shop', 'name: shop\n  parallelism: x');
    const { error, problems } = failure(text);
    assert.deepEqual(
      problems.map((p) => p.key),
      ['source.hostname', 'source.hostnme', 'sink.type', 'pipeline.parallelism'],
    );
    assert.match(error.message, /has 4 problems:/);
    assert.equal(error.fix, 'Correct each key listed; docs/CONFIG.md describes every key.');
  });
});

describe('YAML safety', () => {
  test('an alias bomb is refused', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (const [n, prev] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd'], ['f', 'e'], ['g', 'f']] as const) {
      bomb.push(`${n}: &${n} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    expectProblem(`${bomb.join('\n')}\n`, 'FERRY_CONFIG_UNREADABLE', '(file)', /aliases expand to too many nodes/);
  });

  test('custom tags are refused', () => {
    expectProblem(VALID.replace('hostname: 127.0.0.1\n  username: ferry\n  password: src', 'hostname: !env HOST\n  username: ferry\n  password: src'), 'FERRY_CONFIG_UNREADABLE', 'source.hostname', /uses the YAML tag `!env`/);
    expectProblem(VALID.replace('hostname: 127.0.0.1\n  username: ferry\n  password: src', 'hostname: !!binary aGVsbG8=\n  username: ferry\n  password: src'), 'FERRY_CONFIG_UNREADABLE', 'source.hostname', /YAML tag `tag:yaml\.org,2002:binary`/);
  });

  test('a __proto__ key is refused and pollutes nothing', () => {
    expectProblem(`${VALID}__proto__:\n  polluted: true\n`, 'FERRY_CONFIG_UNREADABLE', '__proto__', /not allowed as a key/);
    expectProblem(VALID.replace('tables:', '__proto__: {port: 1}\n  tables:'), 'FERRY_CONFIG_UNREADABLE', 'source.__proto__', /not allowed/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('duplicate keys are refused with their path', () => {
    expectProblem(VALID.replace('tables:', 'username: other\n  tables:'), 'FERRY_CONFIG_UNREADABLE', 'source.username', /appears twice/);
  });

  test('a syntax error gives line and column', () => {
    const { error, problems } = failure(VALID.replace('tables: shop\\..*', 'tables: [shop'));
    assert.equal(error.code, 'FERRY_CONFIG_UNREADABLE');
    assert.match(problems[0]?.problem ?? '', /line \d+, column \d+/);
  });

  test('a complex key is refused', () => {
    expectProblem('? [a, b]\n: 1\n', 'FERRY_CONFIG_UNREADABLE', '(file)', /key that is not a plain string/);
  });

  test('more than one YAML document is refused', () => {
    const { error } = failure(`${VALID}---\n${VALID}`);
    assert.equal(error.code, 'FERRY_CONFIG_UNREADABLE');
  });

  test('text over 1 MiB is refused before parsing', () => {
    const huge = `${VALID}# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`;
    assert.throws(() => parsePipelineConfig(huge, 'big.yaml', {}), (e: unknown) => e instanceof FerryError && e.code === 'FERRY_CONFIG_UNREADABLE' && /more than the 1048576 allowed/.test(e.message));
  });
});

describe('reading files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-config-errors-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a missing file', () => {
    assert.throws(() => loadPipelineConfig(join(dir, 'nope.yaml'), {}), (e: unknown) => e instanceof FerryError && e.code === 'FERRY_CONFIG_UNREADABLE' && /does not exist/.test(e.message));
  });

  test('a directory', () => {
    assert.throws(() => loadPipelineConfig(dir, {}), (e: unknown) => e instanceof FerryError && e.code === 'FERRY_CONFIG_UNREADABLE' && /not a regular file/.test(e.message));
  });

  test('a file over 1 MiB is refused without reading it', () => {
    const file = join(dir, 'huge.yaml');
    writeFileSync(file, Buffer.alloc(MAX_CONFIG_BYTES + 1, 0x20));
    assert.throws(() => loadPipelineConfig(file, {}), (e: unknown) => e instanceof FerryError && e.code === 'FERRY_CONFIG_UNREADABLE' && /bytes, more than/.test(e.message));
  });

  test('a file that is not UTF-8', () => {
    const file = join(dir, 'latin1.yaml');
    writeFileSync(file, Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]));
    assert.throws(() => loadPipelineConfig(file, {}), (e: unknown) => e instanceof FerryError && e.code === 'FERRY_CONFIG_UNREADABLE' && /not valid UTF-8/.test(e.message));
  });
});
