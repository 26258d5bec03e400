/**
 * Same-process A/B of binlog decoders, without the server or the socket: for trying a change to
 * the decoder (events.ts, rows.ts, values.ts, crc32.ts) before a full `bench/run.sh`.
 *
 *   BENCH_KEEP=1 bash bench/run.sh --scale 1 --only decode     # once: servers, dataset, a workload
 *   node dist/bench/decode-ab.js --passes 12 .run/base .        # checkouts with a built dist/
 *
 * Reads the kept source's binlog files straight from its data directory, over the range of the
 * decode step's workload (run.ts records it in .run/bench/state/decode-range.json; `--from` and
 * `--to` FILE:POS choose another), cut into 64 KiB buffers as the socket delivers them, without
 * the Annotate_rows events the dump does not send. Each pass parses every event and decodes every
 * value of every rows event (`decodeRows` with the table schemas), as decode.ts does; the builds
 * take turns pass by pass in this one process, so a slow spell of the machine (these are shared
 * and noisy: passes of one build vary by 10–20 %) falls on all of them, and the order reverses
 * every other pass. Wait until the servers are quiet after a bench run (purge and page flushing
 * go on for a minute or two on the same cores). Reports, per build, the
 * min and median pass and the median relative to the first build, after a warm-up pass each.
 * The range's rows must decode to the same count in every build.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import type { BinlogEventParser as Parser } from '../src/connectors/mysql/binlog/events.js';
import type { TableSchema } from '../src/core/schema.js';
import { compareCoord, median, type BinlogCoord } from './lib.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const RUN = join(ROOT, '.run', 'bench');
const DATA = join(RUN, 'source', 'data');
/** Written by run.ts's decode step. */
const DECODE_RANGE_FILE = join(RUN, 'state', 'decode-range.json');
const PORT = Number(process.env.BENCH_SOURCE_PORT ?? 53306);
const CHUNK = 65536;
const ANNOTATE_ROWS = 160;
const FORMAT_DESCRIPTION = 15;

type ParserClass = new (o: { file: string; pos: number }) => Parser;

function parseCoord(s: string): BinlogCoord {
  const m = /^(.+):(\d+)$/.exec(s);
  if (!m || m[1] === undefined || m[2] === undefined) throw new Error(`not FILE:POS: ${s}`);
  return { file: m[1], pos: Number(m[2]) };
}

function parseArgs(argv: string[]): { passes: number; from: BinlogCoord | null; to: BinlogCoord | null; builds: string[] } {
  const o = { passes: 10, from: null as BinlogCoord | null, to: null as BinlogCoord | null, builds: [] as string[] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i] as string;
    if (k === '--passes') o.passes = Number(argv[++i]);
    else if (k === '--from') o.from = parseCoord(argv[++i] ?? '');
    else if (k === '--to') o.to = parseCoord(argv[++i] ?? '');
    else if (k.startsWith('--')) throw new Error(`unknown option ${k} (known: --passes N, --from FILE:POS, --to FILE:POS)`);
    else o.builds.push(resolve(k));
  }
  if (o.builds.length === 0) throw new Error('usage: decode-ab.js [--passes N] [--from FILE:POS --to FILE:POS] CHECKOUT... (each with a built dist/)');
  if (!Number.isInteger(o.passes) || o.passes < 2) throw new Error('--passes must be an integer of at least 2');
  return o;
}

/** One binlog file's events in [from, to), as 64 KiB buffers of whole events (plus its format description). */
interface FileEvents {
  file: string;
  fde: Buffer;
  chunks: { buf: Buffer; bounds: number[] }[];
}

function nextFile(file: string): string {
  const m = /^(.*\.)(\d+)$/.exec(file);
  if (!m || m[1] === undefined || m[2] === undefined) throw new Error(`binlog file name without a numeric extension: ${file}`);
  return `${m[1]}${String(Number(m[2]) + 1).padStart(m[2].length, '0')}`;
}

function loadRange(from: BinlogCoord, to: BinlogCoord): FileEvents[] {
  const out: FileEvents[] = [];
  for (let file = from.file; compareCoord({ file, pos: 0 }, { file: to.file, pos: 0 }) <= 0; file = nextFile(file)) {
    const path = join(DATA, file);
    if (!existsSync(path)) throw new Error(`${path} does not exist: run BENCH_KEEP=1 bash bench/run.sh --scale 1 --only decode first`);
    const bytes = readFileSync(path);
    const fdeLen = bytes.readUInt32LE(4 + 9);
    if (bytes[4 + 4] !== FORMAT_DESCRIPTION) throw new Error(`${file} does not start with a format description event`);
    // The server sets LOG_EVENT_BINLOG_IN_USE_F in the file's FDE while the file is open; the
    // checksum was computed without it (the dump sends it cleared).
    const fde = Buffer.from(bytes.subarray(4, 4 + fdeLen));
    fde[17] = (fde[17] as number) & ~1;
    const start = file === from.file ? from.pos : 4 + fdeLen;
    const end = file === to.file ? to.pos : bytes.length;
    const chunks: FileEvents['chunks'] = [];
    let pending: [number, number][] = [];
    let size = 0;
    const flush = (): void => {
      const buf = Buffer.allocUnsafe(size);
      const bounds: number[] = [];
      let o = 0;
      for (const [s, len] of pending) {
        bytes.copy(buf, o, s, s + len);
        bounds.push(o, o + len);
        o += len;
      }
      chunks.push({ buf, bounds });
      pending = [];
      size = 0;
    };
    for (let p = start; p < end; ) {
      const len = bytes.readUInt32LE(p + 9);
      if (len < 19 || p + len > bytes.length) throw new Error(`${file}: no event at ${p}: give positions of event starts`);
      if (bytes[p + 4] !== ANNOTATE_ROWS) {
        pending.push([p, len]);
        size += len;
      }
      p += len;
      if (size >= CHUNK) flush();
    }
    if (size > 0) flush();
    out.push({ file, fde, chunks });
  }
  return out;
}

/** One pass: every event parsed, every rows event decoded with all values. Returns [ms, rows]. */
function pass(BinlogEventParser: ParserClass, files: FileEvents[], schemas: Map<string, TableSchema>): [number, number] {
  let rows = 0;
  const t0 = process.hrtime.bigint();
  for (const f of files) {
    const parser = new BinlogEventParser({ file: f.file, pos: 4 });
    parser.parse(f.fde, 0, f.fde.length);
    const columnsOf = new WeakMap<object, TableSchema['columns'] | undefined>();
    for (const { buf, bounds } of f.chunks) {
      for (let k = 0; k < bounds.length; k += 2) {
        const ev = parser.parse(buf, bounds[k], bounds[k + 1]);
        if (ev.type !== 'rows') continue;
        let columns = columnsOf.get(ev.table);
        if (columns === undefined && !columnsOf.has(ev.table)) {
          columns = schemas.get(`${ev.table.schema}.${ev.table.table}`)?.columns;
          columnsOf.set(ev.table, columns);
        }
        const images = ev.decodeRows(columns);
        rows += (images.after ?? images.before ?? []).length;
      }
    }
  }
  return [Number(process.hrtime.bigint() - t0) / 1e6, rows];
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  let from = o.from;
  let to = o.to;
  if (from === null || to === null) {
    if (!existsSync(DECODE_RANGE_FILE)) throw new Error(`no --from/--to and no ${DECODE_RANGE_FILE}: run BENCH_KEEP=1 bash bench/run.sh --scale 1 --only decode first`);
    const r = JSON.parse(readFileSync(DECODE_RANGE_FILE, 'utf8')) as { start: BinlogCoord; end: BinlogCoord };
    from ??= r.start;
    to ??= r.end;
  }
  const parsers: ParserClass[] = [];
  for (const b of o.builds) {
    const events = join(b, 'dist', 'src', 'connectors', 'mysql', 'binlog', 'events.js');
    if (!existsSync(events)) throw new Error(`${events} does not exist: build that checkout (npx tsc -p tsconfig.json)`);
    parsers.push((await import(events)).BinlogEventParser as ParserClass);
  }
  const { readTableSchemas } = (await import(join(o.builds[0] as string, 'dist', 'src', 'connectors', 'mysql', 'schema-reader.js'))) as typeof import('../src/connectors/mysql/schema-reader.js');
  const c = await mysql.createConnection({ host: '127.0.0.1', port: PORT, user: 'ferry', password: 'ferry' });
  const schemas = new Map<string, TableSchema>();
  for (const t of await readTableSchemas(c, [/^(?:bench|benchtx)\..*$/])) schemas.set(`${t.schema}.${t.name}`, t);
  await c.end();
  const files = loadRange(from, to);
  const bytes = files.reduce((n, f) => n + f.chunks.reduce((m, ch) => m + ch.buf.length, 0), 0);
  process.stderr.write(`[decode-ab] ${from.file}:${from.pos} → ${to.file}:${to.pos}: ${(bytes / 1e6).toFixed(1)} MB of events, ${o.passes} passes per build after a warm-up\n`);
  const times: number[][] = o.builds.map(() => []);
  let rowsSeen = -1;
  const order = o.builds.map((_, k) => k);
  for (let i = 0; i <= o.passes; i++) {
    // Every other pass in the reverse order: whoever goes first is not always the one that
    // meets a machine just freed by (or still collecting for) the other.
    for (const k of i % 2 === 0 ? order : [...order].reverse()) {
      const [ms, rows] = pass(parsers[k] as ParserClass, files, schemas);
      if (rowsSeen >= 0 && rows !== rowsSeen) throw new Error(`${o.builds[k]} decoded ${rows} rows, the first build ${rowsSeen}`);
      rowsSeen = rows;
      if (i > 0) (times[k] as number[]).push(ms);
    }
  }
  const base = median(times[0] as number[]);
  process.stdout.write(`${rowsSeen} rows per pass\n`);
  o.builds.forEach((b, k) => {
    const t = times[k] as number[];
    process.stdout.write(
      `${b}: min ${Math.min(...t).toFixed(0)} ms, median ${median(t).toFixed(0)} ms (${(median(t) / base).toFixed(3)} of the first), passes ${t.map((x) => x.toFixed(0)).join(' ')}\n`,
    );
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
