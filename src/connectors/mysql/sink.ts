/**
 * The MySQL/MariaDB sink.
 *
 * Writes are multi-row statements (about 1 MiB each, well under the server's
 * `max_allowed_packet`) built straight into reused byte buffers by quote.ts's
 * `MySqlStatementBuffer` and sent as ready COM_QUERY packets (raw-query.ts): one round trip per
 * statement, never one per row, and the next statement is built while the server runs the
 * previous one. Each lane owns one connection (autocommit off) and applies its batch and its
 * checkpoint row in one transaction. Every connection runs `SINK_SESSION_SQL` first (UTC time
 * zone, strict mode, utf8mb4, backslash escapes on).
 */
import mysql from 'mysql2/promise';
import type { Row, RowRef, SchemaChange, Value } from '../../core/change.js';
import { lenientColumnChanges, rowOf } from '../../core/change.js';
import type { SinkConfig } from '../../core/config-types.js';
import { groupLaneActions, type UpsertGroup as SharedUpsertGroup, type WritePlan as SharedWritePlan } from '../../core/lane-actions.js';
import type { KeyAction, LaneBatch, LaneCheckpoint, Sink, SinkLane, TargetTable } from '../../core/contracts.js';
import { FerryError, abortError, asFerryError, isFerryError, throwIfAborted } from '../../core/errors.js';
import type { ColumnSchema, TableSchema } from '../../core/schema.js';
import { BULK_BYTES, BULK_DOUBLE, BULK_INT, BULK_TEXT, BULK_UINT64, MySqlStatementBuffer, SINK_SESSION_SQL, mysqlStringLiteral, quoteMySqlIdent, quoteMySqlTable } from './quote.js';
import { sendRawStatement } from './raw-query.js';
import { announceBulkCapability, isMariaDbConnection, prepareId, probeBulk } from './bulk.js';
import type { PendingImage, RowsPlan } from './binlog/rows.js';
import { isPendingImage, pendingBulkWriter, type PendingBulkWriter } from './pending-bulk.js';
import { mysqlColumnDefinition, mysqlColumnType, mysqlCreateTableSql, requirePrimaryKey } from './sink-types.js';
import { parseDefault } from '../../core/default-value.js';

export const CHECKPOINT_TABLE = '_ferry_checkpoint';

/**
 * Bytes of SQL text after which a statement is cut (at the end of the row that crossed it).
 * About a thousand rows: large enough that per-statement costs vanish, small enough that the
 * next statement is built while the server runs this one, and that few bytes are held.
 */
const STATEMENT_BYTES = 1024 * 1024;
/** Upsert statements prepared per connection for bulk packets at most (bulk.ts); other tables get text statements. */
const MAX_PREPARED_PER_CONNECTION = 256;
/** Most keys in one `DELETE ... IN (...)`. */
const MAX_DELETE_KEYS = 2000;
/** Statements of a transaction on the wire and not yet answered, besides the one being built. */
const STATEMENTS_AHEAD = 2;

type Conn = mysql.Connection;

/** What a table needs for writing, computed once per TargetTable object. */
interface TablePlan {
  target: TargetTable;
  qualified: string;
  /** Quoted column names, aligned with `target.source.columns`. */
  cols: string[];
  pk: number[];
  /** `(a, b)` or `a`: the left side of a key IN list. */
  keyTuple: string;
  /** ENUM columns without a '' label: '' there is the source's index 0. */
  enumNoEmpty: number[];
  /** Bulk parameter kind per column (quote.ts BULK_*): what its values travel as in bulk packets. */
  paramKinds: number[];
}

/** What bulk execution (bulk.ts) knows about one connection. */
interface BulkState {
  /** The server executes bulk packets on this connection. */
  ok: boolean;
  /** Prepared statement ids by statement text. */
  ids: Map<string, number>;
}

/** One SQL statement of a write, with what it touches (for error messages). */
interface Statement {
  /** The statement's bytes (reused for another statement once this one is done). */
  sb: MySqlStatementBuffer;
  table: TargetTable;
  /**
   * The statement writes ENUM index 0 (the source's "invalid value", read as ''), which strict
   * mode refuses: it runs with strict mode off (see `NON_STRICT_SQL`).
   */
  enumZero: boolean;
}

/** Session mode for a statement that writes ENUM index 0: as SINK_SESSION_SQL, without strict mode. */
const NON_STRICT_SQL = "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'";
const STRICT_SQL = "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'";

/** Upserts of one table grouped by the set of columns present in the row image. */
type UpsertGroup = SharedUpsertGroup<TablePlan>;

type WritePlan = SharedWritePlan<TablePlan>;

function sinkWriteError(message: string, cause: unknown, details?: Record<string, unknown>): FerryError {
  const detail = cause instanceof Error ? cause.message : cause === undefined ? '' : String(cause);
  return new FerryError('FERRY_SINK_WRITE', detail ? `${message}: ${detail}` : message, {
    cause,
    fix: 'Check the target table definition against the source (types, NOT NULL, lengths) and the sink user grants; the pipeline retries the batch after the cause is fixed.',
    ...(details ? { details } : {}),
  });
}

/** A key as short readable text for error messages (never a password; values of the key only). */
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

function isMissingTable(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'ER_NO_SUCH_TABLE' || code === 'ER_BAD_DB_ERROR';
}

function isFatal(e: unknown): boolean {
  return (e as { fatal?: unknown } | null)?.fatal === true;
}

/** How a column's values travel in bulk packets (quote.ts BULK_*), by their canonical form (core/change.ts). */
function bulkKindOf(c: ColumnSchema): number {
  switch (c.type.kind) {
    case 'int':
      return c.type.unsigned && c.type.bits === 64 ? BULK_UINT64 : BULK_INT;
    case 'year':
      // As a number: the string '0' would be the year 2000, the number 0 is the zero year.
      return BULK_INT;
    case 'float':
    case 'double':
      return BULK_DOUBLE;
    case 'binary':
    case 'geometry':
    case 'bit':
      return BULK_BYTES;
    default:
      return BULK_TEXT;
  }
}

export function createMySqlSink(config: SinkConfig, pipelineName: string): Sink {
  const connectionOptions = {
    host: config.hostname,
    port: config.port,
    user: config.username,
    password: config.password.reveal(),
    charset: 'UTF8MB4_GENERAL_CI',
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    multipleStatements: false,
    connectTimeout: 30_000,
    // The sink sends finished statements (values are encoded by quote.ts, see its tests); the
    // driver's default formatter would scan every multi-megabyte statement for `?` placeholders.
    // Statements that do pass values still get the driver's formatting.
    queryFormat: (sql: string, values: unknown): string =>
      values === undefined || (Array.isArray(values) && values.length === 0) ? sql : mysql.format(sql, values as Parameters<typeof mysql.format>[1], false, 'Z'),
  } as const;
  const pool = mysql.createPool({ ...connectionOptions, connectionLimit: 4, maxIdle: 4, idleTimeout: 60_000 });
  const initialized = new WeakSet<object>();
  const lanes = new Set<SinkLane>();
  const plans = new WeakMap<TargetTable, TablePlan>();
  const checkpointTable = quoteMySqlTable(config.checkpointSchema, CHECKPOINT_TABLE);
  let statementBytes = STATEMENT_BYTES;
  let closed = false;

  function unreachable(e: unknown): FerryError {
    return asFerryError(
      e,
      'FERRY_SINK_UNREACHABLE',
      `cannot connect to the MySQL sink at ${config.hostname}:${config.port} as ${config.username}`,
      'Check sink.hostname, sink.port, sink.username and sink.password, and that the server accepts connections from this host.',
    );
  }

  async function initSession(conn: Conn): Promise<void> {
    await conn.query(SINK_SESSION_SQL);
    const [rows] = await conn.query('SELECT @@max_allowed_packet AS m');
    const max = Number((rows as { m: string | number }[])[0]?.m ?? 0);
    // A statement may exceed the cut by one row: leave the server's packet limit a wide margin.
    if (max > 0) statementBytes = Math.max(16 * 1024, Math.min(STATEMENT_BYTES, Math.floor(max / 4)));
  }

  /** Runs `fn` with a pooled connection whose session is set up. */
  async function withPooled<T>(fn: (conn: Conn) => Promise<T>): Promise<T> {
    if (closed) throw new FerryError('FERRY_ABORTED', 'the MySQL sink is closed');
    let conn: mysql.PoolConnection;
    try {
      conn = await pool.getConnection();
    } catch (e) {
      throw unreachable(e);
    }
    let broken = false;
    try {
      if (!initialized.has(conn.connection)) {
        await initSession(conn);
        initialized.add(conn.connection);
      }
      return await fn(conn);
    } catch (e) {
      broken = isFatal(e) || isFatal(e instanceof FerryError ? e.cause : undefined);
      throw e;
    } finally {
      if (broken) conn.destroy();
      else conn.release();
    }
  }

  function planOf(target: TargetTable): TablePlan {
    let plan = plans.get(target);
    if (!plan) {
      requirePrimaryKey(target.source, `${target.schema}.${target.name}`);
      const cols = target.source.columns.map((c) => quoteMySqlIdent(c.name));
      const pk = target.source.primaryKey;
      const keyCols = pk.map((i) => cols[i] as string);
      plan = {
        target,
        qualified: quoteMySqlTable(target.schema, target.name),
        cols,
        pk,
        keyTuple: keyCols.length === 1 ? (keyCols[0] as string) : `(${keyCols.join(', ')})`,
        enumNoEmpty: target.source.columns.flatMap((c, i) => (c.type.kind === 'enum' && !c.type.values.includes('') ? [i] : [])),
        paramKinds: target.source.columns.map((c) => bulkKindOf(c)),
      };
      plans.set(target, plan);
    }
    return plan;
  }

  function keyOfRow(plan: TablePlan, row: Row): (Value | undefined)[] {
    return plan.pk.map((i) => row[i]);
  }

  /** Statement buffers of a connection that are free to reuse (a statement in flight holds its own). */
  const freeBuffers = new WeakMap<object, MySqlStatementBuffer[]>();
  function buffersOf(conn: Conn): MySqlStatementBuffer[] {
    // Keyed by the driver's connection: the pool hands out a new wrapper object per checkout.
    const core = (conn as unknown as { connection: object }).connection;
    let list = freeBuffers.get(core);
    if (!list) freeBuffers.set(core, (list = []));
    return list;
  }
  function release(conn: Conn, sb: MySqlStatementBuffer): void {
    const list = buffersOf(conn);
    // Keep two ordinary buffers per connection; one that grew for a huge row goes back to the GC.
    if (list.length < 2 && sb.capacity <= 4 * statementBytes) list.push(sb);
  }

  function* deleteStatements(plan: TablePlan, keys: Value[][], take: () => MySqlStatementBuffer): Generator<Statement> {
    const head = `DELETE FROM ${plan.qualified} WHERE ${plan.keyTuple} IN (`;
    let sb: MySqlStatementBuffer | null = null;
    let n = 0;
    for (const key of keys) {
      if (key.length !== plan.pk.length) {
        throw new FerryError('FERRY_INTERNAL', `delete key ${describeKey(key)} does not match the primary key of ${plan.target.schema}.${plan.target.name}`);
      }
      if (sb === null) {
        sb = take();
        sb.text(head);
        n = 0;
      } else sb.byte(0x2c);
      if (key.length === 1) sb.literal(key[0] as Value);
      else {
        sb.byte(0x28);
        for (let j = 0; j < key.length; j++) {
          if (j > 0) sb.byte(0x2c);
          sb.literal(key[j] as Value);
        }
        sb.byte(0x29);
      }
      n++;
      if (n >= MAX_DELETE_KEYS || sb.sqlBytes >= statementBytes) {
        sb.byte(0x29);
        yield { sb, table: plan.target, enumZero: false };
        sb = null;
      }
    }
    if (sb !== null) {
      sb.byte(0x29);
      yield { sb, table: plan.target, enumZero: false };
    }
  }

  /** `INSERT INTO t (cols) VALUES ` and ` ON DUPLICATE KEY UPDATE ...` of an upsert group. */
  function upsertParts(group: UpsertGroup): { head: string; tail: string } {
    const { plan, present } = group;
    const names = present.map((i) => plan.cols[i] as string);
    const pkSet = new Set(plan.pk);
    let updates = present.filter((i) => !pkSet.has(i)).map((i) => plan.cols[i] as string);
    // A row of key columns only: re-assigning the key makes the duplicate a no-op.
    if (updates.length === 0) updates = [plan.cols[plan.pk[0] as number] as string];
    return {
      head: `INSERT INTO ${plan.qualified} (${names.join(', ')}) VALUES `,
      tail: ` ON DUPLICATE KEY UPDATE ${updates.map((c) => `${c} = VALUES(${c})`).join(', ')}`,
    };
  }

  /** The single-row upsert a group's bulk packets execute (prepared once per connection). */
  function bulkUpsertSql(group: UpsertGroup): string {
    const { head, tail } = upsertParts(group);
    return `${head}(${group.present.map(() => '?').join(', ')})${tail}`;
  }

  /**
   * Upserts of a group as bulk packets of prepared statement `id` (bulk.ts). A row with a value
   * that does not travel as its column's kind (which the canonical value forms rule out) sends
   * it and the rest of the group as text statements.
   */
  function* bulkUpsertStatements(group: UpsertGroup, id: number, take: () => MySqlStatementBuffer): Generator<Statement> {
    const { plan, present, rows } = group;
    const kinds = Uint8Array.from(present, (i) => plan.paramKinds[i] as number);
    const zeroCols = plan.enumNoEmpty.filter((i) => present.includes(i));
    let sb: MySqlStatementBuffer | null = null;
    let enumZero = false;
    /** Index of the first row of the packet being built. */
    let first = 0;
    // Pending binlog images of a group of every column are written from their bytes
    // (pending-bulk.ts); a writer per rows plan (one per source table map, so mostly one).
    const fromBytes = pendingBulk && present.length === plan.cols.length && present.every((c, j) => c === j);
    let writerPlan: RowsPlan | null = null;
    let writer: PendingBulkWriter | null = null;
    for (let r = 0; r < rows.length; r++) {
      const ref = rows[r] as RowRef;
      if (sb === null) {
        sb = take().bulk(id, kinds);
        enumZero = false;
        first = r;
      }
      if (fromBytes && isPendingImage(ref)) {
        if (ref.plan !== writerPlan) {
          writerPlan = ref.plan;
          writer = pendingBulkWriter(ref.plan, kinds, zeroCols);
        }
      } else writer = writerPlan = null;
      if (writer !== null && writer.write(ref as PendingImage, sb)) {
        if (writer.enumZero) enumZero = true;
      } else {
        const row = rowOf(ref);
        for (let j = 0; j < present.length; j++) {
          if (!sb.param(row[present[j] as number] as Value, kinds[j] as number)) {
            yield* upsertStatements({ plan, present, rows: rows.slice(first) }, take);
            return;
          }
        }
        for (const i of zeroCols) if (row[i] === '') enumZero = true;
      }
      if (sb.sqlBytes >= statementBytes) {
        yield { sb, table: plan.target, enumZero };
        sb = null;
      }
    }
    if (sb !== null) yield { sb, table: plan.target, enumZero };
  }

  function* upsertStatements(group: UpsertGroup, take: () => MySqlStatementBuffer): Generator<Statement> {
    const { plan, present, rows } = group;
    const { head, tail } = upsertParts(group);
    const zeroCols = plan.enumNoEmpty.filter((i) => present.includes(i));
    let sb: MySqlStatementBuffer | null = null;
    let enumZero = false;
    for (const ref of rows) {
      const row = rowOf(ref);
      if (sb === null) {
        sb = take();
        sb.text(head);
        enumZero = false;
      } else sb.byte(0x2c);
      sb.byte(0x28);
      for (let j = 0; j < present.length; j++) {
        if (j > 0) sb.byte(0x2c);
        sb.literal(row[present[j] as number] as Value);
      }
      sb.byte(0x29);
      for (const i of zeroCols) if (row[i] === '') enumZero = true;
      if (sb.sqlBytes >= statementBytes) {
        sb.text(tail);
        yield { sb, table: plan.target, enumZero };
        sb = null;
      }
    }
    if (sb !== null) {
      sb.text(tail);
      yield { sb, table: plan.target, enumZero };
    }
  }

  /**
   * Every statement of a write plan, built one at a time: deletes first, then upserts (as bulk
   * packets for the groups `bulk` has a prepared statement for).
   */
  function* statementsOf(wp: WritePlan, take: () => MySqlStatementBuffer, bulk: Map<UpsertGroup, number> | null): Generator<Statement> {
    for (const d of wp.deletes) yield* deleteStatements(d.plan, d.keys, take);
    for (const g of wp.upserts) {
      const id = bulk?.get(g);
      if (id !== undefined) yield* bulkUpsertStatements(g, id, take);
      else yield* upsertStatements(g, take);
    }
  }

  const bulkStates = new WeakMap<object, BulkState>();
  // FERRY_MYSQL_BULK=off: text statements only (for comparisons, or a proxy that mishandles bulk packets).
  const bulkWanted = process.env.FERRY_MYSQL_BULK !== 'off' && announceBulkCapability();
  // FERRY_PENDING_BULK=off: pending images are decoded before they are written (for comparisons).
  const pendingBulk = process.env.FERRY_PENDING_BULK !== 'off';
  /**
   * Prepared statement ids for the upsert groups of `wp` when the server behind `conn` takes
   * bulk packets (probed once per connection); null when it does not.
   */
  async function bulkIds(conn: Conn, wp: WritePlan): Promise<Map<UpsertGroup, number> | null> {
    if (!bulkWanted || wp.upserts.length === 0) return null;
    const core = (conn as unknown as { connection: object }).connection;
    let state = bulkStates.get(core);
    if (!state) {
      // The checkpoint table exists once the sink is prepared; the probe matches no row of it.
      const probe = `UPDATE ${checkpointTable} SET lane = lane WHERE pipeline = ? AND 1 = 0`;
      state = { ok: isMariaDbConnection(conn) && (await probeBulk(conn, probe)), ids: new Map() };
      bulkStates.set(core, state);
    }
    if (!state.ok) return null;
    const out = new Map<UpsertGroup, number>();
    for (const g of wp.upserts) {
      const sql = bulkUpsertSql(g);
      let id = state.ids.get(sql);
      if (id === undefined) {
        // Prepared statements count against the server's max_prepared_stmt_count (all sessions):
        // past a few hundred tables per connection, or when the server refuses to prepare
        // (that limit, a missing table), a group goes as text statements, which then report
        // whatever is wrong with the table.
        if (state.ids.size >= MAX_PREPARED_PER_CONNECTION) continue;
        try {
          id = await prepareId(conn, sql);
        } catch (e) {
          if (isFatal(e)) throw e;
          id = -1;
        }
        state.ids.set(sql, id);
      }
      if (id >= 0) out.set(g, id);
    }
    return out;
  }

  /**
   * Sends one statement; ENUM index 0 needs strict mode off for just this statement. `ahead`: may
   * go on the wire before the statements queued before it are answered (sendRawStatement).
   */
  function sendStatement(conn: Conn, s: Statement, ahead = false): Promise<unknown> {
    const packet = s.sb.packet();
    if (!s.enumZero) return sendRawStatement(conn, packet, ahead);
    // Queued back to back on the connection: strict mode is back on whatever the statement does.
    return Promise.all([conn.query(NON_STRICT_SQL), sendRawStatement(conn, packet), conn.query(STRICT_SQL)]);
  }

  /**
   * Runs the statements in order on `conn`, then `tail` (a statement packet, or null). Each goes
   * on the wire as soon as it is built, behind the ones not yet answered (at most
   * STATEMENTS_AHEAD of them), so the server goes from one to the next without waiting for this
   * process; building the next overlaps the server's work. `onFailing` learns which statement
   * failed (null: the tail). A statement behind a failing one still runs: callers run this inside
   * a transaction they roll back (lane connections have autocommit off, so even a deadlock's
   * implicit rollback cannot let a later statement commit on its own).
   */
  async function runStatements(conn: Conn, statements: Iterable<Statement>, signal: AbortSignal, onFailing: (s: Statement | null) => void, tail: Buffer | null = null): Promise<void> {
    const pending: { s: Statement; done: Promise<unknown> }[] = [];
    const settle = async (x: { s: Statement; done: Promise<unknown> }): Promise<void> => {
      onFailing(x.s);
      await x.done;
      release(conn, x.s.sb);
    };
    for (const s of statements) {
      if (signal.aborted) throw abortError(signal);
      const done = sendStatement(conn, s, true);
      // Awaited below, in order; after a failure the ones behind it are not awaited (and their
      // buffers not reused).
      done.catch(() => undefined);
      pending.push({ s, done });
      if (pending.length > STATEMENTS_AHEAD) await settle(pending.shift() as { s: Statement; done: Promise<unknown> });
    }
    const tailDone = tail === null ? null : sendRawStatement(conn, tail, true);
    tailDone?.catch(() => undefined);
    while (pending.length > 0) await settle(pending.shift() as { s: Statement; done: Promise<unknown> });
    onFailing(null);
    if (tailDone !== null) await tailDone;
  }

  function takerFor(conn: Conn): () => MySqlStatementBuffer {
    const free = buffersOf(conn);
    return () => {
      const sb = free.pop() ?? new MySqlStatementBuffer(statementBytes + 64 * 1024);
      sb.reset();
      return sb;
    };
  }

  /** Groups rows of one table by which columns they carry (partial images keep absent columns untouched). */
  function planActions(actions: KeyAction[]): WritePlan {
    return groupLaneActions(actions, planOf);
  }

  /**
   * After a failed batch: replays it one row at a time inside a transaction that is always
   * rolled back, to name the row the server rejects. Returns null when every row passes alone.
   */
  async function findPoisonRow(conn: Conn, wp: WritePlan, signal: AbortSignal): Promise<{ table: TargetTable; key: string; cause: unknown } | null> {
    await conn.query('START TRANSACTION');
    const sb = new MySqlStatementBuffer();
    const take = (): MySqlStatementBuffer => {
      sb.reset();
      return sb;
    };
    try {
      for (const d of wp.deletes) {
        for (const key of d.keys) {
          throwIfAborted(signal);
          try {
            for (const s of deleteStatements(d.plan, [key], take)) await sendStatement(conn, s);
          } catch (e) {
            return { table: d.plan.target, key: describeKey(key), cause: e };
          }
        }
      }
      for (const g of wp.upserts) {
        for (const ref of g.rows) {
          throwIfAborted(signal);
          const row = rowOf(ref);
          try {
            for (const s of upsertStatements({ ...g, rows: [row] }, take)) await sendStatement(conn, s);
          } catch (e) {
            return { table: g.plan.target, key: describeKey(keyOfRow(g.plan, row)), cause: e };
          }
        }
      }
      return null;
    } finally {
      await conn.query('ROLLBACK').catch(() => undefined);
    }
  }

  /**
   * Runs the statements (and `extra`, the checkpoint upsert) in one transaction. On failure
   * rolls back, finds the offending row when it can, and throws FERRY_SINK_WRITE. `begin`:
   * whether to send START TRANSACTION (lane connections run with autocommit off instead).
   */
  async function applyInTransaction(conn: Conn, wp: WritePlan, extra: string | null, what: string, signal: AbortSignal, begin: boolean): Promise<void> {
    let current: Statement | null = null;
    try {
      const bulk = await bulkIds(conn, wp);
      if (begin) await conn.query('START TRANSACTION');
      const tail = extra === null ? null : new MySqlStatementBuffer(extra.length * 3 + 64).text(extra).packet();
      await runStatements(
        conn,
        statementsOf(wp, takerFor(conn), bulk),
        signal,
        (s) => {
          current = s;
        },
        tail,
      );
      current = null;
      await conn.query('COMMIT');
    } catch (e) {
      if (isFatal(e)) {
        throw sinkWriteError(`${what}: the connection to the MySQL sink failed (nothing of this batch was committed)`, e);
      }
      await conn.query('ROLLBACK').catch(() => undefined);
      if (isFerryError(e)) throw e;
      const failing = current as Statement | null;
      const poison = failing === null ? null : await findPoisonRow(conn, wp, signal).catch(() => null);
      if (poison) {
        const t = `${poison.table.schema}.${poison.table.name}`;
        throw sinkWriteError(`${what}: table ${t} rejected the row with key ${poison.key}`, poison.cause, { table: t, key: poison.key });
      }
      const t = failing ? `${failing.table.schema}.${failing.table.name}` : config.checkpointSchema + '.' + CHECKPOINT_TABLE;
      throw sinkWriteError(`${what}: table ${t} rejected the write`, e, { table: t });
    }
  }

  /** `databases`: databases this caller already made sure of (one CREATE DATABASE per database, not per table). */
  async function createTable(conn: Conn, schema: string, name: string, source: TableSchema, databases?: Set<string>): Promise<void> {
    if (!databases?.has(schema)) {
      await conn.query(`CREATE DATABASE IF NOT EXISTS ${quoteMySqlIdent(schema)} CHARACTER SET utf8mb4`);
      databases?.add(schema);
    }
    await conn.query(mysqlCreateTableSql(schema, name, source));
  }

  const sink: Sink = {
    async prepare(tables, signal) {
      await withPooled(async (conn) => {
        try {
          throwIfAborted(signal);
          await conn.query(`CREATE DATABASE IF NOT EXISTS ${quoteMySqlIdent(config.checkpointSchema)} CHARACTER SET utf8mb4`);
          await conn.query(
            `CREATE TABLE IF NOT EXISTS ${checkpointTable} (\n` +
              '  pipeline varchar(255) NOT NULL,\n  lane int NOT NULL,\n  position text NOT NULL,\n' +
              '  updated_at timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n  PRIMARY KEY (pipeline, lane)\n' +
              ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4',
          );
          const databases = new Set<string>();
          for (const t of tables) {
            throwIfAborted(signal);
            await createTable(conn, t.schema, t.name, t.source, databases);
          }
        } catch (e) {
          throw asFerryError(e, 'FERRY_SINK_WRITE', 'preparing the MySQL sink tables failed', 'Grant the sink user CREATE on the target databases, or create the tables yourself.');
        }
      });
    },

    async applySchemaChange(change: SchemaChange, target: TargetTable, signal: AbortSignal) {
      throwIfAborted(signal);
      const where = `${target.schema}.${target.name}`;
      switch (change.kind) {
        case 'create-table':
          await withPooled((conn) => createTable(conn, target.schema, target.name, change.table)).catch((e: unknown) => {
            throw asFerryError(e, 'FERRY_SINK_WRITE', `creating ${where} failed`);
          });
          return;
        case 'add-column': {
          for (const name of change.columns) {
            const at = change.table.columns.findIndex((c) => c.name === name);
            const col: ColumnSchema | undefined = change.table.columns[at];
            if (!col) {
              throw new FerryError('FERRY_SCHEMA_MISMATCH', `add-column ${name} on ${where}: the new schema has no such column`);
            }
            // Same place as on the source, so a MySQL target keeps the source's column order.
            const prev = at > 0 ? change.table.columns[at - 1] : undefined;
            const placement = prev ? ` AFTER ${quoteMySqlIdent(prev.name)}` : ' FIRST';
            await withPooled(async (conn) => {
              const [rows] = await conn.query(
                'SELECT COUNT(*) AS n FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ' +
                  `${mysqlStringLiteral(target.schema)} AND TABLE_NAME = ${mysqlStringLiteral(target.name)} AND COLUMN_NAME = ${mysqlStringLiteral(col.name)}`,
              );
              if (Number((rows as { n: string | number }[])[0]?.n ?? 0) > 0) return;
              // The default fills the rows already in the target, as the source's ALTER filled its own.
              await conn.query(`ALTER TABLE ${quoteMySqlTable(target.schema, target.name)} ADD COLUMN ${mysqlColumnDefinition(col, true)}${placement}`);
            }).catch((e: unknown) => {
              throw asFerryError(e, 'FERRY_SINK_WRITE', `adding column ${col.name} to ${where} failed`);
            });
          }
          return;
        }
        case 'truncate-table':
          await withPooled((conn) => conn.query(`TRUNCATE TABLE ${quoteMySqlTable(target.schema, target.name)}`)).catch((e: unknown) => {
            throw asFerryError(e, 'FERRY_SINK_WRITE', `truncating ${where} failed`);
          });
          return;
        case 'alter-columns':
          await withPooled((conn) => alterColumns(conn, change, target, signal)).catch((e: unknown) => {
            throw asFerryError(e, 'FERRY_SINK_WRITE', `changing columns of ${where} failed (${change.ddl})`, 'Apply the change to the target table by hand, then restart the pipeline.');
          });
          return;
        case 'rename-table':
          await withPooled((conn) => renameTable(conn, change.from, target)).catch((e: unknown) => {
            throw asFerryError(e, 'FERRY_SINK_WRITE', `renaming ${change.from.schema}.${change.from.name} to ${where} failed`, 'Rename the target table by hand (or drop a stale table of the new name), then restart the pipeline.');
          });
          return;
        default:
          throw new FerryError('FERRY_DDL_UNSUPPORTED', `the MySQL sink cannot apply a ${change.kind} change to ${where}: ${change.ddl}`, {
            fix: `Apply the change to the target by hand (it was: ${change.ddl}), then restart the pipeline; or exclude the table.`,
            details: { kind: change.kind, table: where },
          });
      }
    },

    async writeSnapshotRows(table, rows, signal) {
      if (rows.length === 0) return;
      throwIfAborted(signal);
      const wp: WritePlan = groupLaneActions(rows.map((row) => ({ kind: 'upsert' as const, table, row })), planOf);
      await withPooled((conn) => applyInTransaction(conn, wp, null, 'snapshot write', signal, true));
    },

    async openLane(lane) {
      let conn: Conn | null = null;
      let laneClosed = false;
      async function connection(): Promise<Conn> {
        if (conn) return conn;
        let c: Conn;
        try {
          c = await mysql.createConnection(connectionOptions);
        } catch (e) {
          throw unreachable(e);
        }
        // A dropped connection surfaces as an 'error' event as well as a failed query.
        c.on('error', () => {
          if (conn === c) conn = null;
        });
        try {
          await initSession(c);
          // Every lane write is one transaction ended by COMMIT or ROLLBACK; with autocommit off
          // no statement of it can commit on its own, even one queued behind a statement whose
          // deadlock rolled the transaction back.
          await c.query('SET SESSION autocommit = 0');
        } catch (e) {
          c.destroy();
          throw unreachable(e);
        }
        conn = c;
        return c;
      }
      const writer: SinkLane = {
        async write(batch: LaneBatch, signal: AbortSignal) {
          if (laneClosed) throw new FerryError('FERRY_ABORTED', `lane ${lane} is closed`);
          throwIfAborted(signal);
          const c = await connection();
          const wp = planActions(batch.actions);
          const checkpoint =
            `INSERT INTO ${checkpointTable} (pipeline, lane, position, updated_at) VALUES ` +
            `(${mysqlStringLiteral(pipelineName)}, ${lane}, ${mysqlStringLiteral(batch.checkpoint)}, CURRENT_TIMESTAMP(6)) ` +
            'ON DUPLICATE KEY UPDATE position = VALUES(position), updated_at = VALUES(updated_at)';
          try {
            await applyInTransaction(c, wp, checkpoint, `lane ${lane} write`, signal, false);
          } catch (e) {
            const cause = e instanceof FerryError ? e.cause : e;
            if (isFatal(cause)) {
              conn = null;
              c.destroy();
            }
            throw e;
          }
        },
        async close() {
          laneClosed = true;
          lanes.delete(writer);
          const c = conn;
          conn = null;
          if (c) await c.end().catch(() => c.destroy());
        },
      };
      lanes.add(writer);
      return writer;
    },

    async readLaneCheckpoints(signal) {
      throwIfAborted(signal);
      return withPooled(async (conn) => {
        try {
          const [rows] = await conn.query(
            `SELECT lane, position FROM ${checkpointTable} WHERE pipeline = ${mysqlStringLiteral(pipelineName)} ORDER BY lane`,
          );
          return (rows as { lane: number | string; position: string }[]).map(
            (r): LaneCheckpoint => ({ lane: Number(r.lane), position: String(r.position) }),
          );
        } catch (e) {
          if (isMissingTable(e)) return [];
          throw asFerryError(e, 'FERRY_SINK_WRITE', 'reading the lane checkpoints failed');
        }
      });
    },

    async resetLaneCheckpoints(signal) {
      throwIfAborted(signal);
      await withPooled(async (conn) => {
        try {
          await conn.query(`DELETE FROM ${checkpointTable} WHERE pipeline = ${mysqlStringLiteral(pipelineName)}`);
        } catch (e) {
          if (isMissingTable(e)) return;
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
  return sink;
}

/** A column of a target table as information_schema reports it. */
interface TargetColumn {
  name: string;
  columnType: string;
  nullable: boolean;
  charset: string | null;
  collation: string | null;
  /** COLUMN_DEFAULT: SQL text (MariaDB ≥ 10.2.7), `NULL`, or null for none. */
  defaultText: string | null;
}

async function targetColumns(conn: Conn, schema: string, name: string): Promise<TargetColumn[]> {
  const [rows] = await conn.query(
    'SELECT COLUMN_NAME AS n, COLUMN_TYPE AS t, IS_NULLABLE AS nl, CHARACTER_SET_NAME AS cs, COLLATION_NAME AS co, COLUMN_DEFAULT AS d ' +
      `FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${mysqlStringLiteral(schema)} AND TABLE_NAME = ${mysqlStringLiteral(name)} ORDER BY ORDINAL_POSITION`,
  );
  return (rows as { n: string; t: string; nl: string; cs: string | null; co: string | null; d: string | null }[]).map((r) => ({
    name: String(r.n),
    columnType: String(r.t),
    nullable: r.nl === 'YES',
    charset: r.cs,
    collation: r.co,
    defaultText: r.d,
  }));
}

async function targetKey(conn: Conn, schema: string, name: string): Promise<string[]> {
  const [rows] = await conn.query(
    'SELECT COLUMN_NAME AS n FROM information_schema.STATISTICS WHERE INDEX_NAME = \'PRIMARY\' AND ' +
      `TABLE_SCHEMA = ${mysqlStringLiteral(schema)} AND TABLE_NAME = ${mysqlStringLiteral(name)} ORDER BY SEQ_IN_INDEX`,
  );
  return (rows as { n: string }[]).map((r) => String(r.n));
}

async function tableExists(conn: Conn, schema: string, name: string): Promise<boolean> {
  const [rows] = await conn.query(
    `SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${mysqlStringLiteral(schema)} AND TABLE_NAME = ${mysqlStringLiteral(name)}`,
  );
  return Number((rows as { n: string | number }[])[0]?.n ?? 0) > 0;
}

/** Type text comparable between `mysqlColumnType` and COLUMN_TYPE: no integer display widths, no `(0)` fsp. */
function normalType(t: string): string {
  return t
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/^(tinyint|smallint|mediumint|int|integer|bigint)\(\d+\)/, '$1')
    .replace(/^integer\b/, 'int')
    .replace(/^(datetime|timestamp|time)\(0\)/, '$1')
    .replace(/^json$/, 'longtext')
    .trim();
}

/** Default text comparable between the schema model and COLUMN_DEFAULT. */
function normalDefault(d: string | null): string {
  if (d === null) return 'none';
  const p = parseDefault(d);
  if (p.kind === 'literal') return `'${p.value}'`;
  if (p.kind === 'now') return 'now';
  return p.kind === 'expression' ? p.text.toLowerCase() : p.kind;
}

/** Whether the target column already has the definition the schema model asks for. */
function sameDefinition(t: TargetColumn, col: ColumnSchema): boolean {
  if (normalType(t.columnType) !== normalType(mysqlColumnType(col))) return false;
  if (t.nullable !== col.nullable) return false;
  if (col.type.kind === 'string' && col.type.charset !== 'binary' && t.charset !== null && t.charset !== col.type.charset) return false;
  const want = normalDefault(col.defaultValue);
  const have = normalDefault(t.defaultText);
  return want === have || (want === 'none' && have === 'null') || (want === 'null' && have === 'none');
}

/** `name type [CHARACTER SET c COLLATE x] NULL|NOT NULL [DEFAULT d]` of a column as the target has it. */
function definitionOfTarget(t: TargetColumn, nullable = t.nullable): string {
  let sql = `${quoteMySqlIdent(t.name)} ${t.columnType}`;
  if (t.charset) sql += ` CHARACTER SET ${quoteMySqlIdent(t.charset)}`;
  if (t.collation) sql += ` COLLATE ${quoteMySqlIdent(t.collation)}`;
  sql += nullable ? ' NULL' : ' NOT NULL';
  if (t.defaultText !== null && !(t.defaultText === 'NULL' && !nullable)) sql += ` DEFAULT ${t.defaultText}`;
  return sql;
}

/**
 * ` AFTER x` / ` FIRST`: the place of `column` in `table` among the columns the target has (a
 * target kept under `lenient` may hold more columns than the source).
 */
function placement(table: TableSchema, column: string, present: Set<string>): string {
  const at = table.columns.findIndex((c) => c.name.toLowerCase() === column.toLowerCase());
  for (let i = at - 1; i >= 0; i--) {
    const prev = table.columns[i] as ColumnSchema;
    if (present.has(prev.name.toLowerCase())) return ` AFTER ${quoteMySqlIdent(prev.name)}`;
  }
  return ' FIRST';
}

/**
 * Applies the column changes of one ALTER to a MariaDB/MySQL target, step by step. Before each
 * step it reads the target's information_schema and skips the step when the target already is
 * as the step would leave it, so a replay after a crash changes nothing (and sends no DDL).
 */
async function alterColumns(conn: Conn, change: Extract<SchemaChange, { kind: 'alter-columns' }>, target: TargetTable, signal: AbortSignal): Promise<void> {
  const qualified = quoteMySqlTable(target.schema, target.name);
  const src = change.table;
  const colOf = (t: TableSchema, name: string): ColumnSchema | undefined => t.columns.find((c) => c.name.toLowerCase() === name.toLowerCase());
  for (const ch of change.lenient ? lenientColumnChanges(change.before, change.table, change.changes) : change.changes) {
    throwIfAborted(signal);
    const cols = await targetColumns(conn, target.schema, target.name);
    if (cols.length === 0) throw new FerryError('FERRY_SCHEMA_MISMATCH', `target table ${target.schema}.${target.name} does not exist`);
    const byName = new Map(cols.map((c) => [c.name.toLowerCase(), c]));
    const present = new Set(byName.keys());
    switch (ch.op) {
      case 'add': {
        const col = colOf(src, ch.column);
        if (!col || byName.has(ch.column.toLowerCase())) break;
        await conn.query(`ALTER TABLE ${qualified} ADD COLUMN ${mysqlColumnDefinition(col, true)}${placement(src, col.name, present)}`);
        break;
      }
      case 'drop': {
        const t = byName.get(ch.column.toLowerCase());
        if (!t) break;
        if (!change.lenient) await conn.query(`ALTER TABLE ${qualified} DROP COLUMN ${quoteMySqlIdent(t.name)}`);
        else if (!t.nullable) await conn.query(`ALTER TABLE ${qualified} MODIFY COLUMN ${definitionOfTarget(t, true)}`);
        break;
      }
      case 'rename': {
        const from = byName.get(ch.from.toLowerCase());
        if (!from || (byName.has(ch.to.toLowerCase()) && ch.from.toLowerCase() !== ch.to.toLowerCase())) break;
        if (!change.lenient) {
          await conn.query(`ALTER TABLE ${qualified} RENAME COLUMN ${quoteMySqlIdent(from.name)} TO ${quoteMySqlIdent(ch.to)}`);
        } else {
          // lenient: the new name is added with the old column's definition and values; the old
          // column stays, nullable, so nothing the target held is lost.
          await conn.query(`ALTER TABLE ${qualified} ADD COLUMN ${definitionOfTarget({ ...from, name: ch.to }, true)} AFTER ${quoteMySqlIdent(from.name)}`);
          await conn.query(`UPDATE ${qualified} SET ${quoteMySqlIdent(ch.to)} = ${quoteMySqlIdent(from.name)}`);
          if (!from.nullable) await conn.query(`ALTER TABLE ${qualified} MODIFY COLUMN ${definitionOfTarget(from, true)}`);
        }
        break;
      }
      case 'modify': {
        const col = colOf(src, ch.column);
        const t = byName.get(ch.column.toLowerCase());
        if (!col || !t || sameDefinition(t, col)) break;
        await conn.query(`ALTER TABLE ${qualified} MODIFY COLUMN ${mysqlColumnDefinition(col, true)}`);
        break;
      }
      case 'move': {
        const t = byName.get(ch.column.toLowerCase());
        if (!t) break;
        const want = placement(src, t.name, present);
        const at = cols.indexOf(t);
        const have = at === 0 ? ' FIRST' : ` AFTER ${quoteMySqlIdent((cols[at - 1] as TargetColumn).name)}`;
        if (want.toLowerCase() === have.toLowerCase()) break;
        await conn.query(`ALTER TABLE ${qualified} MODIFY COLUMN ${definitionOfTarget(t)}${want}`);
        break;
      }
      case 'primary-key': {
        const want = src.primaryKey.map((i) => (src.columns[i] as ColumnSchema).name);
        // A table that lost its key keeps the target's (its rows are not delivered meanwhile).
        if (want.length === 0) break;
        const have = await targetKey(conn, target.schema, target.name);
        if (have.map((n) => n.toLowerCase()).join(',') === want.map((n) => n.toLowerCase()).join(',')) break;
        const add = `ADD PRIMARY KEY (${want.map(quoteMySqlIdent).join(', ')})`;
        await conn.query(`ALTER TABLE ${qualified} ${have.length > 0 ? 'DROP PRIMARY KEY, ' : ''}${add}`);
        break;
      }
    }
  }
}

/** RENAME TABLE on the target, unless it already happened (idempotent). */
async function renameTable(conn: Conn, from: { schema: string; name: string }, to: TargetTable): Promise<void> {
  const fromExists = await tableExists(conn, from.schema, from.name);
  const toExists = await tableExists(conn, to.schema, to.name);
  if (!fromExists && toExists) return; // done before a crash
  if (fromExists && toExists) {
    throw new FerryError('FERRY_SCHEMA_MISMATCH', `cannot rename target ${from.schema}.${from.name} to ${to.schema}.${to.name}: both exist`, {
      fix: `Drop or rename the stale target table ${to.schema}.${to.name}, then restart the pipeline.`,
    });
  }
  if (!fromExists) {
    await conn.query(`CREATE DATABASE IF NOT EXISTS ${quoteMySqlIdent(to.schema)} CHARACTER SET utf8mb4`);
    await conn.query(mysqlCreateTableSql(to.schema, to.name, to.source));
    return;
  }
  await conn.query(`CREATE DATABASE IF NOT EXISTS ${quoteMySqlIdent(to.schema)} CHARACTER SET utf8mb4`);
  await conn.query(`RENAME TABLE ${quoteMySqlTable(from.schema, from.name)} TO ${quoteMySqlTable(to.schema, to.name)}`);
}
