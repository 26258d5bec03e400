/**
 * `findPositionAtTime` against the running MariaDB: the position it finds for a time must be a
 * real transaction boundary from which a dump streams exactly the transactions committed from
 * that second on, with the GTID state the server itself reports for that position
 * (`BINLOG_GTID_POS(file, pos)` is the oracle). The writes span several binlog files
 * (FLUSH BINARY LOGS only rotates; the server is shared, so nothing is purged or reset).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { isFerryError } from '../../src/core/errors.js';
import { openBinlogStream, readServerPosition } from '../../src/connectors/mysql/binlog/reader.js';
import type { BinlogEvent } from '../../src/connectors/mysql/binlog/types.js';
import { findPositionAtTime, readFileStartTime } from '../../src/connectors/mysql/position-at-time.js';
import { binlogPositionCodec, type BinlogPosition } from '../../src/connectors/mysql/position.js';
import { createMySqlSource } from '../../src/connectors/mysql/source.js';
import { HOST, MYSQL_PORT, mysqlOptions, PASSWORD, USER } from '../helpers/env.js';
import { sourceConfig } from '../helpers/source-setup.js';

const DB = `pat_${process.pid}`;
const conn = { host: HOST, port: MYSQL_PORT, user: USER, password: PASSWORD };
const serverId = (): number => 10000 + Math.floor(Math.random() * 50000);
const signal = new AbortController().signal;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let admin: Connection;

async function one<T>(sql: string, values: unknown[] = []): Promise<T> {
  const [rows] = await admin.query<RowDataPacket[]>({ sql, values, rowsAsArray: true });
  return (rows as unknown as unknown[][])[0]?.[0] as T;
}

/** Server clock in ms (binlog timestamps come from it). */
const serverNowMs = async (): Promise<number> => Number(await one<string>('SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000 AS UNSIGNED)'));

/** The GTID state the server computes for a binlog position, normalised like Ferry's (sorted by domain). */
async function oracleGtid(p: { file: string; pos: number }): Promise<string> {
  const text = String((await one<string | null>('SELECT BINLOG_GTID_POS(?, ?)', [p.file, p.pos])) ?? '');
  return text
    .split(',')
    .filter(Boolean)
    .sort((a, b) => Number(a.split('-')[0]) - Number(b.split('-')[0]))
    .join(',');
}

/** Everything a non-blocking dump from `start` yields up to the current end of the binlog. */
async function dumpToEnd(start: { file: string; pos: number } | { gtid: string }): Promise<BinlogEvent[]> {
  const stream = openBinlogStream({ connection: conn, serverId: serverId(), start, heartbeatIntervalMs: 0, nonBlocking: true, signal });
  const out: BinlogEvent[] = [];
  for await (const batch of stream) out.push(...batch);
  return out;
}

/** What the dump shows of our database: inserted/updated ids of `t`, and DDL statements. */
function ourChanges(events: BinlogEvent[]): string[] {
  const out: string[] = [];
  for (const ev of events) {
    if (ev.type === 'rows' && ev.table.schema === DB) {
      const { before, after } = ev.decodeRows();
      for (const r of after ?? before ?? []) out.push(`${ev.kind}:${String(r[0])}`);
    } else if (ev.type === 'query' && ev.sql.includes(DB) && /^\s*(CREATE|ALTER|DROP)/i.test(ev.sql)) {
      out.push(`ddl:${ev.sql.split(/\s+/).slice(0, 2).join(' ')}`);
    }
  }
  return out;
}

const lastGtid = async (): Promise<string> => String(await one<string>('SELECT @@last_gtid'));
const seqOf = (gtid: string, domain: number): bigint => {
  const g = gtid.split(',').find((x) => x.startsWith(`${domain}-`));
  return g ? BigInt(g.split('-')[2] ?? '0') : -1n;
};

let T = 0;
let earlyLastGtid = '';
let lateFirstGtid = '';
let afterAllMs = 0;
let endOfOurWrites: BinlogPosition;

describe('findPositionAtTime (MariaDB)', () => {
  before(async () => {
    admin = await createConnection({ ...mysqlOptions, user: 'root', password: '' });
    await admin.query(`DROP DATABASE IF EXISTS \`${DB}\``);
    await admin.query(`CREATE DATABASE \`${DB}\``);
    await admin.query(`CREATE TABLE \`${DB}\`.t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB`);
    // Before T: two transactions in two files.
    await admin.query(`INSERT INTO \`${DB}\`.t VALUES (1, 'early')`);
    await admin.query('FLUSH BINARY LOGS');
    await admin.query(`INSERT INTO \`${DB}\`.t VALUES (2, 'early')`);
    earlyLastGtid = await lastGtid();
    // Binlog timestamps are whole seconds: T must fall in a later second than the early commits.
    await sleep(1100);
    T = await serverNowMs();
    await admin.query('FLUSH BINARY LOGS');
    // From T on: a single-row transaction, a multi-row one, DDL, and one more file.
    await admin.query(`INSERT INTO \`${DB}\`.t VALUES (3, 'late')`);
    lateFirstGtid = await lastGtid();
    await admin.query('BEGIN');
    await admin.query(`INSERT INTO \`${DB}\`.t VALUES (4, 'late'), (5, 'late'), (6, 'late')`);
    await admin.query(`UPDATE \`${DB}\`.t SET v = 'changed' WHERE id = 1`);
    await admin.query('COMMIT');
    await admin.query(`ALTER TABLE \`${DB}\`.t ADD COLUMN w INT`);
    await admin.query('FLUSH BINARY LOGS');
    await admin.query(`INSERT INTO \`${DB}\`.t VALUES (7, 'late', 7)`);
    endOfOurWrites = await readServerPosition(conn);
    await sleep(1100);
    afterAllMs = await serverNowMs();
  });

  after(async () => {
    await admin?.query(`DROP DATABASE IF EXISTS \`${DB}\``);
    await admin?.end();
  });

  it('streams from the found boundary exactly the transactions committed from T on', async () => {
    const p = await findPositionAtTime(conn, serverId(), T, signal);
    const events = await dumpToEnd(p);
    assert.deepEqual(ourChanges(events), ['insert:3', 'insert:4', 'insert:5', 'insert:6', 'update:1', 'ddl:ALTER TABLE', 'insert:7']);
    // A real boundary: the first event group of the dump starts with its GTID event.
    const firstGroupEvent = events.find((e) => !e.artificial && !['format-description', 'mariadb-gtid-list', 'other', 'rotate'].includes(e.type));
    assert.equal(firstGroupEvent?.type, 'mariadb-gtid');
    // The earlier transactions are behind it, the first later one after it (spans a rotation).
    const [first] = (await admin.query<RowDataPacket[]>('SHOW BINARY LOGS'))[0];
    assert.ok(first);
    assert.ok(binlogPositionCodec.compare(p, { file: String(first.Log_name), pos: 4, gtid: '' }) > 0);
  });

  it('returns the GTID state the server reports for that position', async () => {
    const p = await findPositionAtTime(conn, serverId(), T, signal);
    assert.equal(p.gtid, await oracleGtid(p));
    const domain = Number(earlyLastGtid.split('-')[0]);
    assert.ok(seqOf(p.gtid, domain) >= seqOf(earlyLastGtid, domain), `${p.gtid} includes ${earlyLastGtid}`);
    assert.ok(seqOf(p.gtid, domain) < seqOf(lateFirstGtid, domain), `${p.gtid} excludes ${lateFirstGtid}`);
    // Starting by that GTID state streams the same transactions.
    assert.deepEqual(ourChanges(await dumpToEnd({ gtid: p.gtid })), ['insert:3', 'insert:4', 'insert:5', 'insert:6', 'update:1', 'ddl:ALTER TABLE', 'insert:7']);
  });

  it('includes the whole second of T (binlog timestamps have 1 s resolution)', async () => {
    const second = Math.floor(T / 1000) * 1000;
    const atStart = await findPositionAtTime(conn, serverId(), second, signal);
    const atEnd = await findPositionAtTime(conn, serverId(), second + 999, signal);
    assert.deepEqual(atEnd, atStart);
  });

  it('a time before every binlog file gives the start of the oldest file', async () => {
    const p = await findPositionAtTime(conn, serverId(), 0, signal);
    const [rows] = await admin.query<RowDataPacket[]>('SHOW BINARY LOGS');
    const oldest = String(rows[0]?.Log_name);
    assert.equal(p.file, oldest);
    assert.equal(p.pos, 4);
    assert.equal(p.gtid, await oracleGtid(p));
    assert.ok((await readFileStartTime({ connection: conn, serverId: serverId(), signal }, oldest)) > 0);
  });

  it('a time after the last transaction (scanning to the end of the binlog) gives the current end', async () => {
    // Others may write to the shared server meanwhile: the end is somewhere between our last
    // commit and the end read afterwards (the two are equal on a quiet server).
    const p = await findPositionAtTime(conn, serverId(), afterAllMs, signal);
    const afterPos = await readServerPosition(conn);
    assert.ok(binlogPositionCodec.compare(p, endOfOurWrites) >= 0, `${binlogPositionCodec.format(p)} >= ${binlogPositionCodec.format(endOfOurWrites)}`);
    assert.ok(binlogPositionCodec.compare(p, afterPos) <= 0);
    assert.equal(p.gtid, await oracleGtid(p));
    assert.deepEqual(ourChanges(await dumpToEnd(p)), []);
  });

  it('a time in the future gives the current end', async () => {
    const before: BinlogPosition = await readServerPosition(conn);
    const p = await findPositionAtTime(conn, serverId(), Date.now() + 3_600_000, signal);
    const afterPos = await readServerPosition(conn);
    assert.ok(binlogPositionCodec.compare(p, before) >= 0);
    assert.ok(binlogPositionCodec.compare(p, afterPos) <= 0);
    assert.equal(p.gtid, await oracleGtid(p));
  });

  it('a binlog file the server does not have is FERRY_HISTORY_LOST', async () => {
    const [rows] = await admin.query<RowDataPacket[]>('SHOW BINARY LOGS');
    const base = String(rows[0]?.Log_name).replace(/\.\d+$/, '');
    await assert.rejects(readFileStartTime({ connection: conn, serverId: serverId(), signal }, `${base}.999999`), (e) => isFerryError(e, 'FERRY_HISTORY_LOST'));
  });

  it('an aborted signal is FERRY_ABORTED', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(findPositionAtTime(conn, serverId(), T, ac.signal), (e) => isFerryError(e, 'FERRY_ABORTED'));
  });

  it('the MySQL source positionAtTime uses it', async () => {
    const config = sourceConfig(`${DB}\\..*`, {
      serverId: serverId(),
      startup: { mode: 'timestamp', specificOffset: { file: null, pos: null, gtidSet: null }, timestampMillis: T },
    });
    const source = createMySqlSource(config);
    try {
      const p = await source.positionAtTime(T, signal);
      assert.deepEqual(p, await findPositionAtTime(conn, serverId(), T, signal));
    } finally {
      await source.close();
    }
  });
});
