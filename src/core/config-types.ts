/**
 * The resolved pipeline configuration: what the rest of the code sees after the pipeline file
 * was parsed, validated, defaulted and normalized once (see config.ts). No code outside
 * config.ts reads the raw YAML.
 */

/** A secret value: prints as `******` in logs, JSON, util.inspect and template strings. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  /** The real value, only for handing to a driver. */
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '******';
  }
  toJSON(): string {
    return '******';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '******';
  }
}

/** What a secret prints as. */
export const MASK = '******';

/** Returned by a `mapTree` leaf function for values it leaves to the walk. */
const WALK = Symbol('walk');

/**
 * A copy of `v` through its arrays and plain objects, with every value `leaf` answers for
 * replaced by its answer (the config holds only plain data, Secrets and RegExps).
 */
function mapTree(v: unknown, leaf: (x: unknown) => unknown): unknown {
  const r = leaf(v);
  if (r !== WALK) return r;
  if (Array.isArray(v)) return v.map((x) => mapTree(x, leaf));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapTree(x, leaf)]));
  return v;
}

/**
 * The resolved configuration as plain JSON-safe data, every secret masked and regular
 * expressions as their source text: what `ferry run` logs at the start. Here rather than in
 * config.ts so the pipeline worker, which gets the configuration already validated, does not
 * load the YAML parser and zod for it.
 */
export function describeConfig(cfg: PipelineConfig): Record<string, unknown> {
  return mapTree(cfg, (x) => (x instanceof Secret ? MASK : x instanceof RegExp ? x.source : WALK)) as Record<string, unknown>;
}

/**
 * The validated configuration in a form `postMessage` can carry to the pipeline worker: a
 * structured clone keeps RegExps and plain data but not a Secret's private field, so secrets
 * travel as `{ [SECRET_KEY]: value }` (between two threads of one process, never to a file or a
 * log) and `configFromTransfer` makes them Secrets again.
 */
const SECRET_KEY = '__ferrySecret';

export function configForTransfer(cfg: PipelineConfig): unknown {
  return mapTree(cfg, (x) => (x instanceof Secret ? { [SECRET_KEY]: x.reveal() } : x instanceof RegExp ? x : WALK));
}

export function configFromTransfer(data: unknown): PipelineConfig {
  return mapTree(data, (x) => {
    if (x instanceof RegExp) return x;
    if (x !== null && typeof x === 'object' && !Array.isArray(x)) {
      const secret = (x as Record<string, unknown>)[SECRET_KEY];
      if (typeof secret === 'string' && Object.keys(x).length === 1) return new Secret(secret);
    }
    return WALK;
  }) as PipelineConfig;
}

export type StartupMode = 'initial' | 'snapshot' | 'latest-offset' | 'specific-offset' | 'timestamp';

export interface MySqlSourceConfig {
  /** `mariadb` in the file is normalized to `mysql`. */
  type: 'mysql';
  hostname: string;
  port: number;
  username: string;
  password: Secret;
  /** The `tables` value as written (comma-separated regular expressions over `db.table`). */
  tables: string;
  /** Compiled, each anchored (`^(?:...)$`). */
  tablePatterns: RegExp[];
  /** Replication client id; null = allocate one at start. */
  serverId: number | null;
  startup: {
    mode: StartupMode;
    specificOffset: { file: string | null; pos: number | null; gtidSet: string | null };
    timestampMillis: number | null;
  };
  /** Rows per snapshot chunk (`scan.snapshot.chunk.size`, default 8096). */
  snapshotChunkSize: number;
  /** Byte budget of one snapshot chunk (`scan.snapshot.chunk.bytes`, default 4 MiB). */
  snapshotChunkBytes: number;
  /** Snapshot read limits (`rate-limit.*`); 0 = none. The stream is never throttled. */
  rateLimit: { rowsPerSecond: number; bytesPerSecond: number };
  /** Heartbeat period asked of the server, ms (`heartbeat.interval`, default 5000). */
  heartbeatIntervalMs: number;
  /** Connection timeout, ms (`connect.timeout`, default 30000). */
  connectTimeoutMs: number;
  /**
   * The source server's time zone as the user states it (`server-time-zone`), or null. Values do
   * not depend on it (TIMESTAMP is UTC in the binlog and read in a UTC session; DATETIME is wall
   * clock): `check` compares it with the server's own setting and warns when they differ.
   */
  serverTimeZone?: string | null;
  /** `key-columns`: per `db.table` without a usable key, the columns that identify a row. */
  keyColumns?: Record<string, string[]>;
}

/**
 * What a PostgreSQL sink writes for a MySQL zero or partial-zero date (`0000-00-00`,
 * `2024-00-15`), which PostgreSQL cannot store. MySQL/MariaDB sinks always keep them unchanged.
 * - `null`: NULL; date, datetime and timestamp columns are created nullable (key columns get `-infinity`).
 * - `-infinity`: the value `-infinity`, which no real MySQL date has; NOT NULL is kept.
 * - `fail`: the write fails with FERRY_SINK_WRITE naming the row.
 */
export type ZeroDatePolicy = 'null' | '-infinity' | 'fail';

/**
 * What the pipeline does with a schema change met in the stream (`pipeline.schema-change`).
 * - `evolve`: the target follows the source: every change is applied (drops included).
 * - `lenient`: changes that lose nothing are applied; drops keep the target's column/table
 *   (dropped columns are made nullable), TRUNCATE is not applied.
 * - `ignore`: no change is applied to existing target tables (CREATE TABLE still creates the
 *   target table); rows keep being decoded with the schema in force at their position (writes
 *   of columns the target lacks fail).
 * - `fail`: the pipeline stops with FERRY_DDL_UNSUPPORTED at the first change (before applying it).
 */
export type SchemaChangePolicy = 'evolve' | 'lenient' | 'ignore' | 'fail';

export interface SinkConfig {
  type: 'postgres' | 'mysql';
  hostname: string;
  port: number;
  username: string;
  password: Secret;
  /** PostgreSQL: the database (required). MySQL: unused. */
  database: string | null;
  /** Where `_ferry_checkpoint` lives: MySQL database / PostgreSQL schema (default `_ferry`). */
  checkpointSchema: string;
  /** Most rows in one lane transaction (`batch.max-rows`, default 5000). */
  batchMaxRows: number;
  /** Zero dates into PostgreSQL (`zero-date`); absent means `null` (configs built by hand in tests). */
  zeroDate?: ZeroDatePolicy;
}

export interface RouteConfig {
  /** Anchored regular expression over `db.table`. */
  sourceTable: RegExp;
  /** Target `schema.table`; `replaceSymbol` in it is replaced by the source table name. */
  sinkTable: string;
  replaceSymbol: string | null;
}

export interface PipelineSettings {
  name: string;
  /** Sink lanes. */
  parallelism: number;
  /** Directory of the SQLite state file (default `./.ferry`, relative to the working directory). */
  stateDir: string;
  /** Longest a change waits in a lane before it is flushed, ms (default 200). */
  flushIntervalMs: number;
  /** Bytes held in the queue between source and lanes before the source is paused (default 64 MiB). */
  queueMaxBytes: number;
  /** Cap of the pipeline worker's JavaScript heap (`ferry run`). */
  heapMaxBytes: number;
  /** Snapshot chunks read at once (`snapshot.parallelism`, default 2). */
  snapshotParallelism: number;
  /** Schema changes met in the stream (`schema-change`); absent means `evolve` (configs built by hand in tests). */
  schemaChange?: SchemaChangePolicy;
}

export interface PipelineConfig {
  source: MySqlSourceConfig;
  sink: SinkConfig;
  route: RouteConfig[];
  pipeline: PipelineSettings;
  /** Absolute path of the pipeline file. */
  file: string;
}
