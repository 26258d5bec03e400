/**
 * WireRun (src/connectors/postgres/wire-run.ts) against a real PostgreSQL: messages written
 * without waiting for answers must end exactly as the same statements sent one by one would —
 * the first error is the run's error and names its message, nothing of a failed transaction is
 * committed, and the client is usable afterwards (or, after a connection failure, fails with an
 * error that has no SQLSTATE, which the sink treats as a lost connection).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { WireRun } from '../../src/connectors/postgres/wire-run.js';
import { pgOptions } from '../helpers/env.js';

const SCHEMA = 'wire_run_it';
let admin: pg.Client;

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ ...pgOptions, query_timeout: 20_000 });
  await c.connect();
  return c;
}

/** COPY text of rows `[id, v]`. */
function copyText(rows: [number, string][]): Buffer {
  return Buffer.from(rows.map(([id, v]) => `${id}\t${v}\n`).join(''));
}

async function ids(table: string): Promise<number[]> {
  const r = await admin.query<{ id: number }>(`SELECT id FROM ${SCHEMA}.${table} ORDER BY id`);
  return r.rows.map((x) => x.id);
}

before(async () => {
  admin = new pg.Client(pgOptions);
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin.query(`CREATE SCHEMA ${SCHEMA}`);
  for (const t of ['a', 'b', 'c']) await admin.query(`CREATE TABLE ${SCHEMA}.${t} (id int PRIMARY KEY, v varchar(5) NOT NULL)`);
});

after(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin.end();
});

test('a transaction of statements and COPYs written ahead commits everything, in order', async () => {
  const c = await client();
  try {
    const run = new WireRun(c);
    run.query(`BEGIN; DELETE FROM ${SCHEMA}.a`, 'begin');
    // The data in several pieces, one of them empty (skipped), as the encoders hand them over.
    run.copy(`COPY ${SCHEMA}.a (id, v) FROM STDIN`, [copyText([[1, 'x']]), Buffer.alloc(0), copyText([[2, 'y'], [3, 'z']])], 'a');
    run.copy(`COPY ${SCHEMA}.b (id, v) FROM STDIN`, [copyText([[10, 'q']])], 'b');
    // Depends on the COPY before it: the server runs the messages in the order written.
    run.query(`UPDATE ${SCHEMA}.a SET v = 'u' WHERE id = 2; COMMIT`, 'commit');
    await run.finish();
    assert.equal(run.failedTag, undefined);
    assert.deepEqual(await ids('a'), [1, 2, 3]);
    assert.deepEqual(await ids('b'), [10]);
    assert.equal((await admin.query(`SELECT v FROM ${SCHEMA}.a WHERE id = 2`)).rows[0].v, 'u');
    // The client is pg's again.
    assert.equal((await c.query('SELECT 7 AS n')).rows[0].n, 7);
  } finally {
    await c.end();
  }
});

test('a COPY that fails: the first error names its message, later messages and COMMIT change nothing, the client rolls back and goes on', async () => {
  await admin.query(`TRUNCATE ${SCHEMA}.a, ${SCHEMA}.b, ${SCHEMA}.c`);
  const c = await client();
  try {
    const run = new WireRun(c);
    run.query('BEGIN', null);
    run.copy(`COPY ${SCHEMA}.a (id, v) FROM STDIN`, [copyText([[1, 'ok']])], 'a');
    // 'toolong' does not fit varchar(5): the COPY fails during its data.
    run.copy(`COPY ${SCHEMA}.b (id, v) FROM STDIN`, [copyText([[2, 'ok'], [3, 'toolong']])], 'b');
    run.copy(`COPY ${SCHEMA}.c (id, v) FROM STDIN`, [copyText([[4, 'ok']])], 'c');
    run.query(`INSERT INTO ${SCHEMA}.c VALUES (5, 'ok'); COMMIT`, 'commit');
    const err = await run.finish().then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof pg.DatabaseError, String(err));
    assert.equal(err.code, '22001'); // string_data_right_truncation
    assert.equal(run.failedTag, 'b');
    await c.query('ROLLBACK');
    for (const t of ['a', 'b', 'c']) assert.deepEqual(await ids(t), [], `table ${t}`);
    await c.query(`INSERT INTO ${SCHEMA}.a VALUES (9, 'after')`);
    assert.deepEqual(await ids('a'), [9]);
  } finally {
    await c.end();
  }
});

test('a COPY whose statement fails before its data: the data that follows is dropped by the server, not run', async () => {
  await admin.query(`TRUNCATE ${SCHEMA}.a`);
  const c = await client();
  try {
    const run = new WireRun(c);
    run.query('BEGIN', null);
    // No such table: the server answers the Query with an error, then reads CopyData/CopyDone
    // outside COPY mode (dropped). Were the data read as a query, the next message would fail
    // differently.
    run.copy(`COPY ${SCHEMA}.missing (id, v) FROM STDIN`, [copyText([[1, 'x']])], 'missing');
    run.query('COMMIT', 'commit');
    const err = await run.finish().then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof pg.DatabaseError);
    assert.equal(err.code, '42P01'); // undefined_table
    assert.equal(run.failedTag, 'missing');
    // COMMIT of the aborted transaction rolled it back: the session is idle, not in a transaction.
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    await c.query(`INSERT INTO ${SCHEMA}.a VALUES (1, 'x')`);
    assert.deepEqual(await ids('a'), [1]);
  } finally {
    await c.end();
  }
});

test('finish() after every message was answered, and a run with no message: both end and hand the client back', async () => {
  const c = await client();
  try {
    const run = new WireRun(c);
    run.query('SELECT 1', null);
    await new Promise((r) => setTimeout(r, 100)); // answered by now
    await run.finish();
    const empty = new WireRun(c);
    await empty.finish();
    assert.equal((await c.query('SELECT 2 AS n')).rows[0].n, 2);
  } finally {
    await c.end();
  }
});

test('the connection ends while a run is open: finish() fails with an error without SQLSTATE, nothing is committed', async () => {
  await admin.query(`TRUNCATE ${SCHEMA}.a`);
  const c = await client();
  c.on('error', () => undefined);
  const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
  const run = new WireRun(c);
  run.query('BEGIN', null);
  run.copy(`COPY ${SCHEMA}.a (id, v) FROM STDIN`, [copyText([[1, 'x']])], 'a');
  // Held open by a statement that waits, then the backend is terminated from outside.
  run.query('SELECT pg_sleep(5)', 'sleep');
  await new Promise((r) => setTimeout(r, 200));
  await admin.query('SELECT pg_terminate_backend($1)', [pid]);
  run.query('COMMIT', 'commit');
  const err = await run.finish().then(
    () => null,
    (e: unknown) => e as Error & { code?: string },
  );
  assert.ok(err instanceof Error);
  assert.ok(!(err instanceof pg.DatabaseError) || err.code?.startsWith('57P'), `${err.message} ${err.code}`);
  assert.deepEqual(await ids('a'), []);
  await c.end().catch(() => undefined);
});

test('idle timeout: a run is bounded by the time without answers, not by its length', async () => {
  const c = await client();
  c.on('error', () => undefined);
  try {
    // Four answers 0.4 s apart: 1.6 s in all, never 1 s without an answer.
    const run = new WireRun(c, 1000);
    for (let i = 0; i < 4; i++) run.query('SELECT pg_sleep(0.4)', i);
    await run.finish();
    assert.equal((await c.query('SELECT 3 AS n')).rows[0].n, 3);
  } finally {
    await c.end();
  }
  const d = await client();
  d.on('error', () => undefined);
  const run = new WireRun(d, 300);
  run.query('SELECT pg_sleep(3)', 'sleep');
  const err = await run.finish().then(
    () => null,
    (e: unknown) => e as Error & { code?: string },
  );
  assert.ok(err instanceof Error && !(err instanceof pg.DatabaseError), String(err));
  assert.match(err.message, /answered nothing for 300 ms/);
  assert.equal(err.code, undefined);
  await d.end().catch(() => undefined);
});
