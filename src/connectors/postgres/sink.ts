/**
 * The PostgreSQL sink.
 *
 * Small row sets go as multi-row `INSERT ... ON CONFLICT (key) DO UPDATE` with bind parameters;
 * large ones are COPYed (text format) into a temporary stage table and merged with one
 * `INSERT ... SELECT ... ON CONFLICT`. Each lane owns one connection and applies its batch and its
 * checkpoint row in one transaction. Every connection starts with `TimeZone=UTC` (set in the
 * startup packet, so no statement can run before it).
 */
import { parseDefault } from '../../core/default-value.js';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type { Row, RowRef, SchemaChange, Value } from '../../core/change.js';
import { lenientColumnChanges, rowOf } from '../../core/change.js';
import type { SinkConfig } from '../../core/config-types.js';
import { groupLaneActions, type UpsertGroup as SharedUpsertGroup, type WritePlan as SharedWritePlan } from '../../core/lane-actions.js';
import type { KeyAction, LaneBatch, LaneCheckpoint, Sink, SinkLane, TargetTable } from '../../core/contracts.js';
import { FerryError, abortError, asFerryError, isFerryError, throwIfAborted } from '../../core/errors.js';
import type { ColumnSchema, TableSchema } from '../../core/schema.js';
import { CopyTextEncoder, pgStringLiteral, pgTextLiteral, quotePgIdent, quotePgTable } from './quote.js';
import { newLossStats, pgColumnType, pgCopyWriter, pgEncoder, pgNotNull, type PgCopyWriter, type PgEncoder, type PgInput, type PgLossStats } from './type-map.js';
import { PieceBuffers, copyTextRowsEncoder, type CopyTextRowsEncoder } from './copy-text.js';
import { WireRun } from './wire-run.js';
import { pendingCopyWriters } from './pending-copy.js';
import { binaryTypeNames, copyBinaryRowsEncoder, copyBinaryValuesEncoder, type CopyBinaryRowsEncoder, type CopyBinaryValuesEncoder } from './copy-binary.js';
import type { SnapshotTextChunk } from '../../core/text-rows.js';

export const CHECKPOINT_TABLE = '_ferry_checkpoint';

/** Row groups at least this large are COPYed into a stage table; smaller ones use INSERT. */
export const COPY_MIN_ROWS = 200;
/** An integer as PostgreSQL prints it: safe inside an array literal as it stands. */
const INTEGER_TEXT = /^-?\d+$/;

/**
 * Statements of a sink transaction that take no parameters (BEGIN, deletes by integer key, COPYs
 * into stage tables, merges from them, the checkpoint row, COMMIT), held and written without
 * waiting for answers: pg sends a query only once the previous one is answered, so each
 * statement sent on its own cost a round trip during which the server waited for Ferry and Ferry
 * for the server. Consecutive statements travel as one simple-query message; a COPY is written
 * at once with its data, behind the statements held before it, as part of a WireRun
 * (wire-run.ts) whose answers `send()` waits for. A lane transaction of the benchmark (8 tables)
 * went from ~27 round trips to ~10 with the statements alone, and to one with the COPYs.
 *
 * Order is kept: a statement that cannot wait (one with parameters, or one that reuses or creates
 * a stage table) first sends what is held. While a run is open nothing else may be queried on
 * the client. A failure stops the message it is in (PostgreSQL skips the rest of a simple-query
 * message after an error, COMMIT included; the later messages fail in the aborted transaction),
 * and the transaction is rolled back as before; `failedTable` names the first target table of
 * the failed message, for the error report.
 */
class HeldStatements {
  readonly #client: pg.ClientBase;
  readonly #sql: string[] = [];
  readonly #tables: TargetTable[] = [];
  #run: WireRun | null = null;
  /** Piece buffers of the run's COPYs, given back once the server has answered all of it. */
  #pieces: Buffer[] = [];
  /** The first target table of a message that failed (for the error report), else null. */
  failedTable: TargetTable | null = null;

  constructor(
    client: pg.ClientBase,
    private readonly buffers: PieceBuffers,
    /** How long a run written ahead may go without an answer (the sink's query timeout). */
    private readonly idleTimeoutMs: number,
  ) {
    this.#client = client;
  }

  add(sql: string, table: TargetTable | null): void {
    this.#sql.push(sql);
    if (table !== null) this.#tables.push(table);
  }

  /**
   * Writes what is held, then `COPY ... FROM STDIN` with `pieces` (its whole data), answered at
   * `send()`. `pooled`: the pieces come from the sink's piece buffers.
   */
  copy(sql: string, pieces: Buffer[], table: TargetTable, pooled: boolean): void {
    const run = this.#run ?? (this.#run = new WireRun(this.#client, this.idleTimeoutMs));
    this.#writeHeld(run);
    run.copy(sql, pieces, table);
    if (pooled) for (const p of pieces) this.#pieces.push(p);
  }

  #writeHeld(run: WireRun): void {
    if (this.#sql.length === 0) return;
    const text = this.#sql.join(';\n');
    run.query(text, this.#tables[0] ?? null);
    this.#sql.length = 0;
    this.#tables.length = 0;
  }

  /**
   * After a failure outside the held statements (an abort, a value that cannot be encoded): drops
   * what is held and waits for the answers to what was already written (never a COMMIT), so that
   * the client is free to roll back.
   */
  async settle(): Promise<void> {
    const run = this.#run;
    this.#run = null;
    this.#sql.length = 0;
    this.#tables.length = 0;
    this.#pieces = [];
    if (run !== null) await run.finish().catch(() => undefined);
  }

  /** Sends what is held and waits for every answer (nothing when nothing is held). */
  async send(): Promise<void> {
    if (this.#run === null && this.#sql.length === 0) return;
    // Statements alone travel as one simple-query message: a run of one message.
    const run = this.#run ?? new WireRun(this.#client, this.idleTimeoutMs);
    this.#run = null;
    this.#writeHeld(run);
    try {
      await run.finish();
    } catch (e) {
      this.failedTable = (run.failedTag as TargetTable | null | undefined) ?? null;
      // Not given back: after a connection failure the socket may still hold them unsent.
      this.#pieces = [];
      throw e;
    }
    this.buffers.give(this.#pieces);
    this.#pieces = [];
  }
}
/** PostgreSQL allows 65535 bind parameters per statement. */
const MAX_PARAMS = 65_000;
const MAX_ROWS_PER_INSERT = 1000;
const MAX_DELETE_KEYS = 5000;

/** The PostgreSQL sink: a Sink plus the counts of values it had to change (TYPES.md). */
export interface PostgresSink extends Sink {
  lossStats(): PgLossStats & Record<string, number>;
}

interface TablePlan {
  target: TargetTable;
  qualified: string;
  cols: string[];
  pk: number[];
  pkList: string;
  encoders: PgEncoder[];
  copyWriters: PgCopyWriter[];
  /** Per column: `"name":` as a JSON object member prefix (set-based statements). */
  jsonKeys: string[];
  /** Per column: the value is JSON text that goes into the document as is (json columns). */
  jsonRaw: boolean[];
  /** Snapshot chunks in text form → COPY text (writeSnapshotText). */
  textEncoder: CopyTextRowsEncoder;
  /** The same in COPY binary format (copy-binary.ts); null when a column kind keeps the table in text. */
  binaryEncoder: CopyBinaryRowsEncoder | null;
  /** The target's primary key is the source key (null: not asked yet); see keyEnforced. */
  keyEnforced: boolean | null;
  /** Stream rows → COPY binary into the stage tables (null: FERRY_PG_COPY=text). */
  valuesEncoder: CopyBinaryValuesEncoder | null;
  /** The target's column types read the binary forms (null: not asked yet); see targetTakesBinary. */
  binaryTypes: boolean | null;
}

type UpsertGroup = SharedUpsertGroup<TablePlan>;

/**
 * SQLSTATEs of a binary COPY refusing text the text format would have changed: U+0000 in text
 * (invalid byte sequence, 22021) or a `\u0000` escape in jsonb (untranslatable character, 22P05).
 */
const BINARY_REFUSED_TEXT = new Set(['22021', '22P05']);

type WritePlan = SharedWritePlan<TablePlan>;

type Client = pg.ClientBase;

/** A key as short readable text for error messages. */
export function describeKey(values: (Value | undefined)[]): string {
  return (
    '(' +
    values
      .map((v) => {
        if (v === undefined) return '?';
        if (v === null) return 'NULL';
        if (Buffer.isBuffer(v)) return `x'${v.subarray(0, 64).toString('hex')}${v.length > 64 ? '…' : ''}'`;
        if (typeof v === 'string') return JSON.stringify(v.length > 200 ? v.slice(0, 200) + '…' : v);
        return v.toString();
      })
      .join(', ') +
    ')'
  );
}

function sinkWriteError(message: string, cause: unknown, details?: Record<string, unknown>): FerryError {
  const detail = cause instanceof Error ? cause.message : cause === undefined ? '' : String(cause);
  return new FerryError('FERRY_SINK_WRITE', detail ? `${message}: ${detail}` : message, {
    cause,
    fix: 'Check the target table definition against the source (types, NOT NULL, lengths) and the sink user grants; the pipeline retries the batch after the cause is fixed.',
    ...(details ? { details } : {}),
  });
}

function pgCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Whether the connection (not the data) failed, so the client must be discarded: SQLSTATE
 * classes 08 and 57P, socket errors, and errors without a SQLSTATE (pg's "Connection terminated").
 * A FerryError counts by its cause; FERRY_ABORTED never does.
 */
function isConnectionError(e: unknown): boolean {
  if (e instanceof FerryError) return e.code !== 'FERRY_ABORTED' && e.cause !== undefined && isConnectionError(e.cause);
  const code = pgCode(e);
  if (code === undefined) return true;
  return code.startsWith('08') || code.startsWith('57P') || code === 'ECONNRESET' || code === 'ECONNREFUSED' || code === 'EPIPE';
}

/**
 * `CREATE ... IF NOT EXISTS` is not race-free in PostgreSQL: two sessions creating the same
 * schema or table at once can fail with unique_violation (23505) or duplicate_* (42P06/42P07).
 * The object exists either way.
 */
async function createIdempotent(client: Client, sql: string): Promise<void> {
  try {
    await client.query(sql);
  } catch (e) {
    const code = pgCode(e);
    if (code === '23505' || code === '42P06' || code === '42P07') return;
    throw e;
  }
}

/** Tuning knobs (tests and benchmarks); the defaults are the measured choice. */
export interface PostgresSinkOptions {
  /** Row groups at least this large go through COPY + merge (default COPY_MIN_ROWS). */
  copyMinRows?: number;
}

export function createPostgresSink(config: SinkConfig, pipelineName: string, options: PostgresSinkOptions = {}): PostgresSink {
  // FERRY_PG_COPY_MIN_ROWS=1 sends every row group through COPY + merge (tests of that path with few rows).
  const copyMinRows = options.copyMinRows ?? (Number(process.env.FERRY_PG_COPY_MIN_ROWS) || COPY_MIN_ROWS);
  const zeroDate = config.zeroDate ?? 'null';
  if (config.database === null || config.database === '') {
    throw new FerryError('FERRY_CONFIG_INVALID', 'the PostgreSQL sink needs a database', {
      fix: 'Set sink.database in the pipeline file.',
    });
  }
  const clientConfig: pg.ClientConfig = {
    host: config.hostname,
    port: config.port,
    user: config.username,
    password: config.password.reveal(),
    database: config.database,
    application_name: `ferry:${pipelineName}`.slice(0, 63),
    // Startup parameters: in force before the first statement of every connection.
    options: '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c client_encoding=UTF8',
    connectionTimeoutMillis: 30_000,
    // A black-holed link must surface as an error the lanes retry, not as a write that hangs
    // until TCP gives up: keepalive probes, and a generous bound on any one statement.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    query_timeout: Number(process.env.FERRY_SINK_QUERY_TIMEOUT_MS ?? 25_000),
  };
  const pool = new pg.Pool({ ...clientConfig, max: 4, idleTimeoutMillis: 60_000 });
  // An idle pooled client that loses its connection emits 'error' on the pool; the pool drops it.
  pool.on('error', () => undefined);
  const stats = newLossStats();
  const lanes = new Set<SinkLane>();
  const plans = new WeakMap<TargetTable, TablePlan>();
  const checkpointTable = quotePgTable(config.checkpointSchema, CHECKPOINT_TABLE);
  let stageCounter = 0;
  let closed = false;
  const pieceBuffers = new PieceBuffers();
  // FERRY_PG_COPY=text: snapshot chunks always in COPY text format (for comparisons).
  const copyBinary = process.env.FERRY_PG_COPY !== 'text';
  // FERRY_PENDING_COPY=off: pending binlog images are decoded before they are encoded (comparisons).
  const pendingCopy = process.env.FERRY_PENDING_COPY !== 'off';

  function unreachable(e: unknown): FerryError {
    return asFerryError(
      e,
      'FERRY_SINK_UNREACHABLE',
      `cannot connect to the PostgreSQL sink at ${config.hostname}:${config.port} as ${config.username}`,
      'Check sink.hostname, sink.port, sink.username, sink.password and sink.database, and pg_hba.conf on the server.',
    );
  }

  const pooledListening = new WeakSet<pg.PoolClient>();
  async function withPooled<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    if (closed) throw new FerryError('FERRY_ABORTED', 'the PostgreSQL sink is closed');
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (e) {
      throw unreachable(e);
    }
    // pg-pool listens for a client's 'error' only while it is idle: a connection lost while the
    // client is checked out (the server gone, a WireRun ending a connection that stopped
    // answering) would be an unhandled 'error' event. The failure reaches the caller through the
    // query that was running; the client is released as broken.
    if (!pooledListening.has(client)) {
      pooledListening.add(client);
      client.on('error', () => undefined);
    }
    let broken: Error | undefined;
    try {
      return await fn(client);
    } catch (e) {
      if (isConnectionError(e)) broken = e instanceof Error ? e : new Error(String(e));
      throw e;
    } finally {
      client.release(broken);
    }
  }

  function planOf(target: TargetTable): TablePlan {
    let plan = plans.get(target);
    if (!plan) {
      requireKey(target.source, `${target.schema}.${target.name}`);
      const cols = target.source.columns.map((c) => quotePgIdent(c.name));
      const pk = target.source.primaryKey;
      plan = {
        target,
        qualified: quotePgTable(target.schema, target.name),
        cols,
        pk,
        pkList: pk.map((i) => cols[i] as string).join(', '),
        encoders: target.source.columns.map((c, i) => pgEncoder(c, stats, zeroDate, pk.includes(i))),
        copyWriters: target.source.columns.map((c, i) => pgCopyWriter(c, stats, zeroDate, pk.includes(i))),
        jsonKeys: target.source.columns.map((c) => `${JSON.stringify(c.name)}:`),
        jsonRaw: target.source.columns.map((c) => c.type.kind === 'json'),
        textEncoder: copyTextRowsEncoder(target.source.columns, zeroDate, pk),
        binaryEncoder: copyBinary ? copyBinaryRowsEncoder(target.source.columns, zeroDate, pk) : null,
        keyEnforced: null,
        valuesEncoder: copyBinary ? copyBinaryValuesEncoder(target.source.columns, zeroDate, pk, undefined, pendingCopy ? pendingCopyWriters(target.source.columns) : null) : null,
        binaryTypes: null,
      };
      plans.set(target, plan);
    }
    return plan;
  }

  function planActions(actions: KeyAction[]): WritePlan {
    return groupLaneActions(actions, planOf);
  }


  function conflictClause(plan: TablePlan, present: number[]): string {
    const pkSet = new Set(plan.pk);
    const updates = present.filter((i) => !pkSet.has(i)).map((i) => plan.cols[i] as string);
    if (updates.length === 0) return ` ON CONFLICT (${plan.pkList}) DO NOTHING`;
    return ` ON CONFLICT (${plan.pkList}) DO UPDATE SET ${updates.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`;
  }

  /**
   * A one-column integer key's values as a PostgreSQL array literal (`{1,-2,3}`), or null when the
   * key is not one integer column or a value is not plain digits. Cheaper to build and for the
   * server to read than the JSON document of deleteFromJson.
   */
  function integerKeyArray(plan: TablePlan, keys: Value[][]): string | null {
    if (plan.pk.length !== 1) return null;
    const i = plan.pk[0] as number;
    if (plan.target.source.columns[i]?.type.kind !== 'int') return null;
    const enc = plan.encoders[i] as PgEncoder;
    let out = '{';
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k] as Value[];
      if (key.length !== 1) return null;
      const v = enc(key[0] as Value);
      if (typeof v !== 'string' || !INTEGER_TEXT.test(v)) return null;
      out += k === 0 ? v : `,${v}`;
    }
    return out + '}';
  }

  /** Deletes the keys with one prepared statement (see upsertFromJson). */
  async function deleteFromJson(client: Client, plan: TablePlan, keys: Value[][], signal: AbortSignal, held: HeldStatements | null = null): Promise<void> {
    const ints = integerKeyArray(plan, keys);
    if (ints !== null) {
      if (signal.aborted) throw abortError(signal);
      const col = plan.target.source.columns[plan.pk[0] as number] as ColumnSchema;
      if (held !== null) {
        // The array literal holds only digits and signs (integerKeyArray checked every value).
        held.add(`DELETE FROM ${plan.qualified} WHERE ${plan.pkList} = ANY('${ints}'::${pgColumnType(col.type)}[])`, plan.target);
        return;
      }
      const text = `DELETE FROM ${plan.qualified} WHERE ${plan.pkList} = ANY($1::${pgColumnType(col.type)}[])`;
      await client.query({ name: statementName(text), text, values: [ints] });
      return;
    }
    await held?.send();
    const width = plan.pk.length;
    const rows: Row[] = keys.map((key) => {
      if (key.length !== width) {
        throw new FerryError('FERRY_INTERNAL', `delete key ${describeKey(key)} does not match the primary key of ${plan.target.schema}.${plan.target.name}`);
      }
      const row: Row = [];
      for (let j = 0; j < width; j++) row[plan.pk[j] as number] = key[j] as Value;
      return row;
    });
    const doc = rowsAsJson(plan, plan.pk, rows);
    if (doc === null) {
      await applyDeletes(client, plan, keys, signal);
      return;
    }
    if (signal.aborted) throw abortError(signal);
    const lhs = width === 1 ? plan.pkList : `(${plan.pkList})`;
    const text = `DELETE FROM ${plan.qualified} WHERE ${lhs} IN (SELECT ${plan.pkList} FROM json_populate_recordset(NULL::${plan.qualified}, $1))`;
    await client.query({ name: statementName(text), text, values: [doc] });
  }

  async function applyDeletes(client: Client, plan: TablePlan, keys: Value[][], signal: AbortSignal): Promise<void> {
    const width = plan.pk.length;
    const perStatement = Math.max(1, Math.min(MAX_DELETE_KEYS, Math.floor(MAX_PARAMS / width)));
    const lhs = width === 1 ? (plan.cols[plan.pk[0] as number] as string) : `(${plan.pkList})`;
    for (let start = 0; start < keys.length; start += perStatement) {
      if (signal.aborted) throw abortError(signal);
      const slice = keys.slice(start, start + perStatement);
      const values: PgInput[] = [];
      const tuples: string[] = [];
      for (const key of slice) {
        if (key.length !== width) {
          throw new FerryError('FERRY_INTERNAL', `delete key ${describeKey(key)} does not match the primary key of ${plan.target.schema}.${plan.target.name}`);
        }
        const ph: string[] = [];
        for (let j = 0; j < width; j++) {
          const enc = plan.encoders[plan.pk[j] as number] as PgEncoder;
          values.push(enc(key[j] as Value));
          ph.push(`$${values.length}`);
        }
        tuples.push(width === 1 ? (ph[0] as string) : `(${ph.join(', ')})`);
      }
      await client.query(`DELETE FROM ${plan.qualified} WHERE ${lhs} IN (${tuples.join(', ')})`, values);
    }
  }

  async function insertRows(client: Client, g: UpsertGroup, signal: AbortSignal): Promise<void> {
    const { plan, present, rows } = g;
    const names = present.map((i) => plan.cols[i] as string).join(', ');
    const head = `INSERT INTO ${plan.qualified} (${names}) VALUES `;
    const tail = conflictClause(plan, present);
    const perStatement = Math.max(1, Math.min(MAX_ROWS_PER_INSERT, Math.floor(MAX_PARAMS / present.length)));
    for (let start = 0; start < rows.length; start += perStatement) {
      if (signal.aborted) throw abortError(signal);
      const slice = rows.slice(start, start + perStatement);
      const values: PgInput[] = [];
      const tuples: string[] = [];
      for (const ref of slice) {
        const row = rowOf(ref);
        let tuple = '(';
        for (let j = 0; j < present.length; j++) {
          const i = present[j] as number;
          values.push((plan.encoders[i] as PgEncoder)(row[i] as Value));
          tuple += j === 0 ? `$${values.length}` : `, $${values.length}`;
        }
        tuples.push(tuple + ')');
      }
      await client.query(head + tuples.join(', ') + tail, values);
    }
  }

  function* copyPieces(g: UpsertGroup): Generator<Buffer> {
    const { plan, present, rows } = g;
    const writers = present.map((i) => plan.copyWriters[i] as PgCopyWriter);
    const width = present.length;
    const out = new CopyTextEncoder();
    for (let r = 0; r < rows.length; r++) {
      const row = rowOf(rows[r] as RowRef);
      for (let j = 0; j < width; j++) (writers[j] as PgCopyWriter)(out, row[present[j] as number] as Value);
      out.endRow();
      if (out.hasPieces) yield* out.takePieces();
    }
    yield* out.finish();
  }

  /**
   * COPY of a group's rows into `table` (a stage table, or the target itself): in binary when
   * `binaryTypes` (the table's columns read the binary forms, see columnsTakeBinary) and the
   * group's kinds and values allow it (copy-binary.ts: the server parses no numeric, timestamp or
   * bytea hex text, and text and bytes need no escaping), else in text. The binary stream is
   * encoded whole before it is sent, so a value it cannot carry sends the group as text instead
   * (a failed COPY would end the lane's transaction).
   */
  async function copyRows(client: Client, table: string, names: string, g: UpsertGroup, binaryTypes: boolean, held: HeldStatements | null = null): Promise<void> {
    const binary = binaryTypes && g.plan.valuesEncoder !== null ? g.plan.valuesEncoder.encode(g.rows, g.present, stats, pieceBuffers) : null;
    if (held !== null) {
      // Written now, behind what is held; answered when the transaction's statements are sent.
      if (binary !== null) held.copy(`COPY ${table} (${names}) FROM STDIN (FORMAT binary)`, binary, g.plan.target, true);
      else held.copy(`COPY ${table} (${names}) FROM STDIN`, [...copyPieces(g)], g.plan.target, false);
      return;
    }
    if (binary !== null) {
      const copy = client.query(copyStreams.from(`COPY ${table} (${names}) FROM STDIN (FORMAT binary)`));
      await pipeline(Readable.from(binary, { objectMode: false }), copy);
      pieceBuffers.give(binary);
      return;
    }
    const copy = client.query(copyStreams.from(`COPY ${table} (${names}) FROM STDIN`));
    await pipeline(Readable.from(copyPieces(g), { objectMode: false }), copy);
  }

  /**
   * Whether the columns of `relation` (a target or stage table) that `columns` name have the types
   * Ferry creates for them (binaryTypeNames), so that COPY binary fields read as written. A table
   * made by hand with other types (bigint for an INT, say) is written in text, which the server
   * converts.
   */
  async function columnsTakeBinary(client: Client, relation: string, columns: readonly ColumnSchema[]): Promise<boolean> {
    const r = await client.query<{ name: string; typname: string }>(
      `SELECT a.attname AS name, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
      [relation],
    );
    const types = new Map(r.rows.map((x) => [x.name, x.typname]));
    return columns.every((c) => binaryTypeNames(c)?.includes(types.get(c.name) ?? '') === true);
  }

  /** columnsTakeBinary of a target table, asked once per table plan (a plan is replaced when the target's columns change). */
  async function targetTakesBinary(client: Client, plan: TablePlan): Promise<boolean> {
    plan.binaryTypes ??= await columnsTakeBinary(client, plan.qualified, plan.target.source.columns);
    return plan.binaryTypes;
  }

  /**
   * Stage tables of a connection, per table plan and set of present columns. They are temporary
   * tables `ON COMMIT DELETE ROWS`, created once per session and emptied by every commit (or
   * rollback), so a merge costs no catalog changes: creating and dropping a table per merge made
   * every small lane batch write a dozen catalog rows. A table plan is replaced when the target's
   * columns change, so a stage never has outdated column types.
   */
  const stages = new WeakMap<Client, WeakMap<TablePlan, Map<string, Stage>>>();

  /** A stage table: its quoted name, and whether COPY binary fits its column types (columnsTakeBinary when it was made). */
  interface Stage {
    name: string;
    binary: boolean;
  }

  async function stageFor(client: Client, plan: TablePlan, present: readonly number[], names: string, held: HeldStatements | null): Promise<Stage> {
    let byPlan = stages.get(client);
    if (!byPlan) stages.set(client, (byPlan = new WeakMap()));
    let byNames = byPlan.get(plan);
    if (!byNames) byPlan.set(plan, (byNames = new Map()));
    let stage = byNames.get(names);
    if (stage === undefined) {
      await held?.send();
      const name = quotePgIdent(`_ferry_stage_${++stageCounter}`);
      // Only the present columns, typed like the target, without its NOT NULL constraints.
      await client.query(`CREATE TEMPORARY TABLE ${name} ON COMMIT DELETE ROWS AS SELECT ${names} FROM ${plan.qualified} WITH NO DATA`);
      // Its types are the target's as of now: a target column changed by hand later leaves this
      // stage as it is (the merge converts), and a stage made after such a change sees it.
      const binary = plan.valuesEncoder !== null && (await columnsTakeBinary(client, name, present.map((i) => plan.target.source.columns[i] as ColumnSchema)));
      stage = { name, binary };
      byNames.set(names, stage);
    }
    return stage;
  }

  /**
   * Forgets the stage tables of a connection whose transaction failed: a stage created in that
   * transaction is gone with its rollback.
   */
  function forgetStages(client: Client): void {
    stages.delete(client);
    stagesUsed.delete(client);
  }
  /** Stages that hold rows in the connection's open transaction (emptied at its end). */
  const stagesUsed = new WeakMap<Client, Set<string>>();

  /** COPY into a stage table with the target's column types, then one merging INSERT. Needs an open transaction. */
  async function copyMerge(client: Client, g: UpsertGroup, signal: AbortSignal, held: HeldStatements | null): Promise<void> {
    const { plan, present } = g;
    const names = present.map((i) => plan.cols[i] as string).join(', ');
    const { name: stage, binary } = await stageFor(client, plan, present, names, held);
    if (signal.aborted) throw abortError(signal);
    // A write plan has one group per table and column set, so a stage is normally used once per
    // transaction; a second use in the same transaction must not merge the first one's rows again
    // (and a merge from it still held must run before it is emptied).
    let used = stagesUsed.get(client);
    if (!used) stagesUsed.set(client, (used = new Set()));
    if (used.has(stage)) {
      await held?.send();
      await client.query(`DELETE FROM ${stage}`);
    }
    used.add(stage);
    // The COPY fills the session's own stage table: held statements (target tables only) may
    // run after it without changing what either does.
    await copyRows(client, stage, names, g, binary, held);
    if (signal.aborted) throw abortError(signal);
    const merge = `INSERT INTO ${plan.qualified} (${names}) SELECT ${names} FROM ${stage}${conflictClause(plan, present)}`;
    if (held !== null) held.add(merge, plan.target);
    else await client.query(merge);
  }

  async function applyUpserts(client: Client, g: UpsertGroup, signal: AbortSignal, held: HeldStatements | null = null): Promise<void> {
    if (g.rows.length >= copyMinRows) {
      await copyMerge(client, g, signal, held);
      return;
    }
    await held?.send();
    if (!(await upsertFromJson(client, g, signal))) await insertRows(client, g, signal);
  }

  /**
   * Names of the prepared statements of the set-based upserts and deletes, by SQL text. The text
   * depends only on the table and the set of columns, so each connection parses and plans it once:
   * the multi-row VALUES statements they replace had a different text for every row count and
   * cost PostgreSQL a parse and plan of hundreds of parameters per statement (about half of its
   * time on a lane batch of the benchmark's workload).
   */
  const statementNames = new Map<string, string>();
  function statementName(text: string): string {
    let name = statementNames.get(text);
    if (name === undefined) statementNames.set(text, (name = `ferry_s${statementNames.size + 1}`));
    return name;
  }

  /**
   * The rows' present columns as a JSON array of objects keyed by column name, for
   * `json_populate_recordset(NULL::<target>, $1)`: the target's own row type converts every
   * member with the column type's input function, as a parameter of that type would. Values are
   * JSON strings (exact text: numbers are never turned into JSON numbers), null, or for json
   * columns the document itself. Null when a value cannot go this way (a json column holding the
   * JSON literal `null`, which json_populate_recordset would turn into SQL NULL).
   */
  function rowsAsJson(plan: TablePlan, present: readonly number[], rows: readonly RowRef[]): string | null {
    let out = '[';
    for (let r = 0; r < rows.length; r++) {
      const row = rowOf(rows[r] as RowRef);
      out += r === 0 ? '{' : ',{';
      for (let j = 0; j < present.length; j++) {
        const i = present[j] as number;
        const v = (plan.encoders[i] as PgEncoder)(row[i] as Value);
        if (j > 0) out += ',';
        out += plan.jsonKeys[i] as string;
        if (v === null) out += 'null';
        else if (typeof v !== 'string') out += `"\\\\x${v.toString('hex')}"`;
        else if (plan.jsonRaw[i]) {
          if (v.trim() === 'null') return null;
          out += v;
        } else out += JSON.stringify(v);
      }
      out += '}';
    }
    return out + ']';
  }

  /** One upsert statement for the group (see rowsAsJson); false when the group must take the VALUES path. */
  async function upsertFromJson(client: Client, g: UpsertGroup, signal: AbortSignal): Promise<boolean> {
    const { plan, present, rows } = g;
    const doc = rowsAsJson(plan, present, rows);
    if (doc === null) return false;
    if (signal.aborted) throw abortError(signal);
    const names = present.map((i) => plan.cols[i] as string).join(', ');
    const text = `INSERT INTO ${plan.qualified} (${names}) SELECT ${names} FROM json_populate_recordset(NULL::${plan.qualified}, $1)${conflictClause(plan, present)}`;
    await client.query({ name: statementName(text), text, values: [doc] });
    return true;
  }

  /**
   * The rows as one upsert group when every row carries every column and a non-NULL key (what
   * snapshot chunks are); null otherwise (the general grouping then sorts them out or refuses them).
   */
  function wholeRowsGroup(plan: TablePlan, rows: Row[]): UpsertGroup | null {
    const width = plan.cols.length;
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r] as Row;
      if (row.length !== width) return null;
      for (let i = 0; i < width; i++) if (row[i] === undefined) return null;
      for (const k of plan.pk) if (row[k] === null) return null;
    }
    return { plan, present: plan.cols.map((_, i) => i), rows };
  }

  /**
   * Writes a snapshot chunk with a plain COPY into the target table when none of its keys can be
   * there yet; returns false (having written nothing) when that is not so, and the caller merges.
   *
   * Why this is safe: a plain COPY and an upsert leave the same rows when no key of the chunk is
   * in the table. The first and last key of the chunk bound it (chunks are read in key order);
   * when the target has no row in that range the COPY runs, in its own transaction. If a key is
   * there after all (the target orders text keys by another collation than the source, a chunk
   * holds a key twice, or another session inserted one meanwhile), the COPY fails with a unique
   * violation and leaves nothing behind; any other failure (a value the column refuses) also
   * leaves nothing, and the merge that follows reports the row by its key. A chunk applied again
   * after a crash finds its rows and is merged (idempotent).
   */
  async function copyIntoFreeRange(client: Client, g: UpsertGroup, signal: AbortSignal): Promise<boolean> {
    const { plan, rows } = g;
    const keyOf = (row: Row): Value[] => plan.pk.map((i) => row[i] as Value);
    if (!(await keyRangeFree(client, plan, keyOf(rowOf(rows[0] as RowRef)), keyOf(rowOf(rows[rows.length - 1] as RowRef))))) return false;
    if (signal.aborted) throw abortError(signal);
    try {
      await copyRows(client, plan.qualified, plan.cols.join(', '), g, await targetTakesBinary(client, plan));
    } catch (e) {
      if (isConnectionError(e) || isFerryError(e)) throw e;
      return false;
    }
    return true;
  }

  /**
   * Whether the target holds no row with a key between `first` and `last` (either order). False
   * also when the probe itself failed for a reason other than the connection (the caller merges).
   */
  async function keyRangeFree(client: Client, plan: TablePlan, first: Value[], last: Value[]): Promise<boolean> {
    const params: PgInput[] = [];
    const keyOf = (key: Value[]): string => {
      const ph = plan.pk.map((i, j) => {
        params.push((plan.encoders[i] as PgEncoder)(key[j] as Value));
        return `$${params.length}`;
      });
      return ph.length === 1 ? (ph[0] as string) : `(${ph.join(', ')})`;
    };
    const lhs = plan.pk.length === 1 ? plan.pkList : `(${plan.pkList})`;
    try {
      const low = keyOf(first);
      const high = keyOf(last);
      const found = (await client.query(`SELECT 1 FROM ${plan.qualified} WHERE ${lhs} BETWEEN SYMMETRIC ${low} AND ${high} LIMIT 1`, params)).rowCount ?? 0;
      return found === 0;
    } catch (e) {
      if (isConnectionError(e) || isFerryError(e)) throw e;
      return false;
    }
  }

  /**
   * Whether the target table's primary key is the plan's key (same columns, same order): then a
   * COPY of keys already there fails with a unique violation and writes nothing. Asked once per
   * table plan.
   */
  async function keyEnforced(client: Client, plan: TablePlan): Promise<boolean> {
    if (plan.keyEnforced === null) {
      const want = plan.pk.map((i) => (plan.target.source.columns[i] as ColumnSchema).name);
      const have = await targetKey(client, plan.target);
      plan.keyEnforced = have.columns.join('\u0000') === want.join('\u0000');
    }
    return plan.keyEnforced;
  }

  /**
   * writeSnapshotText: a plain COPY of the chunk into the target table; false, having written
   * nothing, when keys of the chunk are there already (or a value is refused). As in
   * copyIntoFreeRange a plain COPY leaves the same rows as an upsert when none of the chunk's keys
   * is in the table; here the target's primary key is what tells (the COPY fails with a unique
   * violation and leaves nothing behind), so the key range is not probed first: the probe was a
   * round trip per chunk, about a sixth of a chunk's write time, that found the range free every
   * time but after a restart. Only a target whose primary key is not the source's (a table made
   * by hand) is probed per chunk, as before.
   */
  async function copyTextIntoFreeRange(client: Client, plan: TablePlan, chunk: SnapshotTextChunk, signal: AbortSignal): Promise<boolean> {
    const { text, firstKey, lastKey } = chunk;
    if (firstKey === null || lastKey === null) return false;
    const chunkStats = newLossStats();
    // Binary when the table's kinds and the chunk's values allow it (the server parses less), else text.
    const binary = plan.binaryEncoder !== null && (await targetTakesBinary(client, plan)) ? plan.binaryEncoder.encode(text, chunkStats, pieceBuffers) : null;
    const pieces = binary ?? plan.textEncoder.encode(text, chunkStats, pieceBuffers);
    try {
      if (!(await keyEnforced(client, plan)) && !(await keyRangeFree(client, plan, firstKey, lastKey))) return false;
    } catch (e) {
      if (isConnectionError(e) || isFerryError(e)) throw e;
      return false;
    }
    if (signal.aborted) throw abortError(signal);
    try {
      // stream.pipeline: on a server error (a key already there) it destroys the COPY stream,
      // which drops the pieces not yet sent; the stream would otherwise go on sending them
      // after pg-copy-streams let go of the connection.
      const copy = client.query(copyStreams.from(`COPY ${plan.qualified} (${plan.cols.join(', ')}) FROM STDIN${binary ? ' (FORMAT binary)' : ''}`));
      await pipeline(Readable.from(pieces, { objectMode: false }), copy);
    } catch (e) {
      if (isConnectionError(e) || isFerryError(e)) throw e;
      if (binary && BINARY_REFUSED_TEXT.has((e as { code?: string }).code ?? '')) {
        // Text with U+0000 or JSON with a `\u0000` escape (copy-binary.ts): the text format
        // removes and counts them; this table's chunks go as text from now on.
        plan.binaryEncoder = null;
        return copyTextIntoFreeRange(client, plan, chunk, signal);
      }
      return false;
    }
    stats.nulCharsStripped += chunkStats.nulCharsStripped;
    stats.zeroDatesReplaced += chunkStats.zeroDatesReplaced;
    pieceBuffers.give(pieces);
    return true;
  }

  /** Replays a failed write one row at a time in a transaction that is always rolled back. */
  async function findPoisonRow(client: Client, wp: WritePlan, signal: AbortSignal): Promise<{ table: TargetTable; key: string; cause: unknown } | null> {
    await client.query('BEGIN');
    try {
      for (const d of wp.deletes) {
        for (const key of d.keys) {
          try {
            await applyDeletes(client, d.plan, [key], signal);
          } catch (e) {
            if (isFerryError(e)) throw e;
            return { table: d.plan.target, key: describeKey(key), cause: e };
          }
        }
      }
      for (const g of wp.upserts) {
        for (const ref of g.rows) {
          const row = rowOf(ref);
          try {
            await insertRows(client, { ...g, rows: [row] }, signal);
          } catch (e) {
            if (isFerryError(e)) throw e;
            return { table: g.plan.target, key: describeKey(g.plan.pk.map((i) => row[i])), cause: e };
          }
        }
      }
      return null;
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
    }
  }

  async function applyInTransaction(
    client: Client,
    wp: WritePlan,
    checkpoint: { lane: number; position: string } | null,
    what: string,
    signal: AbortSignal,
  ): Promise<void> {
    let current: TargetTable | null = null;
    stagesUsed.delete(client);
    const held = new HeldStatements(client, pieceBuffers, clientConfig.query_timeout ?? 0);
    try {
      held.add('BEGIN', null);
      for (const d of wp.deletes) {
        current = d.plan.target;
        await deleteFromJson(client, d.plan, d.keys, signal, held);
      }
      for (const g of wp.upserts) {
        current = g.plan.target;
        await applyUpserts(client, g, signal, held);
      }
      current = null;
      if (checkpoint) {
        // Literals, not parameters, so that the row can travel with the held statements: the
        // pipeline name and the position are Ferry's own text (see pgTextLiteral).
        held.add(
          `INSERT INTO ${checkpointTable} (pipeline, lane, position, updated_at) VALUES (${pgTextLiteral(pipelineName)}, ${Math.trunc(checkpoint.lane)}, ${pgTextLiteral(checkpoint.position)}, now()) ` +
            'ON CONFLICT (pipeline, lane) DO UPDATE SET position = EXCLUDED.position, updated_at = EXCLUDED.updated_at',
          null,
        );
      }
      held.add('COMMIT', null);
      await held.send();
    } catch (e) {
      await held.settle();
      // A held message that failed names its first table (the poison search finds the row).
      current = held.failedTable ?? current;
      forgetStages(client);
      if (isConnectionError(e)) {
        throw sinkWriteError(`${what}: the connection to the PostgreSQL sink failed (nothing of this batch was committed unless COMMIT had been sent)`, e);
      }
      await client.query('ROLLBACK').catch(() => undefined);
      if (isFerryError(e)) throw e;
      const poison = current === null ? null : await findPoisonRow(client, wp, signal).catch(() => null);
      if (poison) {
        const t = `${poison.table.schema}.${poison.table.name}`;
        throw sinkWriteError(`${what}: table ${t} rejected the row with key ${poison.key}`, poison.cause, { table: t, key: poison.key });
      }
      const t = current ? `${current.schema}.${current.name}` : `${config.checkpointSchema}.${CHECKPOINT_TABLE}`;
      throw sinkWriteError(`${what}: table ${t} rejected the write`, e, { table: t });
    }
  }

  async function createTable(client: Client, schema: string, name: string, source: TableSchema): Promise<void> {
    requireKey(source, `${schema}.${name}`);
    const cols = source.columns.map((c, i) => `${quotePgIdent(c.name)} ${pgColumnType(c.type)}${pgNotNull(c, source.primaryKey.includes(i), zeroDate) ? ' NOT NULL' : ''}`);
    const pk = source.primaryKey.map((i) => quotePgIdent(source.columns[i]?.name ?? ''));
    await createIdempotent(client, `CREATE SCHEMA IF NOT EXISTS ${quotePgIdent(schema)}`);
    await createIdempotent(
      client,
      `CREATE TABLE IF NOT EXISTS ${quotePgTable(schema, name)} (\n  ${[...cols, `PRIMARY KEY (${pk.join(', ')})`].join(',\n  ')}\n)`,
    );
  }

  const sink: PostgresSink = {
    lossStats: () => ({ nulCharsStripped: stats.nulCharsStripped, zeroDatesReplaced: stats.zeroDatesReplaced }),

    async prepare(tables, signal) {
      throwIfAborted(signal);
      await withPooled(async (client) => {
        try {
          await createIdempotent(client, `CREATE SCHEMA IF NOT EXISTS ${quotePgIdent(config.checkpointSchema)}`);
          await createIdempotent(
            client,
            `CREATE TABLE IF NOT EXISTS ${checkpointTable} (\n` +
              '  pipeline text NOT NULL,\n  lane integer NOT NULL,\n  position text NOT NULL,\n' +
              '  updated_at timestamptz NOT NULL DEFAULT now(),\n  PRIMARY KEY (pipeline, lane)\n)',
          );
          for (const t of tables) {
            throwIfAborted(signal);
            await createTable(client, t.schema, t.name, t.source);
          }
        } catch (e) {
          throw asFerryError(e, 'FERRY_SINK_WRITE', 'preparing the PostgreSQL sink tables failed', 'Grant the sink user CREATE on the database (schemas) and on the target schemas, or create the tables yourself.');
        }
      });
    },

    async applySchemaChange(change: SchemaChange, target: TargetTable, signal: AbortSignal) {
      throwIfAborted(signal);
      const where = `${target.schema}.${target.name}`;
      switch (change.kind) {
        case 'create-table':
          await withPooled((client) => createTable(client, target.schema, target.name, change.table)).catch((e: unknown) => {
            throw asFerryError(e, 'FERRY_SINK_WRITE', `creating ${where} failed`);
          });
          return;
        case 'add-column': {
          for (const name of change.columns) {
            const col = change.table.columns.find((c) => c.name === name);
            if (!col) {
              throw new FerryError('FERRY_SCHEMA_MISMATCH', `add-column ${name} on ${where}: the new schema has no such column`);
            }
            await withPooled((client) => addColumn(client, target, col)).catch((e: unknown) => {
              throw asFerryError(e, 'FERRY_SINK_WRITE', `adding column ${col.name} to ${where} failed`);
            });
          }
          plansReset(target);
          return;
        }
        case 'truncate-table':
          await withPooled((client) => client.query(`TRUNCATE TABLE ${quotePgTable(target.schema, target.name)}`)).catch((e: unknown) => {
            throw asFerryError(e, 'FERRY_SINK_WRITE', `truncating ${where} failed`);
          });
          return;
        case 'alter-columns':
          await withPooled((client) => alterColumns(client, change, target, signal)).catch((e: unknown) => {
            throw asFerryError(e, 'FERRY_SINK_WRITE', `changing columns of ${where} failed (${change.ddl})`, 'Apply the equivalent change to the PostgreSQL target by hand, then restart the pipeline.');
          });
          plansReset(target);
          return;
        case 'rename-table':
          await withPooled((client) => renameTable(client, change.from, target)).catch((e: unknown) => {
            throw asFerryError(e, 'FERRY_SINK_WRITE', `renaming ${change.from.schema}.${change.from.name} to ${where} failed`, 'Rename the target table by hand (or drop a stale table of the new name), then restart the pipeline.');
          });
          return;
        default:
          throw new FerryError('FERRY_DDL_UNSUPPORTED', `the PostgreSQL sink cannot apply a ${change.kind} change to ${where}: ${change.ddl}`, {
            fix: `Apply the equivalent change to the PostgreSQL target by hand (source DDL: ${change.ddl}), then restart the pipeline; or exclude the table.`,
            details: { kind: change.kind, table: where },
          });
      }
    },

    async writeSnapshotRows(table, rows, signal) {
      if (rows.length === 0) return;
      throwIfAborted(signal);
      const whole = wholeRowsGroup(planOf(table), rows);
      if (whole && rows.length >= copyMinRows && (await withPooled((client) => copyIntoFreeRange(client, whole, signal)))) return;
      const wp: WritePlan = whole ? { deletes: [], upserts: [whole] } : groupLaneActions(rows.map((row) => ({ kind: 'upsert' as const, table, row })), planOf);
      await withPooled((client) => applyInTransaction(client, wp, null, 'snapshot write', signal));
    },

    async writeSnapshotText(table, chunk, signal) {
      throwIfAborted(signal);
      const plan = planOf(table);
      if (chunk.text.rowCount === 0) return true;
      if (chunk.text.columns !== plan.cols.length) return false;
      return withPooled((client) => copyTextIntoFreeRange(client, plan, chunk, signal));
    },

    async openLane(lane) {
      let client: pg.Client | null = null;
      let laneClosed = false;
      async function connection(): Promise<pg.Client> {
        if (client) return client;
        const c = new pg.Client(clientConfig);
        c.on('error', () => {
          if (client === c) client = null;
        });
        try {
          await c.connect();
        } catch (e) {
          await c.end().catch(() => undefined);
          throw unreachable(e);
        }
        client = c;
        return c;
      }
      const writer: SinkLane = {
        async write(batch: LaneBatch, signal: AbortSignal) {
          if (laneClosed) throw new FerryError('FERRY_ABORTED', `lane ${lane} is closed`);
          throwIfAborted(signal);
          const c = await connection();
          const wp = planActions(batch.actions);
          try {
            await applyInTransaction(c, wp, { lane, position: batch.checkpoint }, `lane ${lane} write`, signal);
          } catch (e) {
            if (isConnectionError(e)) {
              if (client === c) client = null;
              await c.end().catch(() => undefined);
            }
            throw e;
          }
        },
        async close() {
          laneClosed = true;
          lanes.delete(writer);
          const c = client;
          client = null;
          if (c) await c.end().catch(() => undefined);
        },
      };
      lanes.add(writer);
      return writer;
    },

    async readLaneCheckpoints(signal) {
      throwIfAborted(signal);
      return withPooled(async (client) => {
        try {
          const r = await client.query<{ lane: number; position: string }>(
            `SELECT lane, position FROM ${checkpointTable} WHERE pipeline = $1 ORDER BY lane`,
            [pipelineName],
          );
          return r.rows.map((x): LaneCheckpoint => ({ lane: Number(x.lane), position: String(x.position) }));
        } catch (e) {
          if (pgCode(e) === '42P01' || pgCode(e) === '3F000') return [];
          throw asFerryError(e, 'FERRY_SINK_WRITE', 'reading the lane checkpoints failed');
        }
      });
    },

    async resetLaneCheckpoints(signal) {
      throwIfAborted(signal);
      await withPooled(async (client) => {
        try {
          await client.query(`DELETE FROM ${checkpointTable} WHERE pipeline = $1`, [pipelineName]);
        } catch (e) {
          if (pgCode(e) === '42P01' || pgCode(e) === '3F000') return;
          throw asFerryError(e, 'FERRY_SINK_WRITE', 'removing the lane checkpoints failed');
        }
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...lanes].map((l) => l.close()));
      await pool.end().catch(() => undefined);
    },
  };

  /**
   * ADD COLUMN unless the column exists. The source's default fills the rows already in the
   * target, as the source's ALTER filled its own. A default PostgreSQL cannot take for this type
   * (e.g. a zero date) leaves the column nullable and without default (TYPES.md).
   */
  async function addColumn(client: Client, target: TargetTable, col: ColumnSchema): Promise<void> {
    const table = quotePgTable(target.schema, target.name);
    const base = `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${quotePgIdent(col.name)} ${pgColumnType(col.type)}`;
    const d = parseDefault(col.defaultValue);
    const notNull = pgNotNull(col, false, zeroDate) ? ' NOT NULL' : '';
    let withDefault: string | null = null;
    if (d.kind === 'literal' && !d.value.includes('\0')) withDefault = `${base} DEFAULT ${pgStringLiteral(d.value)}${notNull}`;
    else if (d.kind === 'now' && (col.type.kind === 'timestamp' || col.type.kind === 'datetime')) withDefault = `${base} DEFAULT CURRENT_TIMESTAMP${notNull}`;
    const found = await client.query('SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3', [target.schema, target.name, col.name]);
    if ((found.rowCount ?? 0) > 0) return;
    if (withDefault) {
      try {
        await client.query(withDefault); // autocommit: a refused ALTER leaves nothing behind
        return;
      } catch {
        // fall through: nullable, no default
      }
    }
    await client.query(base);
  }

  /** Columns of a target table: name, type as format_type prints it, NOT NULL. */
  async function targetColumns(client: Client, target: { schema: string; name: string }): Promise<{ name: string; type: string; notNull: boolean }[]> {
    const r = await client.query<{ name: string; type: string; notnull: boolean }>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull FROM pg_attribute a
        WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [quotePgTable(target.schema, target.name)],
    );
    return r.rows.map((x) => ({ name: x.name, type: x.type, notNull: x.notnull }));
  }

  /** Primary key columns of a target table, in key order, and the constraint's name. */
  async function targetKey(client: Client, target: { schema: string; name: string }): Promise<{ name: string | null; columns: string[] }> {
    const r = await client.query<{ conname: string; attname: string }>(
      `SELECT c.conname, a.attname FROM pg_constraint c
         CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
        WHERE c.conrelid = to_regclass($1) AND c.contype = 'p' ORDER BY k.ord`,
      [quotePgTable(target.schema, target.name)],
    );
    return { name: r.rows[0]?.conname ?? null, columns: r.rows.map((x) => x.attname) };
  }

  /**
   * Applies the column changes of one source ALTER to a PostgreSQL target, step by step, each
   * only when the target's catalog shows it is not done yet (a replay sends no DDL). Column
   * order is not mirrored (PostgreSQL cannot reorder; the sink addresses columns by name).
   * A type change converts with `USING col::newtype`; a value that does not convert fails loudly.
   */
  async function alterColumns(client: Client, change: Extract<SchemaChange, { kind: 'alter-columns' }>, target: TargetTable, signal: AbortSignal): Promise<void> {
    const table = quotePgTable(target.schema, target.name);
    const src = change.table;
    const colOf = (name: string): ColumnSchema | undefined => src.columns.find((c) => c.name === name);
    for (const ch of change.lenient ? lenientColumnChanges(change.before, change.table, change.changes) : change.changes) {
      throwIfAborted(signal);
      const cols = await targetColumns(client, target);
      if (cols.length === 0) throw new FerryError('FERRY_SCHEMA_MISMATCH', `target table ${target.schema}.${target.name} does not exist`);
      const byName = new Map(cols.map((c) => [c.name, c]));
      switch (ch.op) {
        case 'add': {
          const col = colOf(ch.column);
          if (col && !byName.has(col.name)) await addColumn(client, target, col);
          break;
        }
        case 'drop': {
          const t = byName.get(ch.column);
          if (!t) break;
          if (!change.lenient) await client.query(`ALTER TABLE ${table} DROP COLUMN ${quotePgIdent(t.name)}`);
          else if (t.notNull) await client.query(`ALTER TABLE ${table} ALTER COLUMN ${quotePgIdent(t.name)} DROP NOT NULL`);
          break;
        }
        case 'rename': {
          const from = byName.get(ch.from);
          if (!from || byName.has(ch.to)) break;
          if (!change.lenient) {
            await client.query(`ALTER TABLE ${table} RENAME COLUMN ${quotePgIdent(ch.from)} TO ${quotePgIdent(ch.to)}`);
            break;
          }
          // lenient: the new name gets the old column's type and values; the old column stays,
          // nullable. One transaction: a crash leaves all of it or none of it.
          await client.query('BEGIN');
          try {
            await client.query(`ALTER TABLE ${table} ADD COLUMN ${quotePgIdent(ch.to)} ${from.type}`);
            await client.query(`UPDATE ${table} SET ${quotePgIdent(ch.to)} = ${quotePgIdent(ch.from)}`);
            if (from.notNull) await client.query(`ALTER TABLE ${table} ALTER COLUMN ${quotePgIdent(ch.from)} DROP NOT NULL`);
            await client.query('COMMIT');
          } catch (e) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw e;
          }
          break;
        }
        case 'modify': {
          const col = colOf(ch.column);
          const t = col ? byName.get(col.name) : undefined;
          if (!col || !t) break;
          const isKey = src.primaryKey.some((i) => src.columns[i]?.name === col.name);
          const type = pgColumnType(col.type);
          const name = quotePgIdent(col.name);
          if (normalPgType(type) !== normalPgType(t.type)) await client.query(`ALTER TABLE ${table} ALTER COLUMN ${name} TYPE ${type} USING ${name}::${type}`);
          const notNull = pgNotNull(col, isKey, zeroDate);
          if (notNull !== t.notNull) await client.query(`ALTER TABLE ${table} ALTER COLUMN ${name} ${notNull ? 'SET' : 'DROP'} NOT NULL`);
          break;
        }
        case 'move':
          break; // PostgreSQL has no column order to follow; columns are addressed by name
        case 'primary-key': {
          const want = src.primaryKey.map((i) => (src.columns[i] as ColumnSchema).name);
          // A table that lost its key keeps the target's (its rows are not delivered meanwhile).
          if (want.length === 0) break;
          const have = await targetKey(client, target);
          if (have.columns.join(',') === want.join(',')) break;
          const drop = have.name ? `DROP CONSTRAINT ${quotePgIdent(have.name)}, ` : '';
          await client.query(`ALTER TABLE ${table} ${drop}ADD PRIMARY KEY (${want.map(quotePgIdent).join(', ')})`);
          break;
        }
      }
    }
  }

  /** ALTER TABLE ... RENAME TO (and SET SCHEMA) on the target, unless it already happened. */
  async function renameTable(client: Client, from: { schema: string; name: string }, to: TargetTable): Promise<void> {
    const exists = async (t: { schema: string; name: string }): Promise<boolean> =>
      (await client.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [quotePgTable(t.schema, t.name)])).rows[0]?.r != null;
    const fromExists = await exists(from);
    const toExists = await exists(to);
    if (!fromExists && toExists) return; // done before a crash
    if (fromExists && toExists) {
      throw new FerryError('FERRY_SCHEMA_MISMATCH', `cannot rename target ${from.schema}.${from.name} to ${to.schema}.${to.name}: both exist`, {
        fix: `Drop or rename the stale target table ${to.schema}.${to.name}, then restart the pipeline.`,
      });
    }
    if (!fromExists) {
      await createTable(client, to.schema, to.name, to.source);
      return;
    }
    await createIdempotent(client, `CREATE SCHEMA IF NOT EXISTS ${quotePgIdent(to.schema)}`);
    await client.query('BEGIN');
    try {
      if (from.name !== to.name) await client.query(`ALTER TABLE ${quotePgTable(from.schema, from.name)} RENAME TO ${quotePgIdent(to.name)}`);
      if (from.schema !== to.schema) await client.query(`ALTER TABLE ${quotePgTable(from.schema, to.name)} SET SCHEMA ${quotePgIdent(to.schema)}`);
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
  }

  function plansReset(target: TargetTable): void {
    plans.delete(target);
  }

  return sink;
}

function requireKey(table: TableSchema, target: string): void {
  if (table.primaryKey.length === 0) {
    throw new FerryError('FERRY_NO_PRIMARY_KEY', `table ${target} has no primary key; the sink writes by key`, {
      fix: `Add a primary key to the source table ${table.schema}.${table.name}, or exclude it from the pipeline's tables.`,
    });
  }
}

/** PostgreSQL type text comparable between pgColumnType and format_type. */
function normalPgType(t: string): string {
  return t.toLowerCase().replace(/^varchar\(/, 'character varying(').replace(/\s+/g, ' ').trim();
}
