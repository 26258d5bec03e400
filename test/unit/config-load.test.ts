import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { EXAMPLE_PIPELINE_YAML, loadPipelineConfig, parseByteSize, parseDuration, parsePipelineConfig } from '../../src/core/config.js';

/** The example of the issue, verbatim: every key, some of them unused by the chosen mode. */
const FULL_EXAMPLE = `source:
  type: mysql                 # or "mariadb" (normalized to mysql)
  hostname: 127.0.0.1
  port: 3306
  username: ferry
  password: \${MYSQL_PASSWORD}  # \${NAME} from the environment, anywhere in a string value
  tables: shop\\..*            # comma-separated regular expressions over "database.table"
  server-id: 5400             # optional
  scan.startup.mode: initial  # initial | snapshot | latest-offset | specific-offset | timestamp
  scan.startup.specific-offset.file: mysql-bin.000003
  scan.startup.specific-offset.pos: 4
  scan.startup.specific-offset.gtid-set: 0-1-100
  scan.startup.timestamp-millis: 1700000000000
  scan.snapshot.chunk.size: 8096
  heartbeat.interval: 5s        # durations: number of ms or strings like 500ms, 5s, 1min
  connect.timeout: 30s
sink:
  type: postgres              # or mysql (also "mariadb" → mysql)
  hostname: 127.0.0.1
  port: 5432
  username: ferry
  password: secret
  database: dw
  checkpoint-schema: _ferry
  batch.max-rows: 5000
route:
  - source-table: shop\\..*
    sink-table: analytics.<>
    replace-symbol: <>
    description: optional text
pipeline:
  name: shop-to-dw
  parallelism: 4
  state-dir: ./.ferry
  flush-interval: 200ms
  queue.max-bytes: 64MiB     # number or size string
`;

const MINIMAL = `source:
  type: mariadb
  hostname: db1
  username: ferry
  password: pw
  tables: shop\\.orders
sink:
  type: mysql
  hostname: db2
  username: ferry
  password: pw2
pipeline:
  name: p1
`;

const ENV = { MYSQL_PASSWORD: 'mysql-pass', PG_PASSWORD: 'pg-pass' };

describe('parsePipelineConfig: valid files', () => {
  test('the full example parses into the resolved config', () => {
    const cfg = parsePipelineConfig(FULL_EXAMPLE, 'pipelines/shop.yaml', ENV);
    assert.equal(cfg.file, resolve('pipelines/shop.yaml'));
    const { password, tablePatterns, ...source } = cfg.source;
    assert.equal(password.reveal(), 'mysql-pass');
    assert.deepEqual(tablePatterns.map((r) => r.source), ['^(?:shop\\..*)$']);
    assert.deepEqual(source, {
      type: 'mysql',
      hostname: '127.0.0.1',
      port: 3306,
      username: 'ferry',
      tables: 'shop\\..*',
      serverId: 5400,
      startup: { mode: 'initial', specificOffset: { file: 'mysql-bin.000003', pos: 4, gtidSet: '0-1-100' }, timestampMillis: 1700000000000 },
      snapshotChunkSize: 8096,
      snapshotChunkBytes: 4 * 1024 * 1024,
      rateLimit: { rowsPerSecond: 0, bytesPerSecond: 0 },
      heartbeatIntervalMs: 5000,
      connectTimeoutMs: 30000,
      serverTimeZone: null,
      keyColumns: {},
    });
    const { password: sinkPassword, ...sink } = cfg.sink;
    assert.equal(sinkPassword.reveal(), 'secret');
    assert.deepEqual(sink, { type: 'postgres', hostname: '127.0.0.1', port: 5432, username: 'ferry', database: 'dw', checkpointSchema: '_ferry', batchMaxRows: 5000, zeroDate: 'null' });
    assert.equal(cfg.route.length, 1);
    assert.equal(cfg.route[0]?.sourceTable.source, '^(?:shop\\..*)$');
    assert.equal(cfg.route[0]?.sinkTable, 'analytics.<>');
    assert.equal(cfg.route[0]?.replaceSymbol, '<>');
    assert.deepEqual(cfg.pipeline, { name: 'shop-to-dw', parallelism: 4, stateDir: resolve('./.ferry'), flushIntervalMs: 200, queueMaxBytes: 64 * 1024 * 1024, heapMaxBytes: 160 * 1024 * 1024, snapshotParallelism: 2, schemaChange: 'evolve' });
  });

  test('a minimal file gets every default, mariadb is normalized to mysql', () => {
    const cfg = parsePipelineConfig(MINIMAL, 'p1.yaml', {});
    assert.equal(cfg.source.type, 'mysql');
    assert.equal(cfg.source.port, 3306);
    assert.equal(cfg.source.serverId, null);
    assert.deepEqual(cfg.source.startup, { mode: 'initial', specificOffset: { file: null, pos: null, gtidSet: null }, timestampMillis: null });
    assert.equal(cfg.source.snapshotChunkSize, 8096);
    assert.equal(cfg.source.heartbeatIntervalMs, 1000);
    assert.equal(cfg.source.connectTimeoutMs, 30000);
    assert.equal(cfg.sink.type, 'mysql');
    assert.equal(cfg.sink.port, 3306);
    assert.equal(cfg.sink.database, null);
    assert.equal(cfg.sink.checkpointSchema, '_ferry');
    assert.equal(cfg.sink.batchMaxRows, 5000);
    assert.deepEqual(cfg.route, []);
    assert.deepEqual(cfg.pipeline, { name: 'p1', parallelism: 2, stateDir: resolve('./.ferry'), flushIntervalMs: 200, queueMaxBytes: 64 * 1024 * 1024, heapMaxBytes: 160 * 1024 * 1024, snapshotParallelism: 2, schemaChange: 'evolve' });
  });

  test('the postgres sink port defaults to 5432, and mariadb sinks become mysql', () => {
    const pg = parsePipelineConfig(MINIMAL.replace('type: mysql', 'type: postgres\n  database: dw'), 'p.yaml', {});
    assert.equal(pg.sink.port, 5432);
    const maria = parsePipelineConfig(MINIMAL.replace('type: mysql', 'type: mariadb'), 'p.yaml', {});
    assert.equal(maria.sink.type, 'mysql');
  });

  test('the reference example parses', () => {
    const cfg = parsePipelineConfig(EXAMPLE_PIPELINE_YAML, 'example.yaml', ENV);
    assert.equal(cfg.sink.password.reveal(), 'pg-pass');
  });

  test('${NAME} is substituted anywhere in a string value; $${ is a literal ${; keys are never substituted', () => {
    // (a function replacement: a replacement string would read `$$` as `$`)
    const text = MINIMAL.replace('password: pw\n', () => 'password: a-${USER_PART}-b$${LITERAL}\n').replace('hostname: db1', 'hostname: ${DB_HOST}.internal');
    const cfg = parsePipelineConfig(text, 'p.yaml', { USER_PART: 'x', DB_HOST: 'db9' });
    assert.equal(cfg.source.password.reveal(), 'a-x-b${LITERAL}');
    assert.equal(cfg.source.hostname, 'db9.internal');
  });

  test('numbers may come from the environment as strings', () => {
    const text = MINIMAL.replace('hostname: db1', 'hostname: db1\n  port: ${PORT}\n  server-id: "77"');
    const cfg = parsePipelineConfig(text, 'p.yaml', { PORT: '3307' });
    assert.equal(cfg.source.port, 3307);
    assert.equal(cfg.source.serverId, 77);
  });

  test('a key without a value counts as absent and takes its default', () => {
    const cfg = parsePipelineConfig(MINIMAL.replace('hostname: db1', 'hostname: db1\n  server-id:\n  port:'), 'p.yaml', {});
    assert.equal(cfg.source.serverId, null);
    assert.equal(cfg.source.port, 3306);
  });

  test('specific-offset with a GTID set alone, and timestamp mode', () => {
    const gtid = parsePipelineConfig(MINIMAL.replace('tables:', 'scan.startup.mode: specific-offset\n  scan.startup.specific-offset.gtid-set: 0-1-5\n  tables:'), 'p.yaml', {});
    assert.deepEqual(gtid.source.startup.specificOffset, { file: null, pos: null, gtidSet: '0-1-5' });
    const ts = parsePipelineConfig(MINIMAL.replace('tables:', 'scan.startup.mode: timestamp\n  scan.startup.timestamp-millis: 1700000000000\n  tables:'), 'p.yaml', {});
    assert.equal(ts.source.startup.timestampMillis, 1700000000000);
  });

  test('tables splits on commas outside character classes and {m,n} quantifiers', () => {
    const cfg = parsePipelineConfig(MINIMAL.replace('tables: shop\\.orders', 'tables: "shop\\\\.orders, a[,_]b\\\\.t{1,3}, c\\\\.d"'), 'p.yaml', {});
    assert.deepEqual(cfg.source.tablePatterns.map((r) => r.source), ['^(?:shop\\.orders)$', '^(?:a[,_]b\\.t{1,3})$', '^(?:c\\.d)$']);
  });
});

describe('loadPipelineConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('reads a file and records its absolute path', () => {
    const file = join(dir, 'p1.yaml');
    writeFileSync(file, MINIMAL);
    const cfg = loadPipelineConfig(file, {});
    assert.equal(cfg.file, file);
    assert.equal(cfg.pipeline.name, 'p1');
  });

  test('a UTF-8 BOM is accepted', () => {
    const file = join(dir, 'bom.yaml');
    writeFileSync(file, `\ufeff${MINIMAL}`);
    assert.equal(loadPipelineConfig(file, {}).pipeline.name, 'p1');
  });
});

describe('durations and sizes', () => {
  test('durations: milliseconds or a string with a unit', () => {
    assert.equal(parseDuration(250), 250);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('5s'), 5000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('1min'), 60000);
    assert.equal(parseDuration('2m'), 120000);
    assert.equal(parseDuration('1h'), 3600000);
    assert.equal(parseDuration('300'), 300);
    assert.equal(parseDuration('5 s'), 5000);
    for (const bad of ['soon', '5 parsecs', '-1s', '1.5', '', 1.5, -3]) assert.equal(parseDuration(bad), null, String(bad));
  });

  test('sizes: bytes or a string with a binary or decimal unit', () => {
    assert.equal(parseByteSize(1024), 1024);
    assert.equal(parseByteSize('64MiB'), 64 * 2 ** 20);
    assert.equal(parseByteSize('64MB'), 64e6);
    assert.equal(parseByteSize('512kib'), 512 * 1024);
    assert.equal(parseByteSize('1GiB'), 2 ** 30);
    assert.equal(parseByteSize('100'), 100);
    for (const bad of ['lots', '64 MiBs', '-1', 0.5]) assert.equal(parseByteSize(bad), null, String(bad));
  });
});
