/**
 * Binlog decoding alone, in its own process: reads the binlog range [start, end) of a server and
 * decodes every value of every row, with Ferry's reader (openBinlogStream + decodeRows with the
 * table schemas) or with @vlasky/zongji. Prints one JSON line: { rows, events, seconds, rssKb }.
 * `raw` receives the same range through the same dump command and decodes nothing (rows: 0): the
 * floor set by the server and the socket, which no decoder can beat.
 *
 *   node dist/bench/decode.js ferry|zongji|raw PORT FILE POS END_FILE END_POS
 */
import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import mysqlCallbacks from 'mysql2';
import { BinlogDumpCommand, buildBinlogDump, type Mysql2ConnectionInternals } from '../src/connectors/mysql/binlog/dump-command.js';
import { openBinlogStream } from '../src/connectors/mysql/binlog/reader.js';
import { readTableSchemas } from '../src/connectors/mysql/schema-reader.js';
import type { TableSchema } from '../src/core/schema.js';
import { compareCoord, readPeakRssKb, type BinlogCoord } from './lib.js';

interface DecodeResult {
  rows: number;
  events: number;
  seconds: number;
  rssKb: number;
  checksum: number;
  /** CPU seconds (user + system) of this process over the same interval: less noisy than `seconds` on a shared machine. */
  cpuSeconds: number;
  /** Share of the interval the event loop was busy (not waiting for the socket), Ferry's reader only. */
  busy?: number;
}

function cpuSince(c0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

const conn = { host: '127.0.0.1', user: 'ferry', password: 'ferry' };

async function decodeWithFerry(port: number, start: BinlogCoord, end: BinlogCoord): Promise<DecodeResult> {
  const c = await mysql.createConnection({ ...conn, port });
  const schemas = new Map<string, TableSchema>();
  for (const t of await readTableSchemas(c, [/^(?:bench|benchtx)\..*$/])) schemas.set(`${t.schema}.${t.name}`, t);
  await c.end();
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const stream = openBinlogStream({
    connection: { ...conn, port },
    serverId: 7101,
    start,
    heartbeatIntervalMs: 0,
    nonBlocking: true,
  });
  let rows = 0;
  let events = 0;
  let checksum = 0;
  // The schema per Table_map (the reader reuses the map object while the table's map is unchanged).
  const columnsOf = new WeakMap<object, TableSchema['columns'] | undefined>();
  outer: for await (const batch of stream) {
    for (const ev of batch) {
      events++;
      if (ev.type === 'rows') {
        let columns = columnsOf.get(ev.table);
        if (columns === undefined && !columnsOf.has(ev.table)) {
          columns = schemas.get(`${ev.table.schema}.${ev.table.table}`)?.columns;
          columnsOf.set(ev.table, columns);
        }
        const images = ev.decodeRows(columns);
        const list = images.after ?? images.before ?? [];
        rows += list.length;
        // Touch a value of each row so the work cannot be skipped.
        for (const r of list) checksum = (checksum + (r.length > 0 ? 1 : 0)) | 0;
      }
      // Same file: compare offsets; compareCoord (a regex per call) only when the file changes.
      if (ev.nextPos > 0 && (ev.file === end.file ? ev.nextPos >= end.pos : compareCoord({ file: ev.file, pos: ev.nextPos }, end) >= 0)) break outer;
    }
  }
  await stream.close();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const busy = Math.round(performance.eventLoopUtilization(elu0).utilization * 1000) / 1000;
  return { rows, events, seconds, rssKb: readPeakRssKb(process.pid), checksum, cpuSeconds: cpuSince(c0), busy };
}

/** The dump alone: every event received (end_log_pos read from the header), nothing parsed. */
async function receiveRaw(port: number, start: BinlogCoord, end: BinlogCoord): Promise<DecodeResult> {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const c = mysqlCallbacks.createConnection({ ...conn, port });
  const query = (sql: string): Promise<void> =>
    new Promise((resolve, reject) => {
      c.query(sql, (err) => (err ? reject(err) : resolve()));
    });
  await query('SET @master_binlog_checksum = @@global.binlog_checksum, @mariadb_slave_capability = 4');
  let events = 0;
  let file = start.file;
  await new Promise<void>((resolve, reject) => {
    const cmd = new BinlogDumpCommand(buildBinlogDump({ file: start.file, pos: start.pos, serverId: 7103, flags: 1 }), {
      onEvent: (buf, s) => {
        events++;
        const code = buf[s + 4];
        const logPos = buf.readUInt32LE(s + 13);
        if (code === 4) file = buf.toString('utf8', s + 19 + 8, buf.readUInt32LE(s + 9) + s - 4);
        if (logPos > 0 && (file === end.file ? logPos >= end.pos : compareCoord({ file, pos: logPos }, end) >= 0)) resolve();
      },
      onEof: () => resolve(),
      onServerError: (e) => reject(new Error(e.message)),
      onConnectionError: (e) => reject(e),
    });
    (c as unknown as Mysql2ConnectionInternals).addCommand(cmd);
  });
  c.destroy();
  return { rows: 0, events, seconds: Number(process.hrtime.bigint() - t0) / 1e9, rssKb: readPeakRssKb(process.pid), checksum: 0, cpuSeconds: cpuSince(c0) };
}

interface ZongjiEvent {
  getEventName(): string;
  nextPosition: number;
  rows?: unknown[];
  binlogName?: string;
}

async function decodeWithZongji(port: number, start: BinlogCoord, end: BinlogCoord): Promise<DecodeResult> {
  const { default: ZongJi } = (await import('@vlasky/zongji')) as unknown as {
    default: new (dsn: object) => {
      on(ev: string, fn: (...a: unknown[]) => void): void;
      start(o: object): void;
      stop(): void;
    };
  };
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const z = new ZongJi({ ...conn, port });
  let rows = 0;
  let events = 0;
  let checksum = 0;
  let file = start.file;
  await new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      z.stop();
      resolve();
    };
    z.on('error', (e) => reject(e instanceof Error ? e : new Error(String(e))));
    z.on('stopped', () => finish());
    z.on('binlog', (raw) => {
      if (done) return;
      const ev = raw as ZongjiEvent;
      events++;
      const name = ev.getEventName();
      if (name === 'rotate' && ev.binlogName) file = ev.binlogName;
      if ((name === 'writerows' || name === 'updaterows' || name === 'deleterows') && ev.rows) {
        rows += ev.rows.length;
        for (const r of ev.rows) checksum = (checksum + (r ? 1 : 0)) | 0;
      }
      if (ev.nextPosition > 0 && (file === end.file ? ev.nextPosition >= end.pos : compareCoord({ file, pos: ev.nextPosition }, end) >= 0)) finish();
    });
    z.start({
      serverId: 7102,
      filename: start.file,
      position: start.pos,
      includeEvents: ['rotate', 'tablemap', 'writerows', 'updaterows', 'deleterows', 'xid'],
      includeSchema: { bench: true, benchtx: true },
    });
  });
  return { rows, events, seconds: Number(process.hrtime.bigint() - t0) / 1e9, rssKb: readPeakRssKb(process.pid), checksum, cpuSeconds: cpuSince(c0) };
}

const [mode, port, file, pos, endFile, endPos] = process.argv.slice(2);
if (!mode || !port || !file || !pos || !endFile || !endPos) {
  process.stderr.write('usage: decode.js ferry|zongji|raw PORT FILE POS END_FILE END_POS\n');
  process.exit(2);
}
const start = { file, pos: Number(pos) };
const end = { file: endFile, pos: Number(endPos) };
const r =
  mode === 'ferry'
    ? await decodeWithFerry(Number(port), start, end)
    : mode === 'raw'
      ? await receiveRaw(Number(port), start, end)
      : await decodeWithZongji(Number(port), start, end);
process.stdout.write(`${JSON.stringify(r)}\n`);
process.exit(0);
