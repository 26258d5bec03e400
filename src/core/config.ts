import { readFileSync, statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { z } from 'zod';
import { MASK, Secret } from './config-types.js';
import { DEFAULT_HEAP_MAX, parseByteSize } from './sizes.js';
import type { MySqlSourceConfig, PipelineConfig, PipelineSettings, RouteConfig, SinkConfig } from './config-types.js';
import { FerryError } from './errors.js';
import type { FerryErrorCode } from './errors.js';

/**
 * The pipeline file: declared once here (one zod schema per section, with defaults,
 * descriptions, examples and which fields are secret), parsed safely, validated with every
 * problem reported at once, and normalized into the PipelineConfig of config-types.ts. No other
 * code reads the YAML. docs/CONFIG.md is generated from these schemas by `configReference()`.
 *
 * Order of work, and the error code each stage raises:
 *  1. read the file (at most 1 MiB, UTF-8)                       → FERRY_CONFIG_UNREADABLE
 *  2. parse YAML: syntax, duplicate keys, tags, `__proto__`,
 *     complex keys, alias expansion (`maxAliasCount`)            → FERRY_CONFIG_UNREADABLE
 *  3. substitute `${NAME}` in string values (never keys)        → FERRY_CONFIG_ENV_MISSING
 *  4. validate every section and the rules between keys          → FERRY_CONFIG_INVALID
 * Stage 3 and 4 problems are reported together; the code is FERRY_CONFIG_ENV_MISSING only when
 * every problem is a missing variable.
 *
 * Secrets never reach an error: values are echoed only for non-secret keys, YAML errors are
 * rendered without source excerpts, and every message is finally scrubbed of the secret values.
 */

/** Largest pipeline file accepted. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Alias expansion budget handed to the yaml library (its resource-exhaustion guard). */
const MAX_ALIAS_COUNT = 100;

// ------------------------------------------------------------------------------------------
// Field metadata

export interface FieldMeta {
  description: string;
  /** The type as users read it, in docs and in "expected ..." messages. */
  type: string;
  /** An example value (YAML text), used in "missing key" messages and the reference. */
  example: string;
  /** Never printed: masked in logs, errors and status. */
  secret?: boolean;
  /** Shown instead of the schema's default in the reference (type-dependent defaults). */
  defaultText?: string;
}

const fieldMeta = z.registry<FieldMeta>();

function field<T extends z.ZodType>(schema: T, meta: FieldMeta): T {
  fieldMeta.add(schema, meta);
  return schema;
}

/** A problem found in a custom check: what is wrong, and how to fix it. */
interface CheckIssue {
  problem: string;
  fix: string;
}

function report(ctx: z.core.$RefinementCtx, issue: CheckIssue): void {
  ctx.addIssue({ code: 'custom', message: issue.problem, params: { fix: issue.fix } });
}

// ------------------------------------------------------------------------------------------
// Value types

function integer(min: number, max: number) {
  return z.union([z.number(), z.string()]).transform((v, ctx) => {
    const n = typeof v === 'number' ? v : /^\s*-?\d+\s*$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isSafeInteger(n)) {
      report(ctx, { problem: `expected an integer, got ${typeof v === 'number' ? String(v) : quote(v)}`, fix: 'write a whole number' });
      return z.NEVER;
    }
    if (n < min || n > max) {
      report(ctx, { problem: `must be between ${min} and ${max}, got ${n}`, fix: `choose a value from ${min} to ${max}` });
      return z.NEVER;
    }
    return n;
  });
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/** Milliseconds from a number (ms) or a string like `500ms`, `5s`, `1.5s`, `1min`, `2h`. */
export function parseDuration(v: number | string): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(v);
  if (!m || m[1] === undefined) return null;
  const factor = DURATION_UNITS[(m[2] ?? '').toLowerCase() || 'ms'];
  if (factor === undefined) return null;
  const ms = Number(m[1]) * factor;
  return Number.isSafeInteger(ms) ? ms : null;
}

function formatDuration(ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}min`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function duration(minMs: number, maxMs: number) {
  return z.union([z.number(), z.string()]).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === null) {
      report(ctx, {
        problem: `expected a duration, got ${typeof v === 'number' ? String(v) : quote(v)}`,
        fix: 'write milliseconds as a whole number, or a string such as `500ms`, `5s`, `1min`, `2h`',
      });
      return z.NEVER;
    }
    if (ms < minMs || ms > maxMs) {
      report(ctx, { problem: `must be between ${formatDuration(minMs)} and ${formatDuration(maxMs)}, got ${formatDuration(ms)}`, fix: 'choose a duration in that range' });
      return z.NEVER;
    }
    return ms;
  });
}

/** A time zone: `UTC`, `SYSTEM`-free offsets `+HH:MM`/`-HH:MM`, or an IANA name known to this Node. */
function timeZone() {
  return z.string().transform((v, ctx) => {
    const s = v.trim();
    if (/^[+-](0\d|1[0-4]):[0-5]\d$/.test(s) || /^UTC$/i.test(s)) return s;
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: s });
      return s;
    } catch {
      report(ctx, { problem: `${quote(v)} is not a time zone`, fix: 'write an offset such as `+01:00`, `UTC`, or an IANA name such as `Europe/Oslo`' });
      return z.NEVER;
    }
  });
}

export { parseByteSize } from './sizes.js';
export { describeConfig } from './config-types.js';

function formatBytes(n: number): string {
  for (const [unit, f] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) {
    if (n >= f && n % f === 0) return `${n / f}${unit}`;
  }
  return `${n}B`;
}

function byteSize(min: number, max: number) {
  return z.union([z.number(), z.string()]).transform((v, ctx) => {
    const n = parseByteSize(v);
    if (n === null) {
      report(ctx, {
        problem: `expected a size, got ${typeof v === 'number' ? String(v) : quote(v)}`,
        fix: 'write bytes as a whole number, or a string such as `512KiB`, `64MiB`, `1GiB` (KB/MB/GB are powers of 1000)',
      });
      return z.NEVER;
    }
    if (n < min || n > max) {
      report(ctx, { problem: `must be between ${formatBytes(min)} and ${formatBytes(max)}, got ${formatBytes(n)}`, fix: 'choose a size in that range' });
      return z.NEVER;
    }
    return n;
  });
}

// ------------------------------------------------------------------------------------------
// Regular expressions

/**
 * Splits a `tables` value into patterns at commas that are neither inside a character class
 * (`[a,b]`) nor inside a `{m,n}` quantifier. A backslash escapes the next character. Each
 * pattern is trimmed.
 */
export function splitTablePatterns(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inClass = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (c === '\\') {
      cur += c + text.charAt(i + 1);
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
      cur += c;
    } else if (c === '[') {
      inClass = true;
      cur += c;
    } else if (c === '{' && /^\{\d+(?:,\d*)?\}/.test(text.slice(i))) {
      const q = /^\{\d+(?:,\d*)?\}/.exec(text.slice(i))?.[0] ?? c;
      cur += q;
      i += q.length - 1;
    } else if (c === ',') {
      out.push(cur.trim());
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur.trim());
  return out;
}

interface Quantifier {
  length: number;
  /** Repeats without a small bound (`*`, `+`, `{n,}`, `{n,m}` with m ≥ 10). */
  repeats: boolean;
}

function quantifierAt(p: string, i: number): Quantifier | null {
  const c = p.charAt(i);
  const lazy = p.charAt(i + 1) === '?' ? 1 : 0;
  if (c === '*' || c === '+') return { length: 1 + lazy, repeats: true };
  if (c === '?') return { length: 1 + lazy, repeats: false };
  if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i));
    if (m && m[1] !== undefined) {
      const max = m[2] === undefined ? Number(m[1]) : m[3] === '' || m[3] === undefined ? Number.POSITIVE_INFINITY : Number(m[3]);
      return { length: m[0].length + (p.charAt(i + m[0].length) === '?' ? 1 : 0), repeats: max >= 10 };
    }
  }
  return null;
}

/**
 * Cheap detection of the classic catastrophic-backtracking shape: a group that contains a
 * repeating quantifier and is itself repeated, such as `(a+)+`, `(.*)*` or `(?:x\d+){2,}`.
 * Overlapping alternatives (`(a|a)*`) are not detected.
 */
export function hasNestedQuantifier(p: string): boolean {
  const stack: boolean[] = [];
  for (let i = 0; i < p.length; i++) {
    const c = p.charAt(i);
    if (c === '\\') {
      i++;
    } else if (c === '[') {
      i++;
      while (i < p.length && p.charAt(i) !== ']') {
        if (p.charAt(i) === '\\') i++;
        i++;
      }
    } else if (c === '(') {
      stack.push(false);
      if (p.charAt(i + 1) === '?') {
        const prefix = /^\?(?::|=|!|<=|<!|<[A-Za-z_$][\w$]*>)/.exec(p.slice(i + 1));
        if (prefix) i += prefix[0].length;
      }
    } else if (c === ')') {
      const inner = stack.pop() ?? false;
      const q = quantifierAt(p, i + 1);
      if (inner && q?.repeats) return true;
      if (stack.length > 0 && (inner || q?.repeats)) stack[stack.length - 1] = true;
      if (q) i += q.length;
    } else {
      const q = quantifierAt(p, i);
      if (q) {
        if (q.repeats && stack.length > 0) stack[stack.length - 1] = true;
        i += q.length - 1;
      }
    }
  }
  return false;
}

/**
 * Compiles one table pattern, anchored as `^(?:pattern)$`. Returns the problem text instead
 * when the pattern is invalid or has a nested repeating quantifier.
 */
export function compileTablePattern(pattern: string): RegExp | string {
  if (pattern.length === 0) return 'is empty';
  try {
    // Compiled alone first: an unbalanced `)` would otherwise close the anchoring group and
    // yield a valid but unanchored expression (`a)|(b` → `^(?:a)|(b)$`).
    new RegExp(pattern);
  } catch (e) {
    return `is not a valid regular expression (${(e as Error).message})`;
  }
  if (hasNestedQuantifier(pattern)) {
    return 'repeats a group that itself contains a repeating quantifier, which can take exponential time';
  }
  return new RegExp(`^(?:${pattern})$`);
}

const REGEX_FIX = 'write a JavaScript regular expression over `database.table`, e.g. `shop\\..*` (escape the dot with `\\.`)';

function tablePatternList() {
  return z.string().transform((text, ctx) => {
    const parts = splitTablePatterns(text);
    const patterns: RegExp[] = [];
    parts.forEach((p, i) => {
      const compiled = compileTablePattern(p);
      if (typeof compiled === 'string') {
        const which = parts.length > 1 ? `pattern ${i + 1} ` : 'pattern ';
        report(ctx, {
          problem: `${which}${p.length > 0 ? quote(p) : ''} ${compiled}`.replace(/\s+/g, ' '),
          fix: compiled.startsWith('repeats') ? 'rewrite it without a repeated group around `+` or `*`, e.g. `shop_\\d+` instead of `(shop_\\d+)+`' : p.length === 0 ? 'remove the extra comma' : REGEX_FIX,
        });
      } else {
        patterns.push(compiled);
      }
    });
    return { text, patterns };
  });
}

function singlePattern() {
  return z.string().transform((p, ctx) => {
    const compiled = compileTablePattern(p.trim());
    if (typeof compiled === 'string') {
      report(ctx, { problem: `pattern ${quote(p)} ${compiled}`, fix: REGEX_FIX });
      return z.NEVER;
    }
    return compiled;
  });
}

function schemaDotTable() {
  return z.string().superRefine((v, ctx) => {
    const dot = v.indexOf('.');
    if (dot <= 0 || dot === v.length - 1) {
      report(ctx, { problem: `${quote(v)} is not \`schema.table\``, fix: 'write the target as `schema.table`, e.g. `analytics.<>` with `replace-symbol: <>`' });
    }
  });
}

function pipelineName() {
  return z.string().superRefine((v, ctx) => {
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/.test(v)) {
      report(ctx, { problem: `${quote(v)} is not a valid pipeline name`, fix: 'use 1–63 letters, digits, `_` or `-`, starting with a letter or digit' });
    }
  });
}

const text = () => z.string().min(1);

// ------------------------------------------------------------------------------------------
// The schema: one strict object per section

const STARTUP_MODES = ['initial', 'snapshot', 'latest-offset', 'specific-offset', 'timestamp'] as const;
const MAX_INT = Number.MAX_SAFE_INTEGER;

const sourceShape = {
  type: field(z.enum(['mysql', 'mariadb']), {
    type: '`mysql` or `mariadb`',
    description: 'Source connector. `mariadb` is the same connector as `mysql`.',
    example: 'mysql',
  }),
  hostname: field(text(), { type: 'string', description: 'Host name or IP address of the source server.', example: '127.0.0.1' }),
  port: field(integer(1, 65535).prefault(3306), { type: 'integer (1–65535)', description: 'TCP port of the source server.', example: '3306' }),
  username: field(text(), { type: 'string', description: 'User Ferry logs in as; needs the grants listed in the MySQL connector README.', example: 'ferry' }),
  password: field(z.string(), {
    type: 'string',
    description: 'Password of `username`. Usually `${NAME}` from the environment.',
    example: '${MYSQL_PASSWORD}',
    secret: true,
  }),
  tables: field(tablePatternList(), {
    type: 'regular expressions, comma-separated',
    description:
      'Tables to capture: regular expressions over `database.table`, each matching the whole name. Commas inside `[...]` or `{m,n}` do not separate patterns.',
    example: 'shop\\..*',
  }),
  'server-id': field(integer(1, 4294967295).optional(), {
    type: 'integer (1–4294967295)',
    description: 'Replication client id; must differ from every server and other replica. Allocated at start when absent.',
    example: '5400',
  }),
  'scan.startup.mode': field(z.enum(STARTUP_MODES).default('initial'), {
    type: '`initial`, `snapshot`, `latest-offset`, `specific-offset` or `timestamp`',
    description:
      '`initial`: snapshot, then stream. `snapshot`: snapshot only. `latest-offset`: stream from the current end of the binlog. `specific-offset`: stream from the given binlog file/position or GTID set. `timestamp`: stream from the first transaction at or after `scan.startup.timestamp-millis`.',
    example: 'initial',
  }),
  'scan.startup.specific-offset.file': field(text().optional(), {
    type: 'string',
    description: 'Binlog file to start from (mode `specific-offset`, with `scan.startup.specific-offset.pos`).',
    example: 'mysql-bin.000003',
  }),
  'scan.startup.specific-offset.pos': field(integer(0, MAX_INT).optional(), {
    type: 'integer',
    description: 'Offset in that binlog file, at a transaction boundary (mode `specific-offset`).',
    example: '4',
  }),
  'scan.startup.specific-offset.gtid-set': field(text().optional(), {
    type: 'string',
    description: 'GTID set to start after (mode `specific-offset`): MariaDB `domain-server-seq` list or MySQL `uuid:interval` set.',
    example: '0-1-100',
  }),
  'scan.startup.timestamp-millis': field(integer(0, MAX_INT).optional(), {
    type: 'integer (ms since 1970)',
    description: 'Start time for mode `timestamp`, in milliseconds since the Unix epoch.',
    example: '1700000000000',
  }),
  'scan.snapshot.chunk.size': field(integer(1, 1_000_000).prefault(8096), {
    type: 'integer (1–1000000)',
    description: 'Rows read per snapshot chunk (one primary-key range per query).',
    example: '8096',
  }),
  'scan.snapshot.chunk.bytes': field(byteSize(2 ** 16, 2 ** 30).prefault('4MiB'), {
    type: 'size',
    description: 'Byte budget of one snapshot chunk: after each chunk the row count of the next one is adapted to the table\'s measured row width (between 64 rows and `scan.snapshot.chunk.size` × 16), so wide rows get small chunks and narrow rows big ones. The first chunk reads `scan.snapshot.chunk.size` rows.',
    example: '4MiB',
  }),
  'rate-limit.rows-per-second': field(integer(0, MAX_INT).prefault(0), {
    type: 'integer',
    description: 'Most snapshot rows read from the source per second (0 = no limit). Protects the source; the binlog stream is never throttled.',
    example: '50000',
  }),
  'rate-limit.bytes-per-second': field(byteSize(0, 2 ** 40).prefault(0), {
    type: 'size',
    description: 'Most snapshot bytes read from the source per second (0 = no limit), e.g. `20MiB`. The binlog stream is never throttled.',
    example: '20MiB',
  }),
  'heartbeat.interval': field(duration(0, 4_294_967_000).prefault('1s'), {
    type: 'duration',
    description: 'Heartbeat period asked of the source, so idle sources still advance the checkpoint. `0` disables heartbeats.',
    example: '1s',
  }),
  'connect.timeout': field(duration(1, 3_600_000).prefault('30s'), {
    type: 'duration',
    description: 'Longest wait for a connection to the source.',
    example: '30s',
  }),
  'key-columns': field(z.record(z.string().regex(/^[^.\s]+\.[^.\s]+$/, 'table names are written db.table'), z.array(text()).min(1)).optional(), {
    type: 'map of `db.table` to a list of column names',
    description:
      'For captured tables with neither a primary key nor a unique index over NOT NULL columns: the columns that identify a row. Ferry pages the snapshot and applies every change by them, and the target table gets them as its primary key. Exact only if they are unique on the source (Ferry cannot check this while writers run); they must be NOT NULL. Ignored for tables that have a key.',
    example: '{ shop.events: [device_id, event_time] }',
  }),
  'server-time-zone': field(timeZone().optional(), {
    type: 'string (`+HH:MM`, `-HH:MM`, `UTC` or an IANA name)',
    description:
      "The source server's time zone, when it is not UTC. No value depends on it: TIMESTAMP is stored and logged in UTC and Ferry reads it in a UTC session, DATETIME/DATE/TIME are wall-clock values copied as they are. `ferry check` warns when the server's `time_zone` differs from it (see src/connectors/mysql/TYPES.md).",
    example: 'Europe/Oslo',
  }),
};

const sinkShape = {
  type: field(z.enum(['postgres', 'mysql', 'mariadb']), {
    type: '`postgres`, `mysql` or `mariadb`',
    description: 'Sink connector. `mariadb` is the same connector as `mysql`.',
    example: 'postgres',
  }),
  hostname: field(text(), { type: 'string', description: 'Host name or IP address of the sink server.', example: '127.0.0.1' }),
  port: field(integer(1, 65535).optional(), {
    type: 'integer (1–65535)',
    description: 'TCP port of the sink server.',
    example: '5432',
    defaultText: '5432 (postgres), 3306 (mysql)',
  }),
  username: field(text(), { type: 'string', description: 'User Ferry logs in as on the sink.', example: 'ferry' }),
  password: field(z.string(), {
    type: 'string',
    description: 'Password of `username`. Usually `${NAME}` from the environment.',
    example: '${PG_PASSWORD}',
    secret: true,
  }),
  database: field(text().optional(), {
    type: 'string',
    description:
      'PostgreSQL database to connect to; required for `postgres`. Refused for `mysql`: there each route\'s `sink-table` names the target database.',
    example: 'dw',
  }),
  'checkpoint-schema': field(text().max(63).default('_ferry'), {
    type: 'string',
    description: 'PostgreSQL schema / MySQL database holding the `_ferry_checkpoint` table.',
    example: '_ferry',
  }),
  'batch.max-rows': field(integer(1, 1_000_000).prefault(5000), {
    type: 'integer (1–1000000)',
    description: 'Most rows one lane writes in one sink transaction.',
    example: '5000',
  }),
  'zero-date': field(z.enum(['null', '-infinity', 'fail']).default('null'), {
    type: '`null`, `-infinity` or `fail`',
    description:
      'PostgreSQL sinks only: what a MySQL zero or partial-zero date (`0000-00-00`, `2024-00-15`) becomes. `null`: NULL, and date/datetime/timestamp columns are created nullable (a key column gets `-infinity`). `-infinity`: `-infinity`, NOT NULL kept. `fail`: the write fails naming the row. MySQL/MariaDB sinks keep zero dates unchanged.',
    example: 'null',
  }),
};

const routeShape = {
  'source-table': field(singlePattern(), {
    type: 'regular expression',
    description: 'Source tables this route applies to: one regular expression over `database.table`, matching the whole name.',
    example: 'shop\\..*',
  }),
  'sink-table': field(schemaDotTable(), {
    type: 'string (`schema.table`)',
    description: 'Target table as `schema.table` (PostgreSQL schema or MySQL database). `replace-symbol` in it is replaced by the source table name.',
    example: 'analytics.<>',
  }),
  'replace-symbol': field(text().optional(), {
    type: 'string',
    description: 'Placeholder in `sink-table` replaced by the source table name, e.g. `<>`.',
    example: '<>',
  }),
  description: field(z.string().optional(), { type: 'string', description: 'Free text, for people.', example: 'orders into the warehouse' }),
};

const pipelineShape = {
  name: field(pipelineName(), {
    type: 'string',
    description: 'Pipeline name: names the state file and the sink checkpoint rows. 1–63 letters, digits, `_` or `-`.',
    example: 'shop-to-dw',
  }),
  parallelism: field(integer(1, 64).prefault(2), {
    type: 'integer (1–64)',
    description: 'Sink lanes writing in parallel (each key always goes to the same lane); in `snapshot` mode also the tables copied at once (at most 4). `1` keeps source transactions atomic in the sink. Two lanes keep up with what one pipeline decodes and cost the target less CPU than four (README, Performance); more help a target that is slow per transaction (far away, or busy with other work).',
    example: '2',
  }),
  'state-dir': field(text().default('./.ferry'), {
    type: 'path',
    description: 'Directory of the SQLite state file, relative to the working directory.',
    example: './.ferry',
  }),
  'snapshot.parallelism': field(integer(1, 32).prefault(2), {
    type: 'integer (1–32)',
    description: 'Snapshot chunks read from the source at once (several tables, and the next chunks of a table while earlier ones wait for their watermark). The stream keeps going meanwhile.',
    example: '2',
  }),
  'flush-interval': field(duration(1, 60_000).prefault('200ms'), {
    type: 'duration',
    description: 'Longest a change waits in a lane before the lane flushes.',
    example: '200ms',
  }),
  'queue.max-bytes': field(byteSize(2 ** 20, 2 ** 40).prefault('64MiB'), {
    type: 'size',
    description: 'Bytes of changes held between source and lanes before the source is paused.',
    example: '64MiB',
  }),
  'heap.max-bytes': field(byteSize(64 * 2 ** 20, 2 ** 40).prefault(DEFAULT_HEAP_MAX), {
    type: 'size',
    description:
      'Most JavaScript heap the pipeline may use (`ferry run` runs the pipeline in a worker thread with this limit). Without a limit V8 lets the heap grow to several times the live data before collecting; with it, peak RSS stays near this value plus about 80 MB (code, buffers, SQLite). Below it the heap may grow to twice its live data between full collections (`ferry run` sets the V8 flag `--heap-growing-percent=100` unless NODE_OPTIONS or the command line give one), which costs less CPU than collecting at every 10% of growth. Reaching it stops the pipeline with FERRY_OUT_OF_MEMORY; nothing is lost. Raise it for rows of tens of MB; it must be at least twice `queue.max-bytes`.',
    example: '512MiB',
  }),
  'schema-change': field(z.enum(['evolve', 'lenient', 'ignore', 'fail']).default('evolve'), {
    type: '`evolve`, `lenient`, `ignore` or `fail`',
    description:
      'Schema changes met in the stream (the sink is flushed first; each reaches the target at most once; rows are decoded with the schema in force at their position). `evolve`: the target follows the source: columns added, dropped, renamed, retyped, reordered (MariaDB targets; PostgreSQL addresses columns by name), primary keys changed, tables created, renamed (a table renamed into the captured set, or swapped in by gh-ost/pt-online-schema-change, is copied again), truncated; a dropped table is kept in the target. `lenient`: nothing the target holds is lost: a dropped column is kept and made nullable, a renamed column is added under the new name with its values (the old one kept), a type change is applied only when widening, TRUNCATE is not applied. `ignore`: nothing is applied to existing target tables (a created table is still created, so its rows have somewhere to land). `fail`: the pipeline stops with FERRY_DDL_UNSUPPORTED before the first change. Under every policy a table that loses its primary key is frozen (its changes are not delivered) until a key is added back; it is then copied again.',
    example: 'evolve',
  }),
};

const SECTIONS = {
  source: { shape: sourceShape, required: true, description: 'The MySQL/MariaDB server changes are read from.' },
  sink: { shape: sinkShape, required: true, description: 'The database changes are written to.' },
  route: { shape: routeShape, required: false, description: 'A list mapping source tables to target tables; the first matching route wins. A table no route matches keeps its `database.table` name.' },
  pipeline: { shape: pipelineShape, required: true, description: 'The pipeline itself.' },
} as const;

type SectionName = keyof typeof SECTIONS;
const SECTION_NAMES = Object.keys(SECTIONS) as SectionName[];

const sourceSchema = z.strictObject(sourceShape);
const sinkSchema = z.strictObject(sinkShape);
const routeSchema = z.array(z.strictObject(routeShape));
const pipelineSchema = z.strictObject(pipelineShape);

// ------------------------------------------------------------------------------------------
// Problems

type Path = (string | number)[];

interface Problem {
  key: string;
  problem: string;
  fix: string;
  line: number | null;
  stage: 'yaml' | 'env' | 'schema';
}

function pathText(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? '(file)' : out;
}

function quote(v: string): string {
  const s = v.length > 80 ? `${v.slice(0, 77)}...` : v;
  return `\`${s.replace(/[\r\n]/g, ' ')}\``;
}

/** A key as it may be shown: only up to a `:` or whitespace (it may be `password:hunter2`). */
function displayKey(key: string): string {
  const cut = key.search(/[:\s]/);
  const k = cut >= 0 ? `${key.slice(0, cut)}…` : key;
  return k.length > 64 ? `${k.slice(0, 63)}…` : k;
}

function kindOf(v: unknown): string {
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return `\`${String(v)}\` (a boolean)`;
  return typeof v;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charAt(i - 1) === b.charAt(j - 1) ? 0 : 1;
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** The valid key closest to `key`, when it is close enough to be a typo. */
export function closestKey(key: string, valid: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const v of valid) {
    const d = levenshtein(key.toLowerCase(), v.toLowerCase());
    if (d < bestDistance) {
      best = v;
      bestDistance = d;
    }
  }
  const limit = Math.max(1, Math.floor(key.length / 3));
  return best !== null && bestDistance <= limit ? best : null;
}

function validKeysAt(objPath: Path): string[] | null {
  if (objPath.length === 0) return SECTION_NAMES;
  const section = objPath[0] as SectionName;
  if (!(section in SECTIONS)) return null;
  if (section === 'route') return objPath.length === 2 ? Object.keys(routeShape) : null;
  return objPath.length === 1 ? Object.keys(SECTIONS[section].shape) : null;
}

function metaAt(path: Path): FieldMeta | undefined {
  const section = path[0] as SectionName;
  if (!(section in SECTIONS)) return undefined;
  const key = section === 'route' ? (path.length === 3 ? path[2] : undefined) : path.length === 2 ? path[1] : undefined;
  if (typeof key !== 'string') return undefined;
  const shape = SECTIONS[section].shape as Record<string, z.ZodType>;
  const schema = shape[key];
  return schema ? fieldMeta.get(schema) : undefined;
}

function valueAt(root: unknown, path: Path): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

function unknownKeyProblem(objPath: Path, key: string, value: unknown): Omit<Problem, 'line' | 'stage'> {
  const valid = validKeysAt(objPath) ?? [];
  const where = pathText([...objPath, displayKey(key)]);
  const base = key.split(/[:\s]/)[0] ?? key;
  const nested = value !== null && typeof value === 'object' && !Array.isArray(value) ? valid.filter((v) => v.startsWith(`${base}.`)) : [];
  if (nested.length > 0) {
    return {
      key: where,
      problem: 'unknown key',
      fix: `keys contain literal dots: write \`${nested[0]}: …\` on one line instead of nesting mappings (valid: ${nested.map((n) => `\`${n}\``).join(', ')})`,
    };
  }
  const suggestion = closestKey(base, valid);
  const elsewhere = objPath.length === 1 ? SECTION_NAMES.filter((s) => s !== objPath[0] && s !== 'route' && base in SECTIONS[s].shape) : [];
  let fix: string;
  if (suggestion !== null) fix = `did you mean \`${suggestion}\`?`;
  else if (elsewhere.length > 0) fix = `\`${base}\` is a key of \`${elsewhere[0]}\`, not of \`${String(objPath[0])}\``;
  else fix = `remove it; valid keys here: ${valid.map((v) => `\`${v}\``).join(', ')}`;
  if (key !== base && key.includes(':')) fix += ' (YAML needs a space after `:`)';
  return { key: where, problem: 'unknown key', fix };
}

function exampleLine(path: Path, meta: FieldMeta | undefined): string {
  const key = path[path.length - 1];
  return meta ? `\`${String(key)}: ${meta.example}\`` : 'see docs/CONFIG.md';
}

function issueProblems(section: SectionName, issue: z.core.$ZodIssue, raw: unknown): Omit<Problem, 'line' | 'stage'>[] {
  const path: Path = [section, ...(issue.path as (string | number)[])];
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => unknownKeyProblem(path, k, valueAt(raw, [...path, k])));
  }
  const meta = metaAt(path);
  const value = valueAt(raw, path);
  const key = pathText(path);
  if (value === undefined || value === null) {
    if (path.length === 2 && section === 'route') {
      return [{ key, problem: 'is empty', fix: 'give each route `source-table` and `sink-table`' }];
    }
    return [{ key, problem: value === null ? 'has no value' : 'is required', fix: `add it, e.g. ${exampleLine(path, meta)}` }];
  }
  if (issue.code === 'custom') {
    const fix = (issue.params as { fix?: unknown } | undefined)?.fix;
    return [{ key, problem: issue.message, fix: typeof fix === 'string' ? fix : 'see docs/CONFIG.md' }];
  }
  if (issue.code === 'invalid_value') {
    const options = issue.values.map((v) => `\`${String(v)}\``).join(', ');
    const got = typeof value === 'string' && !meta?.secret ? quote(value) : kindOf(value);
    return [{ key, problem: `expected one of ${options}, got ${got}`, fix: 'use one of those values' }];
  }
  if (issue.code === 'too_small' && typeof value === 'string') {
    return [{ key, problem: 'must not be empty', fix: `give it a value, e.g. ${exampleLine(path, meta)}` }];
  }
  if (issue.code === 'too_big' && typeof value === 'string') {
    return [{ key, problem: `is longer than ${String(issue.maximum)} characters`, fix: 'shorten it' }];
  }
  if (path.length === 1) {
    const expected = section === 'route' ? 'a list of routes' : 'a mapping of keys';
    return [{ key, problem: `expected ${expected}, got ${kindOf(value)}`, fix: 'see the example in docs/CONFIG.md' }];
  }
  if (section === 'route' && path.length === 2) {
    return [{ key, problem: `expected a mapping, got ${kindOf(value)}`, fix: 'write each route as `- source-table: …` with `sink-table: …` below it' }];
  }
  const expected = meta ? meta.type : 'another type';
  const hint = meta?.secret && typeof value !== 'string' ? 'quote the value so YAML reads it as a string' : `e.g. ${exampleLine(path, meta)}`;
  return [{ key, problem: `expected ${expected}, got ${kindOf(value)}`, fix: hint }];
}

// ------------------------------------------------------------------------------------------
// YAML

const ALLOWED_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`));

interface ParsedYaml {
  root: unknown;
  lines: Map<string, number>;
  problems: Problem[];
}

function parseYaml(text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const problems: Problem[] = [];
  const lines = new Map<string, number>();
  // prettyErrors off: the pretty form quotes the offending source line, which may hold a secret.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, schema: 'core', merge: false, strict: true });
  const lineOf = (offset: number | undefined): number | null => (offset === undefined ? null : lineCounter.linePos(offset).line);
  const add = (path: Path, line: number | null, problem: string, fix: string): void => {
    problems.push({ key: pathText(path), problem, fix, line, stage: 'yaml' });
  };

  for (const err of doc.errors) {
    if (err.code === 'DUPLICATE_KEY') continue; // reported below with its key path
    const pos = lineCounter.linePos(err.pos[0]);
    problems.push({ key: 'YAML', problem: `${err.message} (line ${pos.line}, column ${pos.col})`, fix: 'correct the YAML syntax there', line: pos.line, stage: 'yaml' });
  }

  const checkTag = (node: { tag?: string | undefined }, path: Path, line: number | null): void => {
    if (node.tag !== undefined && !ALLOWED_TAGS.has(node.tag)) {
      add(path, line, `uses the YAML tag \`${node.tag.slice(0, 40)}\``, 'remove the tag: pipeline files hold plain strings, numbers, booleans, lists and mappings');
    }
  };
  const walk = (node: unknown, path: Path): void => {
    if (node === null || node === undefined || isAlias(node)) return; // alias expansion is bounded by toJS
    if (isScalar(node)) {
      checkTag(node, path, lineOf(node.range?.[0]));
    } else if (isMap(node)) {
      checkTag(node, path, lineOf(node.range?.[0]));
      const seen = new Set<string>();
      for (const pair of node.items) {
        const k = pair.key;
        const keyLine = isScalar(k) || isMap(k) || isSeq(k) || isAlias(k) ? lineOf(k.range?.[0]) : null;
        if (!isScalar(k) || (k.value !== null && typeof k.value === 'object')) {
          add(path, keyLine, 'has a key that is not a plain string', 'write keys as plain words');
          continue;
        }
        checkTag(k, [...path, String(k.value)], keyLine);
        const key = String(k.value);
        const childPath = [...path, key];
        if (keyLine !== null && !lines.has(pathText(childPath))) lines.set(pathText(childPath), keyLine);
        if (key === '__proto__') {
          add(childPath, keyLine, 'is not allowed as a key', 'remove it');
        } else if (seen.has(key)) {
          add([...path, displayKey(key)], keyLine, 'appears twice in the same mapping', 'keep only one of them');
        }
        seen.add(key);
        walk(pair.value, childPath);
      }
    } else if (isSeq(node)) {
      checkTag(node, path, lineOf(node.range?.[0]));
      node.items.forEach((item, i) => {
        const itemLine = isScalar(item) || isMap(item) || isSeq(item) ? lineOf(item.range?.[0]) : null;
        if (itemLine !== null) lines.set(pathText([...path, i]), itemLine);
        walk(item, [...path, i]);
      });
    }
  };
  walk(doc.contents, []);

  let root: unknown = null;
  if (problems.length === 0) {
    try {
      root = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      const msg = (e as Error).message;
      if (/alias/i.test(msg)) {
        add([], null, `YAML aliases expand to too many nodes (more than ${MAX_ALIAS_COUNT} aliased; an alias bomb?)`, 'write the values out instead of `*alias` references');
      } else {
        add([], null, `cannot be converted from YAML: ${msg}`, 'simplify the YAML');
      }
    }
  } else {
    // Only to know which secret values to scrub from the messages.
    try {
      root = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch {
      root = null;
    }
  }
  return { root, lines, problems };
}

// ------------------------------------------------------------------------------------------
// Environment substitution

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Replaces `${NAME}` in one string value. `$${` stands for a literal `${`. A `${` not followed
 * by a valid name and `}` is an error (it is almost always a typo).
 */
function substitute(value: string, env: Env, onMissing: (name: string) => void, onMalformed: () => void): string {
  let out = '';
  let i = 0;
  while (i < value.length) {
    const j = value.indexOf('$', i);
    if (j < 0) {
      out += value.slice(i);
      break;
    }
    out += value.slice(i, j);
    if (value.startsWith('$${', j)) {
      out += '${';
      i = j + 3;
    } else if (value.charAt(j + 1) === '{') {
      const end = value.indexOf('}', j + 2);
      const name = end < 0 ? '' : value.slice(j + 2, end);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        onMalformed();
        return value;
      }
      const v = env[name];
      if (v === undefined) onMissing(name);
      else out += v;
      i = end + 1;
    } else {
      out += '$';
      i = j + 1;
    }
  }
  return out;
}

function substituteAll(v: unknown, path: Path, env: Env, problems: Omit<Problem, 'line'>[]): unknown {
  if (typeof v === 'string') {
    return substitute(
      v,
      env,
      (name) =>
        problems.push({
          key: pathText(path),
          problem: `refers to the environment variable ${name}, which is not set`,
          fix: `export ${name} before running ferry`,
          stage: 'env',
        }),
      () =>
        problems.push({
          key: pathText(path),
          problem: 'has a malformed `${...}` reference',
          fix: 'write `${NAME}` with a name of letters, digits and `_`, or `$${` for a literal `${`',
          stage: 'schema',
        }),
    );
  }
  if (Array.isArray(v)) return v.map((x, i) => substituteAll(x, [...path, i], env, problems));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = substituteAll(x, [...path, k], env, problems);
    return out;
  }
  return v;
}

// ------------------------------------------------------------------------------------------
// Validation

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A copy without null-valued keys: `key:` with no value counts as absent (then defaulted). */
function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (!isRecord(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = x;
  return out;
}

const OFFSET_KEYS = ['scan.startup.specific-offset.file', 'scan.startup.specific-offset.pos', 'scan.startup.specific-offset.gtid-set'] as const;

/** Rules between keys, checked on the raw values so they are reported with the other problems. */
function crossFieldProblems(root: Record<string, unknown>): Omit<Problem, 'line' | 'stage'>[] {
  const out: Omit<Problem, 'line' | 'stage'>[] = [];
  const has = (o: Record<string, unknown>, k: string): boolean => o[k] !== undefined && o[k] !== null;
  const source = root.source;
  if (isRecord(source)) {
    const rawMode = has(source, 'scan.startup.mode') ? source['scan.startup.mode'] : 'initial';
    if (typeof rawMode === 'string' && (STARTUP_MODES as readonly string[]).includes(rawMode)) {
      const mode = rawMode;
      const [fileKey, posKey, gtidKey] = OFFSET_KEYS;
      if (mode === 'specific-offset') {
        const file = has(source, fileKey);
        const pos = has(source, posKey);
        if (!has(source, gtidKey) && !(file && pos)) {
          const missing = file ? posKey : pos ? fileKey : fileKey;
          out.push({
            key: `source.${missing}`,
            problem: file || pos ? `is required with \`${file ? fileKey : posKey}\`` : 'scan.startup.mode `specific-offset` needs a binlog file and position, or a GTID set',
            fix: `add \`${fileKey}: mysql-bin.000003\` and \`${posKey}: 4\`, or \`${gtidKey}: 0-1-100\``,
          });
        }
      }
      // Offset and timestamp keys are accepted (and ignored) with other modes, so switching the
      // mode does not require deleting them; the reference says so.
      const tsKey = 'scan.startup.timestamp-millis';
      if (mode === 'timestamp' && !has(source, tsKey)) {
        out.push({ key: `source.${tsKey}`, problem: 'is required when scan.startup.mode is `timestamp`', fix: `add it, e.g. \`${tsKey}: 1700000000000\`` });
      }
    }
  }
  const sink = root.sink;
  if (isRecord(sink)) {
    if (sink.type === 'postgres' && !has(sink, 'database')) {
      out.push({ key: 'sink.database', problem: 'is required for a postgres sink', fix: 'add it, e.g. `database: dw`' });
    } else if ((sink.type === 'mysql' || sink.type === 'mariadb') && has(sink, 'database')) {
      out.push({
        key: 'sink.database',
        problem: 'is not used by a mysql sink',
        fix: "remove it: each route's `sink-table` (`database.table`) names the target database; without a route the source database name is kept",
      });
    }
  }
  const routes = root.route;
  if (Array.isArray(routes)) {
    routes.forEach((r, i) => {
      if (!isRecord(r)) return;
      const sym = r['replace-symbol'];
      const target = r['sink-table'];
      if (typeof sym === 'string' && sym.length > 0 && typeof target === 'string' && !target.includes(sym)) {
        out.push({ key: `route[${i}].replace-symbol`, problem: `${quote(sym)} does not occur in sink-table ${quote(target)}`, fix: 'put the symbol in `sink-table`, e.g. `analytics.<>`, or remove `replace-symbol`' });
      }
    });
  }
  return out;
}

function secretValues(...roots: unknown[]): string[] {
  const out = new Set<string>();
  for (const root of roots) {
    for (const section of ['source', 'sink']) {
      const v = valueAt(root, [section, 'password']);
      // Shorter values would mangle unrelated text ("line 1") and are not worth hiding.
      if (typeof v === 'string' && v.length >= 3) out.add(v);
      if (typeof v === 'number' && String(v).length >= 3) out.add(String(v));
    }
  }
  // Longest first, so a secret containing another is replaced whole.
  return [...out].sort((a, b) => b.length - a.length);
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join(MASK);
  return out;
}

function configError(file: string, problems: Problem[], secrets: readonly string[]): FerryError {
  const code: FerryErrorCode = problems.some((p) => p.stage === 'yaml')
    ? 'FERRY_CONFIG_UNREADABLE'
    : problems.every((p) => p.stage === 'env')
      ? 'FERRY_CONFIG_ENV_MISSING'
      : 'FERRY_CONFIG_INVALID';
  const sorted = problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => (a.p.line ?? 0) - (b.p.line ?? 0) || a.i - b.i)
    .map(({ p }) => ({ ...p, key: scrub(p.key, secrets), problem: scrub(p.problem, secrets), fix: scrub(p.fix, secrets) }));
  const render = (p: Problem): string => `${p.key}: ${p.problem}${p.line !== null && p.key !== 'YAML' ? ` (line ${p.line})` : ''} — ${p.fix}`;
  const n = sorted.length;
  const message = `pipeline file ${file} has ${n} problem${n === 1 ? '' : 's'}:\n${sorted.map((p) => `  - ${render(p)}`).join('\n')}`;
  const fix =
    code === 'FERRY_CONFIG_ENV_MISSING'
      ? 'Export the environment variables listed, then run again.'
      : code === 'FERRY_CONFIG_UNREADABLE'
        ? 'Fix the YAML at the places listed.'
        : 'Correct each key listed; docs/CONFIG.md describes every key.';
  return new FerryError(code, message, {
    fix,
    details: { file, problems: sorted.map(({ key, problem, fix: f, line }) => ({ key, problem, fix: f, line })) },
  });
}

// ------------------------------------------------------------------------------------------
// Public API

/**
 * Reads, validates and normalizes a pipeline file. Throws FerryError FERRY_CONFIG_UNREADABLE
 * (cannot read, larger than 1 MiB, not UTF-8, unsafe or broken YAML), FERRY_CONFIG_ENV_MISSING
 * or FERRY_CONFIG_INVALID, listing every problem.
 */
export function loadPipelineConfig(path: string, env: Env = process.env): PipelineConfig {
  const file = resolvePath(path);
  let bytes: Buffer;
  try {
    const st = statSync(file);
    if (!st.isFile()) {
      throw new FerryError('FERRY_CONFIG_UNREADABLE', `pipeline file ${file} is not a regular file`, { fix: 'Pass the path of the pipeline YAML file.' });
    }
    if (st.size > MAX_CONFIG_BYTES) throw tooLarge(file, st.size);
    bytes = readFileSync(file);
  } catch (e) {
    if (e instanceof FerryError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by this user' : `cannot be read (${(e as Error).message})`;
    throw new FerryError('FERRY_CONFIG_UNREADABLE', `pipeline file ${file} ${reason}`, {
      fix: code === 'EACCES' ? 'Fix the file permissions.' : 'Check the path of the pipeline file.',
      cause: e,
    });
  }
  if (bytes.length > MAX_CONFIG_BYTES) throw tooLarge(file, bytes.length);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new FerryError('FERRY_CONFIG_UNREADABLE', `pipeline file ${file} is not valid UTF-8`, { fix: 'Save the file as UTF-8.', cause: e });
  }
  return parsePipelineConfig(text, file, env);
}

function tooLarge(file: string, size: number): FerryError {
  return new FerryError('FERRY_CONFIG_UNREADABLE', `pipeline file ${file} is ${size} bytes, more than the ${MAX_CONFIG_BYTES} allowed`, {
    fix: 'A pipeline file is a few dozen lines: check that the path names the right file.',
  });
}

/** Validates and normalizes pipeline file text. `file` is used in messages and resolved into `PipelineConfig.file`. */
export function parsePipelineConfig(text: string, file: string, env: Env = process.env): PipelineConfig {
  const absFile = resolvePath(file);
  const size = Buffer.byteLength(text, 'utf8');
  if (size > MAX_CONFIG_BYTES) throw tooLarge(absFile, size);

  const parsed = parseYaml(text);
  if (parsed.problems.length > 0) throw configError(absFile, parsed.problems, secretValues(parsed.root));
  // Keys contain dots, so a parent cannot be found by cutting at dots: try the exact key, then
  // the route item, then the section.
  const lineOf = (key: string): number | null => {
    const item = /^route\[\d+\]/.exec(key)?.[0];
    return parsed.lines.get(key) ?? (item ? parsed.lines.get(item) : undefined) ?? parsed.lines.get(key.split(/[.[]/)[0] ?? key) ?? null;
  };
  const problems: Problem[] = [];
  const push = (stage: Problem['stage'], p: Omit<Problem, 'line' | 'stage'>): void => {
    problems.push({ ...p, line: lineOf(p.key.replace(/…$/, '')), stage });
  };

  const rawRoot = parsed.root ?? {};
  if (!isRecord(rawRoot)) {
    push('schema', { key: '(file)', problem: `expected a mapping of sections (source, sink, route, pipeline), got ${kindOf(rawRoot)}`, fix: 'see the example in docs/CONFIG.md' });
    throw configError(absFile, problems, []);
  }
  const envProblems: Omit<Problem, 'line'>[] = [];
  const root = substituteAll(rawRoot, [], env, envProblems) as Record<string, unknown>;
  for (const { stage, ...p } of envProblems) push(stage, p);
  const secrets = secretValues(rawRoot, root);

  for (const key of Object.keys(root)) {
    if (!(key in SECTIONS)) push('schema', unknownKeyProblem([], key, root[key]));
  }
  const results: Partial<Record<SectionName, unknown>> = {};
  for (const section of SECTION_NAMES) {
    const value = root[section];
    if (value === undefined || value === null) {
      if (SECTIONS[section].required) {
        push('schema', { key: section, problem: value === null ? 'has no value' : 'is a required section', fix: `add a \`${section}:\` mapping; docs/CONFIG.md has an example` });
      } else {
        results[section] = [];
      }
      continue;
    }
    const schema = section === 'source' ? sourceSchema : section === 'sink' ? sinkSchema : section === 'route' ? routeSchema : pipelineSchema;
    const r = schema.safeParse(withoutNulls(value));
    if (r.success) results[section] = r.data;
    else for (const issue of r.error.issues) for (const p of issueProblems(section, issue, root)) push('schema', p);
  }
  for (const p of crossFieldProblems(root)) push('schema', p);
  const pl = results.pipeline as Partial<z.output<typeof pipelineSchema>> | undefined;
  const heap = pl?.['heap.max-bytes'];
  const queue = pl?.['queue.max-bytes'];
  if (typeof heap === 'number' && typeof queue === 'number' && heap < 2 * queue) {
    const mib = (n: number): string => `${Math.round(n / 2 ** 20)}MiB`;
    push('schema', {
      key: 'pipeline.heap.max-bytes',
      problem: `is ${mib(heap)}, less than twice pipeline.queue.max-bytes (${mib(queue)}): the queued changes alone could fill the heap`,
      fix: `raise it to at least \`${mib(2 * queue)}\`, or lower \`queue.max-bytes\``,
    });
  }

  if (problems.length > 0) throw configError(absFile, problems, secrets);
  return normalize(
    results.source as z.output<typeof sourceSchema>,
    results.sink as z.output<typeof sinkSchema>,
    results.route as z.output<typeof routeSchema>,
    results.pipeline as z.output<typeof pipelineSchema>,
    absFile,
  );
}

function normalize(
  s: z.output<typeof sourceSchema>,
  k: z.output<typeof sinkSchema>,
  r: z.output<typeof routeSchema>,
  p: z.output<typeof pipelineSchema>,
  file: string,
): PipelineConfig {
  const source: MySqlSourceConfig = {
    type: 'mysql',
    hostname: s.hostname,
    port: s.port,
    username: s.username,
    password: new Secret(s.password),
    tables: s.tables.text,
    tablePatterns: s.tables.patterns,
    serverId: s['server-id'] ?? null,
    startup: {
      mode: s['scan.startup.mode'],
      specificOffset: {
        file: s['scan.startup.specific-offset.file'] ?? null,
        pos: s['scan.startup.specific-offset.pos'] ?? null,
        gtidSet: s['scan.startup.specific-offset.gtid-set'] ?? null,
      },
      timestampMillis: s['scan.startup.timestamp-millis'] ?? null,
    },
    snapshotChunkSize: s['scan.snapshot.chunk.size'],
    snapshotChunkBytes: s['scan.snapshot.chunk.bytes'],
    rateLimit: { rowsPerSecond: s['rate-limit.rows-per-second'], bytesPerSecond: s['rate-limit.bytes-per-second'] },
    heartbeatIntervalMs: s['heartbeat.interval'],
    connectTimeoutMs: s['connect.timeout'],
    serverTimeZone: s['server-time-zone'] ?? null,
    keyColumns: s['key-columns'] ?? {},
  };
  const sinkType = k.type === 'postgres' ? 'postgres' : 'mysql';
  const sink: SinkConfig = {
    type: sinkType,
    hostname: k.hostname,
    port: k.port ?? (sinkType === 'postgres' ? 5432 : 3306),
    username: k.username,
    password: new Secret(k.password),
    database: k.database ?? null,
    checkpointSchema: k['checkpoint-schema'],
    batchMaxRows: k['batch.max-rows'],
    zeroDate: k['zero-date'],
  };
  const route: RouteConfig[] = r.map((x) => ({ sourceTable: x['source-table'], sinkTable: x['sink-table'], replaceSymbol: x['replace-symbol'] ?? null }));
  const pipeline: PipelineSettings = {
    name: p.name,
    parallelism: p.parallelism,
    stateDir: resolvePath(p['state-dir']),
    flushIntervalMs: p['flush-interval'],
    queueMaxBytes: p['queue.max-bytes'],
    heapMaxBytes: p['heap.max-bytes'],
    snapshotParallelism: p['snapshot.parallelism'],
    schemaChange: p['schema-change'],
  };
  return { source, sink, route, pipeline, file };
}

// ------------------------------------------------------------------------------------------
// Reference documentation

export const EXAMPLE_PIPELINE_YAML = `source:
  type: mysql
  hostname: 127.0.0.1
  port: 3306
  username: ferry
  password: \${MYSQL_PASSWORD}
  tables: shop\\..*
  server-id: 5400
  scan.startup.mode: initial
  scan.snapshot.chunk.size: 8096
  scan.snapshot.chunk.bytes: 4MiB
  rate-limit.rows-per-second: 0
  rate-limit.bytes-per-second: 0
  heartbeat.interval: 1s
  connect.timeout: 30s
  server-time-zone: Europe/Oslo
sink:
  type: postgres
  hostname: 127.0.0.1
  port: 5432
  username: ferry
  password: \${PG_PASSWORD}
  database: dw
  checkpoint-schema: _ferry
  batch.max-rows: 5000
  zero-date: null
route:
  - source-table: shop\\..*
    sink-table: analytics.<>
    replace-symbol: <>
    description: every shop table into the analytics schema
pipeline:
  name: shop-to-dw
  parallelism: 2
  state-dir: ./.ferry
  snapshot.parallelism: 2
  flush-interval: 200ms
  queue.max-bytes: 64MiB
  heap.max-bytes: 160MiB
  schema-change: evolve
`;

function defaultOf(schema: z.ZodType, meta: FieldMeta): string {
  if (meta.defaultText !== undefined) return meta.defaultText;
  const def = (schema as unknown as { def: { type: string; defaultValue?: unknown } }).def;
  if (def.type === 'default' || def.type === 'prefault') {
    const d = typeof def.defaultValue === 'function' ? (def.defaultValue as () => unknown)() : def.defaultValue;
    return `\`${String(d)}\``;
  }
  if (def.type === 'optional') return '(none)';
  return '**required**';
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** docs/CONFIG.md, generated from the schema (a unit test keeps the file equal to this). */
export function configReference(): string {
  const out: string[] = [];
  out.push('# Pipeline file reference');
  out.push('');
  out.push('<!-- Generated from the schema in src/core/config.ts by configReference(); test/unit/config-reference.test.ts');
  out.push('     fails when this file differs. Regenerate after a build with:');
  out.push("     node -e \"import('./dist/src/core/config.js').then((m) => process.stdout.write(m.configReference()))\" > docs/CONFIG.md -->");
  out.push('');
  out.push('A pipeline file is YAML with four sections: `source`, `sink`, `route` (optional) and `pipeline`.');
  out.push('`ferry check <file>` validates it and lists every problem at once.');
  out.push('');
  out.push('- **Keys contain literal dots**: write `scan.startup.mode: initial` on one line; do not nest `scan:` / `startup:`.');
  out.push('- **Unknown keys are errors**, reported with the closest valid key: `source.hostnme: unknown key — did you mean hostname?`');
  out.push('- **Environment variables**: `${NAME}` anywhere in a string value is replaced by the variable `NAME`; an unset variable is an');
  out.push('  error (FERRY_CONFIG_ENV_MISSING). Write `$${` for a literal `${`. Keys are never substituted.');
  out.push('- **Numbers** may also be written as strings of digits, so `port: ${PG_PORT}` works.');
  out.push('- **Durations** are milliseconds as a number, or a string with a unit: `ms`, `s`, `min` (or `m`), `h` — e.g. `500ms`, `5s`, `1min`.');
  out.push('- **Sizes** are bytes as a number, or a string with a unit: `B`, `KiB`, `MiB`, `GiB` (powers of 1024) or `KB`, `MB`, `GB` (powers of 1000).');
  out.push('- **Regular expressions** are JavaScript syntax, matched against the whole `database.table` (anchored as `^(?:…)$`).');
  out.push('  A repeated group that contains a repeating quantifier, such as `(a+)+`, is refused (catastrophic backtracking).');
  out.push('- **Secrets** (marked below) are never printed: logs, errors and `ferry status` show `******`.');
  out.push('- A key with no value (`key:`) counts as absent. A file is at most 1 MiB; YAML tags, `__proto__` keys, duplicate keys and');
  out.push('  alias expansion beyond 100 nodes are refused.');
  out.push('');
  for (const section of SECTION_NAMES) {
    const { shape, required, description } = SECTIONS[section];
    out.push(`## \`${section}\`${section === 'route' ? ' (list)' : ''}`);
    out.push('');
    out.push(`${required ? '' : 'Optional. '}${description}`);
    out.push('');
    out.push('| key | type | default | description |');
    out.push('| --- | --- | --- | --- |');
    for (const [key, schema] of Object.entries(shape as Record<string, z.ZodType>)) {
      const meta = fieldMeta.get(schema);
      if (!meta) throw new FerryError('FERRY_INTERNAL', `config key ${section}.${key} has no description`);
      const desc = meta.secret ? `${meta.description} **Secret**: never printed.` : meta.description;
      out.push(`| \`${key}\` | ${cell(meta.type)} | ${cell(defaultOf(schema, meta))} | ${cell(desc)} |`);
    }
    out.push('');
  }
  out.push('## Rules between keys');
  out.push('');
  out.push('- `scan.startup.mode: specific-offset` needs `scan.startup.specific-offset.file` and `.pos`, or `.gtid-set`');
  out.push('  (or all three). With any other mode these keys are ignored.');
  out.push('- `scan.startup.mode: timestamp` needs `scan.startup.timestamp-millis`, which any other mode ignores.');
  out.push('- A `postgres` sink needs `database`. A `mysql` sink refuses it: the target database is the schema part of each');
  out.push("  route's `sink-table`, or the source database name when no route matches.");
  out.push('- A route\'s `replace-symbol` must occur in its `sink-table`.');
  out.push('');
  out.push('## Example');
  out.push('');
  out.push('```yaml');
  out.push(EXAMPLE_PIPELINE_YAML.trimEnd());
  out.push('```');
  out.push('');
  return out.join('\n');
}
