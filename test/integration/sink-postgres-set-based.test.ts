/**
 * Lane batches under the COPY threshold go as one prepared set-based statement per table
 * (json_populate_recordset over the target's row type). Values must land exactly as they did
 * through bind parameters, including the awkward ones for JSON transport, and composite-key
 * deletes must remove exactly their keys.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createPostgresSink, type PostgresSink } from '../../src/connectors/postgres/sink.js';
import { quotePgIdent } from '../../src/connectors/postgres/quote.js';
import type { Row } from '../../src/core/change.js';
import type { KeyAction, TargetTable } from '../../src/core/contracts.js';
import { pgOptions } from '../helpers/env.js';
import { col, never, sinkConfig, utf8 } from './sink-fixture.js';

const SCHEMA = 'sink_it_pg_setbased';
const CK = 'sink_it_pg_setbased_ck';

let admin: pg.Client;
let sink: PostgresSink;

const table: TargetTable = {
  schema: SCHEMA,
  name: 'mixed "t"',
  source: {
    schema: 'src',
    name: 'mixed',
    columns: [
      col('k1', { kind: 'int', bits: 64, unsigned: true }, 'bigint unsigned', false),
      col('k 2"', utf8(20), 'varchar(20)', false),
      col('txt', utf8(null, true), 'longtext'),
      col('doc', { kind: 'json' }, 'json'),
      col('bin', { kind: 'binary', maxBytes: null, fixed: false, lob: true }, 'blob'),
      col('dec', { kind: 'decimal', precision: 65, scale: 30, unsigned: false }, 'decimal(65,30)'),
    ],
    primaryKey: [0, 1],
  },
};

before(async () => {
  admin = new pg.Client(pgOptions);
  await admin.connect();
  for (const s of [SCHEMA, CK]) await admin.query(`DROP SCHEMA IF EXISTS ${quotePgIdent(s)} CASCADE`);
  sink = createPostgresSink(sinkConfig('postgres', CK), 'setbased');
  await sink.prepare([table], never);
});

after(async () => {
  await sink.close();
  for (const s of [SCHEMA, CK]) await admin.query(`DROP SCHEMA IF EXISTS ${quotePgIdent(s)} CASCADE`);
  await admin.end();
});

async function contents(): Promise<unknown[][]> {
  const r = await admin.query({
    text: `SELECT k1::text, "k 2""", txt, doc::text, CASE WHEN doc IS NULL THEN 'SQL NULL' ELSE jsonb_typeof(doc) END, encode(bin, 'hex'), dec::text FROM ${quotePgIdent(SCHEMA)}.${quotePgIdent(table.name)} ORDER BY 1, 2`,
    rowMode: 'array',
  });
  return r.rows as unknown[][];
}

test('small lane groups: awkward values land exactly; JSON null stays jsonb null; composite-key deletes remove only their keys', async () => {
  const rows: Row[] = [
    [18446744073709551615n, 'a', 'quote " back \\ tab \t nl \n é 😀', '{"a": [1, 2.50, "x\\"y"], "b": null}', Buffer.from([0, 1, 0xfe, 0xff]), '-12345678901234567890123456789012345.123456789012345678901234567890'],
    [1, 'b', '', 'null', Buffer.alloc(0), '0.000000000000000000000000000001'],
    [2, 'c', null, '"just a string"', null, null],
    [3, "d'\"", 'x', '12345678901234567890', Buffer.from('\\x41'), '1'],
  ];
  const lane = await sink.openLane(0);
  try {
    // Without the JSON null first (the set-based statement), then the JSON null alone (a group
    // holding it takes the bind-parameter path).
    const plain = rows.filter((r) => r[3] !== 'null');
    await lane.write({ actions: plain.map((row): KeyAction => ({ kind: 'upsert', table, row })), checkpoint: 'p1' }, never);
    await lane.write({ actions: rows.filter((r) => r[3] === 'null').map((row): KeyAction => ({ kind: 'upsert', table, row })), checkpoint: 'p1b' }, never);
    assert.deepEqual(await contents(), [
      ['1', 'b', '', 'null', 'null', '', '0.000000000000000000000000000001'],
      ['18446744073709551615', 'a', 'quote " back \\ tab \t nl \n é 😀', '{"a": [1, 2.50, "x\\"y"], "b": null}', 'object', '0001feff', '-12345678901234567890123456789012345.123456789012345678901234567890'],
      ['2', 'c', null, '"just a string"', 'string', null, null],
      ['3', "d'\"", 'x', '12345678901234567890', 'number', '5c783431', '1.000000000000000000000000000000'],
    ]);
    await lane.write(
      {
        actions: [
          { kind: 'delete', table, key: [1, 'b'] },
          { kind: 'delete', table, key: [3, 'c'] }, // no such key: (3, 'c') is not (2, 'c') nor (3, 'd...')
          { kind: 'delete', table, key: [18446744073709551615n, 'a'] },
        ],
        checkpoint: 'p2',
      },
      never,
    );
    assert.deepEqual((await contents()).map((r) => [r[0], r[1]]), [
      ['2', 'c'],
      ['3', "d'\""],
    ]);
  } finally {
    await lane.close();
  }
});
