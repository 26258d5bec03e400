import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createPostgresSink, COPY_MIN_ROWS, type PostgresSink } from '../../src/connectors/postgres/sink.js';
import { pgTextLiteral, quotePgIdent, quotePgTable } from '../../src/connectors/postgres/quote.js';
import type { Row, Value } from '../../src/core/change.js';
import { Secret } from '../../src/core/config-types.js';
import type { KeyAction, TargetTable } from '../../src/core/contracts.js';
import { isFerryError } from '../../src/core/errors.js';
import type { TableSchema } from '../../src/core/schema.js';
import { pgOptions } from '../helpers/env.js';
import { ALL_TYPES_ROWS, allTypesTable, col, never, sinkConfig, utf8 } from './sink-fixture.js';

const SCHEMA = 'sink_it_pg';
const CK = 'sink_it_pg_ck';
const HOSTILE_SCHEMA = 'sink_it_pg_h"\'; DROP SCHEMA x; -- .%😀';
const PIPELINE = "pipe'line\"1";

let admin: pg.Client;
let sink: PostgresSink;

function target(source: TableSchema, schema = SCHEMA, name = source.name): TargetTable {
  return { schema, name, source };
}

const allTypes = target(allTypesTable('src', 'all_types'));
const small: TargetTable = target({
  schema: 'src',
  name: 'small',
  columns: [
    col('id', { kind: 'int', bits: 32, unsigned: false }, 'int(11)', false),
    col('v', utf8(20), 'varchar(20)', false),
    col('w', { kind: 'int', bits: 32, unsigned: false }, 'int(11)'),
  ],
  primaryKey: [0],
});
const other: TargetTable = target({ ...small.source, name: 'other' });

async function dropAll(): Promise<void> {
  for (const s of [SCHEMA, CK, HOSTILE_SCHEMA]) await admin.query(`DROP SCHEMA IF EXISTS ${quotePgIdent(s)} CASCADE`);
}

before(async () => {
  admin = new pg.Client({ ...pgOptions, options: '-c TimeZone=UTC -c IntervalStyle=postgres -c DateStyle=ISO,YMD' });
  await admin.connect();
  await dropAll();
  sink = createPostgresSink(sinkConfig('postgres', CK), PIPELINE);
  await sink.prepare([allTypes, small, other], never);
});

after(async () => {
  await sink.close();
  await dropAll();
  await admin.end();
});

async function rows(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  return (await admin.query(sql, params)).rows as Record<string, unknown>[];
}

test('prepare maps every type to the documented PostgreSQL type, keeps nullability and key order', async () => {
  const cols = await rows(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull
       FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [`${quotePgIdent(SCHEMA)}.all_types`],
  );
  assert.deepEqual(
    Object.fromEntries(cols.map((c) => [c.name, c.type])),
    {
      id: 'bigint',
      code: 'character varying(20)',
      i8: 'smallint',
      u64: 'numeric(20,0)',
      s64: 'bigint',
      dec: 'numeric(65,30)',
      f: 'real',
      d: 'double precision',
      emoji: 'character varying(50)',
      lat: 'character varying(50)',
      bin: 'bytea',
      dt: 'date',
      dtm: 'timestamp(6) without time zone',
      ts: 'timestamp(6) with time zone',
      tm: 'interval',
      js: 'jsonb',
      en: 'text',
      st: 'text',
      bits: 'bit varying(10)',
      yr: 'smallint',
      txt: 'text',
      nul: 'character varying(10)',
    },
  );
  assert.deepEqual(cols.filter((c) => c.notnull).map((c) => c.name), ['id', 'code']);
  const pk = await rows(
    `SELECT a.attname AS name FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.ord`,
    [`${quotePgIdent(SCHEMA)}.all_types`],
  );
  assert.deepEqual(pk.map((r) => r.name), ['code', 'id']);
  const ck = await rows(`SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = '_ferry_checkpoint' ORDER BY ordinal_position`, [CK]);
  assert.deepEqual(ck.map((r) => r.column_name), ['pipeline', 'lane', 'position', 'updated_at']);
  await sink.prepare([allTypes, small, other], never);
});

const READBACK = `SELECT ${allTypesTable('x', 'y').columns.map((c) => `${quotePgIdent(c.name)}::text AS ${quotePgIdent(c.name)}`).join(', ')} FROM ${quotePgIdent(SCHEMA)}.all_types ORDER BY code`;

/** What PostgreSQL prints (::text) for each canonical value of the all-types row. */
function expected(r: Row): Record<string, unknown> {
  const bits = r[18] as Buffer;
  const ts = r[13] as string;
  return {
    id: String(r[0]),
    code: r[1],
    i8: String(r[2]),
    u64: String(r[3]),
    s64: String(r[4]),
    dec: r[5],
    f: r[6],
    d: r[7],
    emoji: r[8],
    lat: r[9],
    bin: '\\x' + (r[10] as Buffer).toString('hex'),
    dt: r[11],
    dtm: r[12],
    // timestamptz prints trailing zero digits trimmed, with the zone.
    ts: ts.replace(/\.?0+$/, '') + '+00',
    tm: r[14],
    // jsonb normalises spacing; numbers keep every digit.
    js: JSON.stringify(JSON.parse(r[15] as string)) === '[]' ? '[]' : '{"f": 1.000000000000000000001, "s": "x\\"y", "big": 9223372036854775808, "neg": -9223372036854775809}',
    en: r[16],
    st: r[17],
    bits: bits.readUIntBE(0, bits.length).toString(2).padStart(10, '0'),
    yr: String(r[19]),
    txt: r[20],
    nul: r[21],
  };
}

async function readAllTypes(): Promise<Record<string, unknown>[]> {
  return (await rows(READBACK)).map((r) => ({ ...r, f: Math.fround(Number(r.f)), d: Number(r.d) }));
}

test('snapshot rows round trip exactly for every common type, and a second write changes nothing', async () => {
  await sink.writeSnapshotRows(allTypes, ALL_TYPES_ROWS, never);
  const want = [...ALL_TYPES_ROWS].sort((a, b) => String(a[1]).localeCompare(String(b[1]))).map(expected);
  want[1]!.dtm = '1000-01-01 00:00:00';
  assert.deepEqual(await readAllTypes(), want);
  await sink.writeSnapshotRows(allTypes, ALL_TYPES_ROWS, never);
  assert.deepEqual(await readAllTypes(), want);
});

test('the COPY path (large sets) stores the same values as the INSERT path', async () => {
  const many: Row[] = [];
  for (let i = 0; i < COPY_MIN_ROWS + 5; i++) {
    const base = ALL_TYPES_ROWS[i % 2] as Row;
    many.push([i, `k${i}`, ...base.slice(2)]);
  }
  const t = target({ ...allTypes.source, name: 'all_types_copy' });
  await sink.prepare([t], never);
  await sink.writeSnapshotRows(t, many, never);
  await sink.writeSnapshotRows(t, many, never);
  const cols = allTypes.source.columns.slice(2).map((c) => `${quotePgIdent(c.name)}::text`).join(', ');
  const viaCopy = await rows(`SELECT ${cols} FROM ${quotePgIdent(SCHEMA)}.all_types_copy WHERE id IN (0, 1) ORDER BY id`);
  const viaInsert = await rows(`SELECT ${cols} FROM ${quotePgIdent(SCHEMA)}.all_types ORDER BY code`);
  assert.deepEqual(viaCopy, viaInsert);
  const [n] = await rows(`SELECT count(*)::int AS n FROM ${quotePgIdent(SCHEMA)}.all_types_copy`);
  assert.equal(n?.n, many.length);
});

test('snapshot rows: many rows upsert; a changed row is updated', async () => {
  const many: Row[] = [];
  for (let i = 0; i < 20000; i++) many.push([i, 'v'.repeat(20), i % 7 === 0 ? null : i]);
  await sink.writeSnapshotRows(small, many, never);
  many[5] = [5, 'changed', 55];
  await sink.writeSnapshotRows(small, many, never);
  const [r] = await rows(`SELECT count(*)::int AS n FROM ${SCHEMA}.small`);
  assert.equal(r?.n, 20000);
  assert.deepEqual(await rows(`SELECT v, w FROM ${SCHEMA}.small WHERE id = 5`), [{ v: 'changed', w: 55 }]);
  await admin.query(`TRUNCATE ${SCHEMA}.small`);
});

async function state(): Promise<{ small: unknown[]; other: unknown[]; ck: unknown[] }> {
  return {
    small: await rows(`SELECT id, v, w FROM ${SCHEMA}.small ORDER BY id`),
    other: await rows(`SELECT id, v, w FROM ${SCHEMA}.other ORDER BY id`),
    ck: (await sink.readLaneCheckpoints(never)).map((c) => ({ ...c })),
  };
}

test('lane write applies deletes, inserts, updates on several tables and the checkpoint in one transaction', async () => {
  await sink.resetLaneCheckpoints(never);
  assert.deepEqual(await sink.readLaneCheckpoints(never), []);
  const lane = await sink.openLane(1);
  try {
    const bulk: KeyAction[] = [];
    for (let i = 100; i < 100 + COPY_MIN_ROWS; i++) bulk.push({ kind: 'upsert', table: other, row: [i, 'bulk', i] });
    await lane.write(
      {
        actions: [
          { kind: 'upsert', table: small, row: [1, 'a', 10] },
          { kind: 'upsert', table: small, row: [2, 'b', 20] },
          { kind: 'upsert', table: small, row: [3, 'c', 30] },
          { kind: 'upsert', table: other, row: [1, 'o', null] },
          ...bulk,
        ],
        checkpoint: 'pos-1',
      },
      never,
    );
    await lane.write(
      {
        actions: [
          { kind: 'delete', table: small, key: [1] },
          { kind: 'delete', table: other, key: [1] },
          { kind: 'delete', table: small, key: [99] },
          ...bulk.map((a): KeyAction => ({ kind: 'delete', table: other, key: [(a as { row: Row }).row[0] as number] })),
          { kind: 'upsert', table: small, row: [2, 'B', undefined] },
          { kind: 'upsert', table: small, row: [3, 'C', 33] },
          { kind: 'upsert', table: small, row: [4, 'd', null] },
        ],
        checkpoint: 'pos-2',
      },
      never,
    );
    assert.deepEqual(await state(), {
      small: [
        { id: 2, v: 'B', w: 20 },
        { id: 3, v: 'C', w: 33 },
        { id: 4, v: 'd', w: null },
      ],
      other: [],
      ck: [{ lane: 1, position: 'pos-2' }],
    });
  } finally {
    await lane.close();
  }
});

test('a failing lane batch (NOT NULL violated) leaves neither data nor checkpoint, and names the table and key', async () => {
  const lane = await sink.openLane(1);
  try {
    const before = await state();
    const actions: KeyAction[] = [
      { kind: 'delete', table: small, key: [2] },
      { kind: 'upsert', table: other, row: [7, 'fine', 7] },
      { kind: 'upsert', table: small, row: [5, 'ok', 5] },
      { kind: 'upsert', table: small, row: [6, null, 6] },
    ];
    await assert.rejects(lane.write({ actions, checkpoint: 'pos-3' }, never), (e) => {
      assert.ok(isFerryError(e, 'FERRY_SINK_WRITE'));
      assert.match(e.message, /sink_it_pg\.small/);
      assert.match(e.message, /key \(6\)/);
      return true;
    });
    assert.deepEqual(await state(), before);
    await lane.write({ actions: [{ kind: 'upsert', table: small, row: [5, 'ok', 5] }], checkpoint: 'pos-4' }, never);
    assert.deepEqual((await state()).ck, [{ lane: 1, position: 'pos-4' }]);
  } finally {
    await lane.close();
  }
});

test('held statements (one message per lane transaction): deletes run before merges, a rejected row in the message rolls back everything and is named by its key', async () => {
  // Tables of their own, large enough for the COPY path, with a UNIQUE column: a value freed by a
  // delete is taken by an upsert of the same transaction, which only works if the held deletes
  // still run before the held merges.
  const uniq = (name: string): TargetTable =>
    target({ schema: 'src', name, columns: [col('id', { kind: 'int', bits: 64, unsigned: false }, 'bigint(20)', false), col('u', utf8(20), 'varchar(20)', false), col('n', { kind: 'int', bits: 32, unsigned: false }, 'int(11)')], primaryKey: [0] });
  const ta = uniq('held_a');
  const tb = uniq('held_b');
  const own = createPostgresSink(sinkConfig('postgres', CK), 'held');
  await own.prepare([ta, tb], never);
  for (const t of [ta, tb]) await admin.query(`ALTER TABLE ${quotePgTable(SCHEMA, t.name)} ADD CONSTRAINT ${quotePgIdent(t.name + '_u')} UNIQUE (u), ADD CONSTRAINT ${quotePgIdent(t.name + '_n')} CHECK (n < 1000000)`);
  const n = COPY_MIN_ROWS + 10;
  const lane = await own.openLane(4);
  const contents = async (t: TargetTable): Promise<string> =>
    JSON.stringify((await admin.query(`SELECT id::int, u, n FROM ${quotePgTable(SCHEMA, t.name)} ORDER BY id`)).rows);
  try {
    const first: KeyAction[] = [ta, tb].flatMap((t) => Array.from({ length: n }, (_, i): KeyAction => ({ kind: 'upsert', table: t, row: [i, `u${i}`, i] })));
    // A position with a quote and a backslash: the checkpoint row travels as literals now.
    const pos1 = 'f\\x\'1:4';
    await lane.write({ actions: first, checkpoint: pos1 }, never);
    assert.deepEqual((await own.readLaneCheckpoints(never)).map((c) => ({ ...c })), [{ lane: 4, position: pos1 }]);
    // Key 0 is deleted and its unique value u0 reused by a new key; the rest are updated.
    const second: KeyAction[] = [ta, tb].flatMap((t) => [
      { kind: 'delete', table: t, key: [0] } as KeyAction,
      ...Array.from({ length: n }, (_, i): KeyAction => ({ kind: 'upsert', table: t, row: i === 0 ? [n + 1000, 'u0', 7] : [i, `u${i}`, i + 1] })),
    ]);
    await lane.write({ actions: second, checkpoint: 'pos-held-2' }, never);
    for (const t of [ta, tb]) {
      const r = (await admin.query(`SELECT id::int AS id, u, n FROM ${quotePgTable(SCHEMA, t.name)} WHERE u = 'u0' OR id IN (0, 1)`)).rows;
      assert.deepEqual(r.sort((x, y) => x.id - y.id), [{ id: 1, u: 'u1', n: 2 }, { id: n + 1000, u: 'u0', n: 7 }], t.name);
    }
    const beforeA = await contents(ta);
    const beforeB = await contents(tb);
    // A row the target's CHECK refuses, in the merge of the second table (held behind the first
    // table's delete and merge): nothing of the transaction stays, the checkpoint does not move,
    // and the error names the table and the key.
    const third: KeyAction[] = [
      { kind: 'delete', table: ta, key: [5] },
      ...Array.from({ length: n }, (_, i): KeyAction => ({ kind: 'upsert', table: ta, row: [i + 1, `u${i + 1}`, 100 + i] })),
      ...Array.from({ length: n }, (_, i): KeyAction => ({ kind: 'upsert', table: tb, row: [i + 1, `u${i + 1}`, i === 7 ? 5_000_000 : 100 + i] })),
    ];
    await assert.rejects(lane.write({ actions: third, checkpoint: 'pos-held-3' }, never), (e) => {
      assert.ok(isFerryError(e, 'FERRY_SINK_WRITE'), String(e));
      assert.match(e.message, /held_b/);
      assert.match(e.message, /key \(8\)/);
      return true;
    });
    assert.equal(await contents(ta), beforeA);
    assert.equal(await contents(tb), beforeB);
    assert.deepEqual((await own.readLaneCheckpoints(never)).map((c) => c.position), ['pos-held-2']);
    // The lane goes on after the failure (its stage tables were emptied by the rollback).
    await lane.write({ actions: third.filter((a) => a.table === ta), checkpoint: 'pos-held-4' }, never);
    assert.equal((await admin.query(`SELECT count(*)::int AS c FROM ${quotePgTable(SCHEMA, ta.name)} WHERE n >= 100`)).rows[0].c, n);
    await own.resetLaneCheckpoints(never);
  } finally {
    await lane.close();
    await own.close();
  }
});

test('pgTextLiteral reads back exactly with standard_conforming_strings on and off', async () => {
  const values = ['plain', "o'neil", 'back\\slash', "\\'", '{"file":"a\\\\b","pos":4}', 'ünï 😀', ''];
  for (const setting of ['on', 'off']) {
    await admin.query(`SET standard_conforming_strings = ${setting}`);
    try {
      for (const v of values) {
        const r = await admin.query(`SELECT ${pgTextLiteral(v)} AS v`);
        assert.equal(r.rows[0].v, v, `${setting}: ${v}`);
      }
    } finally {
      await admin.query('SET standard_conforming_strings = on');
    }
  }
  assert.throws(() => pgTextLiteral('a\u0000b'), (e) => isFerryError(e, 'FERRY_SINK_WRITE'));
});

test('deletes by one-column integer keys (array path) hit exactly their rows, at the limits of every integer width', async () => {
  const intKeyed = (name: string, type: { kind: 'int'; bits: 8 | 16 | 24 | 32 | 64; unsigned: boolean }, sourceType: string): TargetTable =>
    target({ schema: 'src', name, columns: [col('id', type, sourceType, false), col('v', utf8(10), 'varchar(10)')], primaryKey: [0] });
  const cases: [TargetTable, Value[]][] = [
    [intKeyed('k_i8', { kind: 'int', bits: 8, unsigned: false }, 'tinyint(4)'), [-128, -1, 0, 127]],
    [intKeyed('k_u32', { kind: 'int', bits: 32, unsigned: true }, 'int(10) unsigned'), [0, 1, 4294967295]],
    [intKeyed('k_i64', { kind: 'int', bits: 64, unsigned: false }, 'bigint(20)'), [-9223372036854775808n, -5, 9007199254740993n, 9223372036854775807n]],
    [intKeyed('k_u64', { kind: 'int', bits: 64, unsigned: true }, 'bigint(20) unsigned'), [0, 18446744073709551615n, 12345]],
  ];
  // A pipeline of its own: its checkpoint rows are not the ones the lane checkpoint test counts.
  const own = createPostgresSink(sinkConfig('postgres', CK), 'int-keys');
  await own.prepare(cases.map(([t]) => t), never);
  const lane = await own.openLane(5);
  try {
    await lane.write({ actions: cases.flatMap(([t, ids]) => ids.map((id): KeyAction => ({ kind: 'upsert', table: t, row: [id, 'x'] }))), checkpoint: 'del-1' }, never);
    // Every other key deleted (the first and the third ...), plus a key that is not there.
    const deletes = cases.flatMap(([t, ids]) => [...ids.filter((_, i) => i % 2 === 0), 99].map((id): KeyAction => ({ kind: 'delete', table: t, key: [id] })));
    await lane.write({ actions: deletes, checkpoint: 'del-2' }, never);
    await own.resetLaneCheckpoints(never);
  } finally {
    await lane.close();
    await own.close();
  }
  for (const [t, ids] of cases) {
    const r = await admin.query<{ id: string }>(`SELECT id::text AS id FROM ${quotePgTable(SCHEMA, t.name)} ORDER BY id`);
    assert.deepEqual(
      r.rows.map((x) => x.id),
      ids.filter((_, i) => i % 2 === 1).map(String).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)),
      t.name,
    );
  }
});

test('lane checkpoints: one row per lane, reset removes only this pipeline', async () => {
  const l2 = await sink.openLane(2);
  await l2.write({ actions: [], checkpoint: 'lane2-pos' }, never);
  await l2.close();
  const otherSink = createPostgresSink(sinkConfig('postgres', CK), 'another');
  try {
    const l = await otherSink.openLane(1);
    await l.write({ actions: [], checkpoint: 'x' }, never);
    await l.close();
    assert.deepEqual(await sink.readLaneCheckpoints(never), [
      { lane: 1, position: 'pos-4' },
      { lane: 2, position: 'lane2-pos' },
    ]);
    await sink.resetLaneCheckpoints(never);
    assert.deepEqual(await sink.readLaneCheckpoints(never), []);
    assert.deepEqual(await otherSink.readLaneCheckpoints(never), [{ lane: 1, position: 'x' }]);
  } finally {
    await otherSink.close();
  }
});

test('readLaneCheckpoints returns [] when the checkpoint table does not exist', async () => {
  const s = createPostgresSink(sinkConfig('postgres', 'sink_it_pg_absent'), PIPELINE);
  try {
    assert.deepEqual(await s.readLaneCheckpoints(never), []);
    await s.resetLaneCheckpoints(never);
  } finally {
    await s.close();
  }
});

test('zero dates (default policy null): NULL, NOT NULL date columns created nullable, counted; U+0000 stripped and counted', async () => {
  const z = target({
    schema: 'src',
    name: 'lossy',
    columns: [
      col('id', { kind: 'int', bits: 32, unsigned: false }, 'int(11)', false),
      col('d_null', { kind: 'date' }, 'date', true),
      col('d_nn', { kind: 'date' }, 'date', false),
      col('dt_nn', { kind: 'datetime', fsp: 0 }, 'datetime', false),
      col('ts_nn', { kind: 'timestamp', fsp: 0 }, 'timestamp', false),
      col('s', utf8(20), 'varchar(20)'),
      col('j', { kind: 'json' }, 'json'),
    ],
    primaryKey: [0],
  });
  await sink.prepare([z], never);
  const before = sink.lossStats();
  await sink.writeSnapshotRows(
    z,
    [
      [1, '0000-00-00', '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', 'a\u0000b\u0000', '{"k": "x\\u0000y", "e": "\\\\u0000"}'],
      [2, '2020-01-00', '2020-00-05', '2020-05-00 10:00:00', '2021-01-01 00:00:00', 'plain', '{}'],
    ],
    never,
  );
  assert.deepEqual(await rows(`SELECT id, d_null::text, d_nn::text, dt_nn::text, ts_nn::text, s, j::text FROM ${SCHEMA}.lossy ORDER BY id`), [
    { id: 1, d_null: null, d_nn: null, dt_nn: null, ts_nn: null, s: 'ab', j: '{"e": "\\\\u0000", "k": "xy"}' },
    { id: 2, d_null: null, d_nn: null, dt_nn: null, ts_nn: '2021-01-01 00:00:00+00', s: 'plain', j: '{}' },
  ]);
  const after = sink.lossStats();
  assert.equal(after.zeroDatesReplaced - before.zeroDatesReplaced, 7);
  assert.equal(after.nulCharsStripped - before.nulCharsStripped, 3);
});

test('lossy cases through COPY + merge (binary stage tables): the rows and counts of the INSERT path', async () => {
  const z = target({
    schema: 'src',
    name: 'lossy_copy',
    columns: [
      col('id', { kind: 'int', bits: 32, unsigned: false }, 'int(11)', false),
      col('d_null', { kind: 'date' }, 'date', true),
      col('ts_nn', { kind: 'timestamp', fsp: 0 }, 'timestamp', false),
      col('s', utf8(20), 'varchar(20)'),
      col('j', { kind: 'json' }, 'json'),
    ],
    primaryKey: [0],
  });
  await sink.prepare([z], never);
  const n = COPY_MIN_ROWS + 10;
  const actions: KeyAction[] = [];
  for (let i = 0; i < n; i++) {
    const row: Row = i % 2 === 0 ? [i, '0000-00-00', '0000-00-00 00:00:00', 'a\u0000b', '{"k": "x\\u0000y"}'] : [i, '2024-02-29', '2021-01-01 00:00:00', 'plain', '{}'];
    actions.push({ kind: 'upsert', table: z, row });
  }
  const before = sink.lossStats();
  const lane = await sink.openLane(0);
  try {
    await lane.write({ actions, checkpoint: 'lossy-copy' }, never);
  } finally {
    await lane.close();
  }
  assert.deepEqual(await rows(`SELECT id, d_null::text, ts_nn::text, s, j::text FROM ${SCHEMA}.lossy_copy WHERE id < 2 ORDER BY id`), [
    { id: 0, d_null: null, ts_nn: null, s: 'ab', j: '{"k": "xy"}' },
    { id: 1, d_null: '2024-02-29', ts_nn: '2021-01-01 00:00:00+00', s: 'plain', j: '{}' },
  ]);
  const after = sink.lossStats();
  assert.equal(after.zeroDatesReplaced - before.zeroDatesReplaced, n);
  assert.equal(after.nulCharsStripped - before.nulCharsStripped, n);
  const [c] = await rows(`SELECT count(*)::int AS n, count(*) FILTER (WHERE s = 'ab')::int AS ab FROM ${SCHEMA}.lossy_copy`);
  assert.deepEqual(c, { n, ab: n / 2 });
});

test('a target table made by hand with other column types: COPY + merge writes it in text, which the server converts', async () => {
  // Ferry would make id integer and w integer; binary int4 fields would not read as bigint.
  await admin.query(`CREATE TABLE ${SCHEMA}.by_hand (id bigint PRIMARY KEY, v text, w numeric)`);
  const t = target({ ...small.source, name: 'by_hand' });
  await sink.prepare([t], never);
  const n = COPY_MIN_ROWS + 10;
  const lane = await sink.openLane(0);
  try {
    for (const round of [0, 1]) {
      const actions: KeyAction[] = [];
      for (let i = 0; i < n; i++) actions.push({ kind: 'upsert', table: t, row: [i, `r${round}`, i * 10 + round] });
      await lane.write({ actions, checkpoint: `by-hand-${round}` }, never);
    }
  } finally {
    await lane.close();
  }
  const [c] = await rows(`SELECT count(*)::int AS n, sum(w)::text AS s, min(v) AS v FROM ${SCHEMA}.by_hand`);
  assert.deepEqual(c, { n, s: String(((n - 1) * n) / 2 * 10 + n), v: 'r1' });
});

test('a target column changed by hand while lanes write: stages made before and after the change both land', async () => {
  const t = target({ ...small.source, name: 'changed_by_hand' });
  await sink.prepare([t], never);
  const n = COPY_MIN_ROWS + 10;
  const batch = (round: number): KeyAction[] => Array.from({ length: n }, (_, i): KeyAction => ({ kind: 'upsert', table: t, row: [i, `r${round}`, i * 10 + round] }));
  const first = await sink.openLane(0);
  try {
    await first.write({ actions: batch(0), checkpoint: 'changed-0' }, never);
    // w integer → bigint: the first lane's stage keeps int4 (binary fits it, the merge converts);
    // a stage made now is int8 and takes text.
    await admin.query(`ALTER TABLE ${SCHEMA}.changed_by_hand ALTER COLUMN w TYPE bigint`);
    await first.write({ actions: batch(1), checkpoint: 'changed-1' }, never);
    const second = await sink.openLane(1);
    try {
      await Promise.all([second.write({ actions: batch(2), checkpoint: 'changed-2' }, never), first.write({ actions: batch(3), checkpoint: 'changed-3' }, never)]);
    } finally {
      await second.close();
    }
  } finally {
    await first.close();
  }
  const [c] = await rows(`SELECT count(*)::int AS n, count(DISTINCT v)::int AS v FROM ${SCHEMA}.changed_by_hand`);
  assert.equal(c?.n, n);
  assert.equal(c?.v, 1, 'every row from one of the last two writes');
});

test('a value the stage refuses in a binary COPY (too long for its varchar): the lane write fails naming the key, nothing lands', async () => {
  const t = target({ ...small.source, name: 'too_long' });
  await sink.prepare([t], never);
  const n = COPY_MIN_ROWS + 10;
  const actions = Array.from({ length: n }, (_, i): KeyAction => ({ kind: 'upsert', table: t, row: [i, i === 123 ? 'x'.repeat(21) : `v${i}`, i] }));
  const lane = await sink.openLane(2);
  try {
    await assert.rejects(lane.write({ actions, checkpoint: 'too-long' }, never), (e) => {
      assert.ok(isFerryError(e, 'FERRY_SINK_WRITE'), String(e));
      assert.match(e.message, /too_long/);
      assert.match(e.message, /key \(123\)/);
      return true;
    });
    // The lane goes on: the next write lands.
    await lane.write({ actions: actions.map((a, i) => (i === 123 ? { kind: 'upsert', table: t, row: [123, 'fixed', 123] } : a)), checkpoint: 'too-long-2' }, never);
  } finally {
    await lane.close();
  }
  const [c] = await rows(`SELECT count(*)::int AS n FROM ${SCHEMA}.too_long`);
  assert.equal(c?.n, n);
});

test('hostile identifiers end to end (schema, table, columns)', async () => {
  const names = ['a"b', "o'neil", 'say `hi`', 'd.o.t', '100%', 'ünïcødé 😀', 'select', '-- x', 'back\\slash', 'Mixed'];
  const source: TableSchema = {
    schema: 'src',
    name: 'x',
    columns: names.map((n, i) => col(n, i === 0 ? { kind: 'int', bits: 32, unsigned: false } : utf8(40), i === 0 ? 'int(11)' : 'varchar(40)', i !== 0)),
    primaryKey: [0, 1],
  };
  const t: TargetTable = { schema: HOSTILE_SCHEMA, name: 't"a\'b`c.d; DROP TABLE x', source };
  await sink.prepare([t], never);
  const row: Row = [1, ...names.slice(1).map((n) => `${n} ' \\ \` " \t\n`)];
  const bulk: Row[] = [row];
  for (let i = 10; i < 10 + COPY_MIN_ROWS; i++) bulk.push([i, 'k', ...names.slice(2).map(() => "'; --\\N")]);
  await sink.writeSnapshotRows(t, bulk, never);
  const lane = await sink.openLane(3);
  await lane.write({ actions: [{ kind: 'upsert', table: t, row: [2, 'k', ...names.slice(2).map(() => "'; --")] }, { kind: 'delete', table: t, key: [9, 'z'] }], checkpoint: 'h' }, never);
  await lane.close();
  const got = await rows(`SELECT * FROM ${quotePgTable(t.schema, t.name)} ORDER BY ${quotePgIdent('a"b')}`);
  assert.equal(got.length, 2 + COPY_MIN_ROWS);
  assert.deepEqual(Object.keys(got[0] ?? {}), names);
  assert.deepEqual(Object.values(got[0] ?? {}), row);
  assert.deepEqual(Object.values(got[2] ?? {}).slice(2), names.slice(2).map(() => "'; --\\N"));
  const add = { kind: 'add-column' as const, table: { ...source, columns: [...source.columns, col('new"col', { kind: 'int', bits: 64, unsigned: true }, 'bigint unsigned')] }, columns: ['new"col'], ddl: '' };
  await sink.applySchemaChange(add, t, never);
  await sink.applySchemaChange(add, t, never);
  assert.deepEqual(
    await rows(`SELECT data_type, numeric_precision FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = 'new"col'`, [t.schema, t.name]),
    [{ data_type: 'numeric', numeric_precision: 20 }],
  );
  await sink.applySchemaChange({ kind: 'truncate-table', table: source, ddl: '' }, t, never);
  assert.equal((await rows(`SELECT * FROM ${quotePgTable(t.schema, t.name)}`)).length, 0);
});

test('identifiers over 63 bytes are refused before PostgreSQL can truncate them into a collision', async () => {
  const long = 'c'.repeat(60) + '_a_long';
  const t = target({ ...small.source, name: long });
  await assert.rejects(sink.prepare([t], never), (e) => isFerryError(e, 'FERRY_SINK_WRITE') && /63/.test(e.message));
  const [r] = await rows(`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'ccccc%'`);
  assert.equal(r?.n, 0);
});

test('unsupported schema changes are refused with FERRY_DDL_UNSUPPORTED', async () => {
  await assert.rejects(
    sink.applySchemaChange({ kind: 'alter-table', table: small.source, ddl: 'ALTER TABLE small DROP COLUMN w' }, small, never),
    (e) => isFerryError(e, 'FERRY_DDL_UNSUPPORTED') && e.fix !== undefined,
  );
});

test('a wrong password fails with FERRY_SINK_UNREACHABLE and never shows the password', async () => {
  const s = createPostgresSink({ ...sinkConfig('postgres', CK), password: new Secret('s3cr3t-Pw') }, PIPELINE);
  try {
    await assert.rejects(s.readLaneCheckpoints(never), (e) => {
      assert.ok(isFerryError(e, 'FERRY_SINK_UNREACHABLE'));
      assert.doesNotMatch(e.message + (e.fix ?? ''), /s3cr3t-Pw/);
      return true;
    });
  } finally {
    await s.close();
  }
});

test('an aborted signal stops a lane write with FERRY_ABORTED and writes nothing', async () => {
  const lane = await sink.openLane(9);
  try {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(lane.write({ actions: [{ kind: 'upsert', table: small, row: [77, 'x', 1] }], checkpoint: 'abort' }, ac.signal), (e) => isFerryError(e, 'FERRY_ABORTED'));
    assert.equal((await sink.readLaneCheckpoints(never)).find((c) => c.lane === 9), undefined);
  } finally {
    await lane.close();
  }
});

test('a stop in the middle of a lane transaction (COPYs already written ahead): FERRY_ABORTED, nothing lands, the lane writes again at once', { timeout: 60_000 }, async () => {
  // A signal that reads as aborted from its k-th check on: for every k, the stop falls at
  // another point of the transaction, after some COPYs were written without their answers.
  const n = COPY_MIN_ROWS + 10;
  const batch = (base: number): { actions: KeyAction[]; checkpoint: string } => ({
    actions: [small, other].flatMap((t) => Array.from({ length: n }, (_, i) => ({ kind: 'upsert' as const, table: t, row: [base + i, 'mid', i] }))),
    checkpoint: `mid-${base}`,
  });
  const lane = await sink.openLane(11);
  try {
    let stoppedMidway = 0;
    for (let k = 1; k <= 12; k++) {
      const ac = new AbortController();
      let checks = 0;
      const signal = new Proxy(ac.signal, {
        get(t, p) {
          if (p === 'aborted') return ++checks >= k;
          const v: unknown = Reflect.get(t, p, t);
          return typeof v === 'function' ? v.bind(t) : v;
        },
      });
      const base = 900_000 + k * 1000;
      const ok = await lane.write(batch(base), signal).then(
        () => true,
        (e: unknown) => {
          assert.ok(isFerryError(e, 'FERRY_ABORTED'), String(e));
          return false;
        },
      );
      const landed = await rows(`SELECT count(*)::int AS n FROM ${quotePgIdent(SCHEMA)}.small WHERE id >= $1 AND id < $2`, [base, base + 1000]);
      assert.equal(landed[0]?.n, ok ? n : 0, `k=${k}`);
      if (!ok && checks > 2) stoppedMidway++;
      // The connection is free again: a write right after succeeds (a run left open would hold
      // the connection until the query timeout, and this test would hit its own timeout).
      await lane.write(batch(base + 500), never);
    }
    assert.ok(stoppedMidway > 0, 'no stop fell inside a transaction');
  } finally {
    await lane.close();
  }
});

test('a pooled write that stops getting answers (target locked past the query timeout), or whose connection the server ends, fails as a lost connection without ending the process; the next write goes through', { timeout: 60_000 }, async () => {
  const saved = process.env.FERRY_SINK_QUERY_TIMEOUT_MS;
  process.env.FERRY_SINK_QUERY_TIMEOUT_MS = '500';
  const quick = createPostgresSink(sinkConfig('postgres', CK), PIPELINE);
  if (saved === undefined) delete process.env.FERRY_SINK_QUERY_TIMEOUT_MS;
  else process.env.FERRY_SINK_QUERY_TIMEOUT_MS = saved;
  const locker = new pg.Client(pgOptions);
  await locker.connect();
  try {
    await quick.prepare([small], never);
    const n = COPY_MIN_ROWS + 5;
    const batch = (v: string): Row[] => Array.from({ length: n }, (_, i) => [800_000 + i, v, i]);
    // Keys already there: the snapshot write takes the COPY + merge path (a WireRun), not the direct COPY.
    await quick.writeSnapshotRows(small, batch('one'), never);
    // SHARE mode lets the key-range probe and the stage read the table, and blocks the merge.
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE ${quotePgIdent(SCHEMA)}.small IN SHARE MODE`);
    await assert.rejects(quick.writeSnapshotRows(small, batch('two'), never), (e) => isFerryError(e) && /answered nothing for 500 ms/.test(String((e as Error).message) + String((e as { cause?: unknown }).cause)));
    await locker.query('ROLLBACK');
    // The server ends the connection of a pooled write (an admin, a restart): the checked-out
    // client's 'error' event must not end the process; the write fails as a lost connection.
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE ${quotePgIdent(SCHEMA)}.small IN SHARE MODE`);
    const blocked = quick.writeSnapshotRows(small, batch('four'), never).then(
      () => null,
      (e: unknown) => e,
    );
    let pid: number | undefined;
    for (let i = 0; i < 100 && pid === undefined; i++) {
      const w = await rows(`SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'ferry:%' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`);
      pid = w[0]?.pid as number | undefined;
      if (pid === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(pid !== undefined, 'the write never waited on the lock');
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    const err = await blocked;
    assert.ok(isFerryError(err), String(err));
    await locker.query('ROLLBACK');
    await quick.writeSnapshotRows(small, batch('three'), never);
    const r = await rows(`SELECT count(*)::int AS n, min(v) AS v FROM ${quotePgIdent(SCHEMA)}.small WHERE id >= 800000 AND id < 801000`);
    assert.deepEqual(r[0], { n, v: 'three' });
  } finally {
    await locker.end().catch(() => undefined);
    await quick.close();
  }
});
