/**
 * Snapshot chunks into PostgreSQL: a chunk whose key range is free in the target is COPYed
 * straight into the table; every other case (a chunk applied again after a crash, a target that
 * already holds some of the keys, a key the target orders outside the chunk's range) must end
 * exactly as an upsert would, and a bad row must still be named by its key.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createPostgresSink, COPY_MIN_ROWS, type PostgresSink } from '../../src/connectors/postgres/sink.js';
import { quotePgIdent } from '../../src/connectors/postgres/quote.js';
import type { Row } from '../../src/core/change.js';
import type { TargetTable } from '../../src/core/contracts.js';
import { isFerryError } from '../../src/core/errors.js';
import { pgOptions } from '../helpers/env.js';
import { col, never, sinkConfig, utf8 } from './sink-fixture.js';

const SCHEMA = 'sink_it_pg_snapcopy';
const CK = 'sink_it_pg_snapcopy_ck';

let admin: pg.Client;
let sink: PostgresSink;

const INT = { kind: 'int', bits: 32, unsigned: false } as const;

function intTable(name: string): TargetTable {
  return {
    schema: SCHEMA,
    name,
    source: { schema: 'src', name, columns: [col('id', INT, 'int(11)', false), col('v', utf8(20), 'varchar(20)', false), col('w', INT, 'int(11)')], primaryKey: [0] },
  };
}

const textKeyed: TargetTable = {
  schema: SCHEMA,
  name: 'text_keyed',
  source: { schema: 'src', name: 'text_keyed', columns: [col('k', utf8(20), 'varchar(20)', false), col('w', INT, 'int(11)')], primaryKey: [0] },
};

before(async () => {
  admin = new pg.Client(pgOptions);
  await admin.connect();
  for (const s of [SCHEMA, CK]) await admin.query(`DROP SCHEMA IF EXISTS ${quotePgIdent(s)} CASCADE`);
  sink = createPostgresSink(sinkConfig('postgres', CK), 'snapcopy');
});

after(async () => {
  await sink.close();
  for (const s of [SCHEMA, CK]) await admin.query(`DROP SCHEMA IF EXISTS ${quotePgIdent(s)} CASCADE`);
  await admin.end();
});

function chunk(from: number, n: number, tag: string): Row[] {
  return Array.from({ length: n }, (_, i) => [from + i, `${tag}${from + i}`, (from + i) % 5 === 0 ? null : from + i]);
}

async function contents(t: TargetTable): Promise<unknown[][]> {
  const r = await admin.query({ text: `SELECT * FROM ${quotePgIdent(t.schema)}.${quotePgIdent(t.name)} ORDER BY 1`, rowMode: 'array' });
  return r.rows as unknown[][];
}

/** Stage tables the sink's sessions have created so far (the merge path uses them; a plain COPY does not). */
async function stageTables(): Promise<number> {
  const r = await admin.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_class WHERE relpersistence = 't' AND relname LIKE '\\_ferry\\_stage\\_%'");
  return r.rows[0]?.n ?? 0;
}

test('a chunk into a free key range is copied straight into the table; applied again (after a crash) it changes nothing', async () => {
  const t = intTable('fresh');
  await sink.prepare([t], never);
  const rows = chunk(1, COPY_MIN_ROWS + 50, 'a');
  const stagesBefore = await stageTables();
  await sink.writeSnapshotRows(t, rows, never);
  assert.equal(await stageTables(), stagesBefore, 'no stage table: the chunk went straight into the target');
  assert.deepEqual(await contents(t), rows);
  await sink.writeSnapshotRows(t, rows, never);
  assert.ok((await stageTables()) > stagesBefore, 'the second time the rows are there: merged through a stage table');
  assert.deepEqual(await contents(t), rows);
});

test('a chunk overlapping rows already in the target ends as an upsert: new values win, no duplicates', async () => {
  const t = intTable('overlap');
  await sink.prepare([t], never);
  await sink.writeSnapshotRows(t, chunk(100, 300, 'old'), never);
  const fresh = chunk(1, 600, 'new');
  await sink.writeSnapshotRows(t, fresh, never);
  assert.deepEqual(await contents(t), fresh);
  // The next chunk after the overlapping one starts in a free range again.
  const next = chunk(601, COPY_MIN_ROWS, 'next');
  await sink.writeSnapshotRows(t, next, never);
  assert.deepEqual(await contents(t), [...fresh, ...next]);
});

test('a key the target orders outside the chunk range (another collation) is still upserted, not duplicated or lost', async () => {
  // The source (case-insensitive) reads a000..a249, B, c in this order; the target's "C"
  // collation puts B before a000, so B is outside [a000, c] there.
  await admin.query(`CREATE SCHEMA IF NOT EXISTS ${quotePgIdent(SCHEMA)}`);
  await admin.query(`CREATE TABLE ${quotePgIdent(SCHEMA)}.text_keyed (k varchar(20) COLLATE "C" NOT NULL PRIMARY KEY, w integer)`);
  await sink.prepare([textKeyed], never);
  await admin.query(`INSERT INTO ${quotePgIdent(SCHEMA)}.text_keyed VALUES ('B', -1)`);
  const rows: Row[] = [...Array.from({ length: COPY_MIN_ROWS + 50 }, (_, i): Row => [`a${String(i).padStart(3, '0')}`, i]), ['B', 1000], ['c', 1001]];
  await sink.writeSnapshotRows(textKeyed, rows, never);
  const got = await contents(textKeyed);
  assert.equal(got.length, rows.length);
  assert.deepEqual(got.find((r) => r[0] === 'B'), ['B', 1000]);
  assert.deepEqual(got.find((r) => r[0] === 'c'), ['c', 1001]);
});

test('a bad row in a chunk for a free range stops the write with its key and leaves nothing of the chunk', async () => {
  const t = intTable('bad');
  await sink.prepare([t], never);
  const rows = chunk(1, COPY_MIN_ROWS + 10, 'ok');
  rows[150] = [151, 'x'.repeat(30), 151]; // longer than varchar(20)
  await assert.rejects(sink.writeSnapshotRows(t, rows, never), (e) => {
    assert.ok(isFerryError(e, 'FERRY_SINK_WRITE'));
    assert.match(e.message, /sink_it_pg_snapcopy\.bad/);
    assert.match(e.message, /key \(151\)/);
    return true;
  });
  assert.deepEqual(await contents(t), []);
});
