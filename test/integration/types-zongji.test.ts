/**
 * Differential test: Ferry's binlog decoder and `@vlasky/zongji` read the same binlog range (the
 * whole type catalogue inserted, updated and deleted) and their row images are compared value by
 * value. Every difference must be one listed in ZONGJI_DEFECTS, each explained in
 * src/connectors/mysql/TYPES.md ("Differential test against zongji"); Ferry's side of each is
 * the exact value (types-catalogue.test.ts proves it against the server).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import ZongJi from '@vlasky/zongji';
import { openBinlogStream, readServerPosition } from '../../src/connectors/mysql/binlog/reader.js';
import type { BinlogEvent } from '../../src/connectors/mysql/binlog/types.js';
import { readTableSchemas } from '../../src/connectors/mysql/schema-reader.js';
import type { Row } from '../../src/core/change.js';
import type { TableSchema } from '../../src/core/schema.js';
import { HOST, MYSQL_PORT, PASSWORD, USER, mysqlOptions } from '../helpers/env.js';
import { CATALOGUE, WRITER_TIME_ZONE, createTableSql, insertSql, updateSql } from './type-catalogue.js';

const db = `types_z_${process.pid}`;
const conn = { host: HOST, port: MYSQL_PORT, user: USER, password: PASSWORD };

/**
 * Columns where zongji's value differs from the exact one, and why (TYPES.md explains each).
 * Keyed `table.column`.
 */
const ENUM_LABELS =
  "zongji splits ENUM labels of COLUMN_TYPE on every comma (the label 'b,c' becomes two), so every later label is shifted; it also loses the columns after such an ENUM (under binlog_row_metadata=NO_LOG)";
const GEOMETRY = 'zongji parses GEOMETRY into {x, y} objects and drops the SRID; Ferry keeps the exact bytes (4-byte SRID + WKB)';
export const ZONGJI_DEFECTS: Record<string, string> = {
  't_time.yr': 'zongji decodes the zero YEAR (byte 0) as 1900; MySQL prints it as 0000',
  't_enum.e': ENUM_LABELS,
  't_enum.e2': ENUM_LABELS,
  't_enum.e300': ENUM_LABELS,
  't_geo.g': GEOMETRY,
  't_geo.p': GEOMETRY,
  't_geo.l': GEOMETRY,
  't_geo.pg': GEOMETRY,
  't_geo.mp': GEOMETRY,
  't_geo.gc': GEOMETRY,
};

interface Image {
  table: string;
  /** `insert`/`delete`/`update-before`/`update-after`, then the row's index within the run. */
  where: string;
  values: Record<string, string>;
}

/** One text form for any value either decoder produces. */
function canon(v: unknown): string {
  if (v === undefined) return '<absent>';
  if (v === null) return 'NULL';
  if (Buffer.isBuffer(v)) return `x${v.toString('hex')}`;
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return `Date(${Number.isNaN(v.getTime()) ? 'invalid' : v.toISOString()})`;
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (typeof v === 'object') return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  return String(v);
}

async function ferryImages(schemas: TableSchema[], from: { file: string; pos: number }, end: { file: string; pos: number }): Promise<Image[]> {
  const byName = new Map(schemas.map((t) => [t.name, t]));
  const stream = openBinlogStream({ connection: conn, serverId: 20000 + (process.pid % 10000), start: from, heartbeatIntervalMs: 0 });
  const out: Image[] = [];
  const push = (table: TableSchema, where: string, row: Row): void => {
    const values: Record<string, string> = {};
    table.columns.forEach((c, i) => (values[c.name] = canon(row[i])));
    out.push({ table: table.name, where, values });
  };
  try {
    for await (const batch of stream) {
      for (const ev of batch as BinlogEvent[]) {
        if (ev.type === 'rows' && ev.table.schema === db) {
          const t = byName.get(ev.table.table);
          if (!t) continue;
          const img = ev.decodeRows(t.columns);
          if (ev.kind === 'update') {
            (img.before ?? []).forEach((r, i) => {
              push(t, 'update-before', r);
              push(t, 'update-after', (img.after ?? [])[i] ?? []);
            });
          } else for (const r of (ev.kind === 'insert' ? img.after : img.before) ?? []) push(t, ev.kind, r);
        }
        if (ev.type !== 'rotate' && ev.type !== 'heartbeat' && ev.file === end.file && ev.nextPos >= end.pos) return out;
      }
    }
  } finally {
    await stream.close();
  }
  return out;
}

async function zongjiImages(from: { file: string; pos: number }, end: { file: string; pos: number }): Promise<Image[]> {
  const out: Image[] = [];
  const z = new ZongJi({ ...conn, dateStrings: true, jsonStrings: true, supportBigNumbers: true, bigNumberStrings: true } as never);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('zongji did not reach the end position in time')), 60_000);
    z.on('error', (e: unknown) => {
      clearTimeout(timer);
      reject(e instanceof Error ? e : new Error(String(e)));
    });
    z.on('binlog', (evt: { getTypeName(): string; tableMap?: Record<number, { parentSchema: string; tableName: string }>; tableId?: number; rows?: unknown[]; nextPosition?: number }) => {
      const type = evt.getTypeName();
      if ((type === 'WriteRows' || type === 'UpdateRows' || type === 'DeleteRows') && evt.tableMap && evt.tableId !== undefined) {
        const tm = evt.tableMap[evt.tableId];
        if (tm && tm.parentSchema === db) {
          for (const r of (evt.rows ?? []) as Record<string, unknown>[]) {
            const toImage = (where: string, row: Record<string, unknown>): Image => ({
              table: tm.tableName,
              where,
              values: Object.fromEntries(Object.entries(row).map(([k, v]) => [k, canon(v)])),
            });
            if (type === 'UpdateRows') {
              const u = r as { before: Record<string, unknown>; after: Record<string, unknown> };
              out.push(toImage('update-before', u.before), toImage('update-after', u.after));
            } else out.push(toImage(type === 'WriteRows' ? 'insert' : 'delete', r));
          }
        }
      }
      const zz = z as unknown as { binlogName?: string; options?: { filename?: string } };
      void zz;
      if (type === 'Xid' && evt.nextPosition !== undefined && evt.nextPosition >= end.pos) {
        clearTimeout(timer);
        resolve();
      }
    });
    z.start({ serverId: 30000 + (process.pid % 10000), filename: from.file, position: from.pos, includeEvents: ['tablemap', 'writerows', 'updaterows', 'deleterows', 'xid'], includeSchema: { [db]: true } });
  });
  await new Promise<void>((resolve) => {
    z.on('stopped', () => resolve());
    z.stop();
    setTimeout(resolve, 2000);
  });
  return out;
}

describe('differential test against @vlasky/zongji', () => {
  let schemas: TableSchema[] = [];
  let from = { file: '', pos: 0 };
  let end = { file: '', pos: 0 };
  before(async () => {
    const c = await mysql.createConnection({ ...mysqlOptions, multipleStatements: false });
    await c.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await c.query(`CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4`);
    for (const t of CATALOGUE) await c.query(createTableSql(db, t));
    schemas = await readTableSchemas(c, [new RegExp(`^${db}\\..*$`)]);
    await c.query(`SET SESSION sql_mode = '', time_zone = '${WRITER_TIME_ZONE}'`);
    const p0 = await readServerPosition(conn);
    from = { file: p0.file, pos: p0.pos };
    for (const t of CATALOGUE) {
      const n = t.rows.length;
      for (let i = 0; i < n; i++) await c.query(insertSql(db, t, i, i + 1));
      for (let i = 0; i < n; i++) await c.query(updateSql(db, t, (i + 1) % n, i + 1));
      await c.query(`DELETE FROM \`${db}\`.\`${t.name}\` WHERE id IN (1, 2)`);
    }
    const p1 = await readServerPosition(conn);
    end = { file: p1.file, pos: p1.pos };
    await c.end();
  });
  after(async () => {
    const c = await mysql.createConnection(mysqlOptions);
    await c.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await c.end();
  });

  test('every difference from zongji is a documented zongji defect', async () => {
    const [mine, theirs] = await Promise.all([ferryImages(schemas, from, end), zongjiImages(from, end)]);
    assert.equal(theirs.length, mine.length, `zongji decoded ${theirs.length} row images, Ferry ${mine.length}`);
    const seen = new Map<string, string>();
    for (let i = 0; i < mine.length; i++) {
      const a = mine[i] as Image;
      const b = theirs[i] as Image;
      assert.equal(b.table, a.table);
      assert.equal(b.where, a.where);
      for (const [col, v] of Object.entries(a.values)) {
        const w = b.values[col] ?? '<absent>';
        if (v !== w && !seen.has(`${a.table}.${col}`)) seen.set(`${a.table}.${col}`, `${a.where}: ferry ${v.slice(0, 80)} / zongji ${w.slice(0, 80)}`);
      }
    }
    const undocumented = [...seen.entries()].filter(([k]) => ZONGJI_DEFECTS[k] === undefined);
    assert.deepEqual(undocumented, [], undocumented.map(([k, v]) => `${k}: ${v}`).join('\n'));
    const vanished = Object.keys(ZONGJI_DEFECTS).filter((k) => !seen.has(k));
    assert.deepEqual(vanished, [], 'documented differences that no longer occur: remove them from ZONGJI_DEFECTS and TYPES.md');
  });
});
