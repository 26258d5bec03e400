import { PendingRowChange, type ChangeBatch, type PendingRow, type RowChange, type SchemaChange, type TableMove } from '../../core/change.js';
import type { MySqlSourceConfig } from '../../core/config-types.js';
import { FerryError } from '../../core/errors.js';
import type { TableRef, TableSchema } from '../../core/schema.js';
import { tableId } from '../../core/schema.js';
import { openBinlogStream } from './binlog/reader.js';
import type { BinlogEvent, MariadbGtidEvent, QueryEvent, RowsEvent } from './binlog/types.js';
import { EventCode } from './binlog/constants.js';
import { applyAddColumns, applyAlterSpecs, diffTables, parseDdl, tableFromCreate, type CharsetDefaults, type DdlStatement } from './ddl.js';
import type { BinlogPosition } from './position.js';
import { isCapturedTable } from './schema-reader.js';

/**
 * Whether full after images stay bytes until a sink encodes them (PendingRow in core/change.ts).
 * FERRY_PENDING_ROWS=off decodes them when read, as before (for comparisons).
 */
const PENDING_ROWS = process.env.FERRY_PENDING_ROWS !== 'off';

/**
 * Turns the decoded binlog into change batches at transaction boundaries, keeping the schema of
 * every captured table in step with the DDL in the stream.
 *
 * Position rules: `boundary` is the position after the last complete transaction (or DDL); it
 * only ever moves at XID, COMMIT, a standalone statement, or a real rotate between transactions.
 * A transaction larger than `splitRows` is handed on in pieces whose position stays at the
 * boundary before it, so a crash inside it replays it from its start (idempotent upserts).
 */
/** How many times its binlog size a row needs in heap while decoded and applied (strings, statement text). */
export const ROW_HEAP_FACTOR = 4;

function rowTooLarge(bytes: number, max: number, table: string, at: string): FerryError {
  const mib = (n: number): number => Math.ceil(n / 2 ** 20);
  return new FerryError('FERRY_OUT_OF_MEMORY', `a row change of ${mib(bytes)} MiB in ${table} (binlog event ending at ${at}) needs more heap than pipeline.heap.max-bytes allows (rows up to ${mib(max)} MiB)`, {
    fix: `Raise \`pipeline.heap.max-bytes\` to at least \`${Math.max(256, 64 * Math.ceil((bytes * ROW_HEAP_FACTOR) / 2 ** 26))}MiB\` and run again; nothing is lost (the pipeline resumes from the checkpoint before this transaction).`,
    details: { table, bytes },
  });
}

export interface StreamOptions {
  config: MySqlSourceConfig;
  serverId: number;
  from: BinlogPosition;
  schemas: TableSchema[];
  signal: AbortSignal;
  /** Reads the current schema of one table (for tables Ferry has no schema of yet). */
  readSchema(schema: string, name: string): Promise<TableSchema | null>;
  /** Default character set of a database, for CREATE TABLE without one. */
  defaultCharset(schema: string): Promise<CharsetDefaults>;
  log(msg: string, details?: Record<string, unknown>): void;
  splitRows?: number;
  /**
   * Largest rows event (bytes of row images) the pipeline's heap can take through decoding and
   * applying (from `pipeline.heap.max-bytes`). A larger one stops the stream with
   * FERRY_OUT_OF_MEMORY before it is decoded: a single huge value would otherwise end the
   * process with V8's fatal out-of-memory abort instead of a coded error.
   */
  maxRowEventBytes?: number;
}

interface GtidState {
  /** MariaDB: domain → `d-s-n`. */
  domains: Map<number, string>;
}

function parseMariaGtidList(text: string): GtidState {
  const domains = new Map<number, string>();
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)-(\d+)-(\d+)$/.exec(part);
    if (m) domains.set(Number(m[1]), part);
  }
  return { domains };
}

function formatMariaGtidList(s: GtidState): string {
  // Once per transaction: one domain (the common case) needs no sorting or joining.
  if (s.domains.size === 1) for (const g of s.domains.values()) return g;
  return [...s.domains.entries()].sort((a, b) => a[0] - b[0]).map(([, g]) => g).join(',');
}

/**
 * Shadow tables of online schema change tools: gh-ost (`_t_gho` ghost, `_t_ghc` changelog,
 * `_t_del` / `_t_<timestamp>_del` old table) and pt-online-schema-change (`_t_new`, `_t_old`).
 * They are never captured, whatever the table patterns say; their schemas are followed in memory
 * so that the swap (`RENAME TABLE t TO _t_del, _t_gho TO t`) knows the new schema of `t`.
 */
export function isShadowTable(name: string): boolean {
  return /^_.+_(gho|ghc|del|new|old)$/.test(name);
}

const TXN_CONTROL = /^\s*(BEGIN|COMMIT|ROLLBACK|XA\s+(START|END|PREPARE|COMMIT|ROLLBACK|BEGIN)|SAVEPOINT|ROLLBACK\s+TO|RELEASE\s+SAVEPOINT)\b/i;

/** The xid of an `XA START|COMMIT|ROLLBACK|END|PREPARE <xid> [ONE PHASE]` statement, normalised, or null. */
export function xaIdOf(sql: string): string | null {
  const m = /^\s*XA\s+(?:START|BEGIN|END|PREPARE|COMMIT|ROLLBACK)\s+(.*?)\s*(?:ONE\s+PHASE|JOIN|RESUME|SUSPEND(?:\s+FOR\s+MIGRATE)?)?\s*;?\s*$/is.exec(sql);
  return m && m[1] ? m[1].replace(/\s+/g, '') : null;
}

export async function* streamChanges(o: StreamOptions): AsyncGenerator<ChangeBatch<BinlogPosition>> {
  const splitRows = o.splitRows ?? 5_000;
  const schemas = new Map<string, TableSchema>(o.schemas.map((t) => [tableId(t), t]));
  const patterns = o.config.tablePatterns;
  const mysqlGtid = o.from.gtid.includes(':');
  const gtids = mysqlGtid ? { domains: new Map<number, string>() } : parseMariaGtidList(o.from.gtid);

  let file = o.from.file;
  let boundary: BinlogPosition = { ...o.from };
  let lastYielded = boundary;
  let inTxn = false;
  let pendingGtid: MariadbGtidEvent | null = null;
  let txnChanges: RowChange[] = [];
  let done: RowChange[] = [];
  let doneTxns = 0;
  let lastCommitMs = Date.now();
  /** A rows event of a table we must capture but hold no schema for (loaded lazily). */
  const missing = new Set<string>();

  const start = o.from.file ? { file: o.from.file, pos: o.from.pos } : { gtid: o.from.gtid };
  const stream = openBinlogStream({
    connection: {
      host: o.config.hostname,
      port: o.config.port,
      user: o.config.username,
      password: o.config.password.reveal(),
      connectTimeout: o.config.connectTimeoutMs,
    },
    serverId: o.serverId,
    start,
    heartbeatIntervalMs: o.config.heartbeatIntervalMs,
    signal: o.signal,
  });

  /**
   * XA transactions between XA PREPARE and XA COMMIT/ROLLBACK, by xid text: their rows are held
   * until the outcome is known (a rolled-back XA transaction is never visible). While one is held
   * the resume position stays before its PREPARE, so a restart reads its rows again; transactions
   * committed meanwhile are handed on at that position too (replays are idempotent).
   */
  const heldXa = new Map<string, { changes: RowChange[]; boundary: BinlogPosition }>();
  let currentXa: string | null = null;

  const commit = (nextPos: number, timestampS: number): void => {
    if (pendingGtid && !mysqlGtid) gtids.domains.set(pendingGtid.domainId, `${pendingGtid.domainId}-${pendingGtid.serverId}-${pendingGtid.seqNo}`);
    pendingGtid = null;
    const next = { file, pos: nextPos, gtid: mysqlGtid ? o.from.gtid : formatMariaGtidList(gtids) };
    let oldest: BinlogPosition | null = null;
    for (const h of heldXa.values()) if (oldest === null) oldest = h.boundary;
    boundary = oldest ?? next;
    if (txnChanges.length > 0) {
      if (done.length === 0) done = txnChanges;
      else for (const c of txnChanges) done.push(c);
    }
    txnChanges = [];
    inTxn = false;
    doneTxns++;
    if (timestampS > 0) lastCommitMs = timestampS * 1000;
  };

  const rowsBatch = (position: BinlogPosition, changes: RowChange[]): ChangeBatch<BinlogPosition> => {
    const b: ChangeBatch<BinlogPosition> = { kind: 'rows', changes, position, sourceTimeMs: lastCommitMs, transactions: doneTxns };
    doneTxns = 0;
    lastYielded = position;
    return b;
  };

  /** `schema.table` of a table map (maps are reused while unchanged: the id is built once per map). */
  const mapIds = new WeakMap<object, string>();
  const idOf = (ev: RowsEvent): string => {
    let id = mapIds.get(ev.table);
    if (id === undefined) mapIds.set(ev.table, (id = `${ev.table.schema}.${ev.table.table}`));
    return id;
  };
  /** The schema of a rows event's table when it is held (no promise per event: the common case). */
  const knownSchemaOf = (ev: RowsEvent): TableSchema | undefined => schemas.get(idOf(ev));
  const schemaOf = async (ev: RowsEvent): Promise<TableSchema | null> => {
    const id = idOf(ev);
    const known = schemas.get(id);
    if (known) return known;
    if (!isCapturedTable(patterns, ev.table.schema, ev.table.table) || isShadowTable(ev.table.table)) return null;
    if (!missing.has(id)) {
      missing.add(id);
      // A captured table Ferry never saw created (e.g. created before the start position by a
      // statement Ferry could not parse): its current schema is the best there is; a column count
      // different from the table map is caught by decodeRows and stops the pipeline.
      const t = await o.readSchema(ev.table.schema, ev.table.table);
      if (t) {
        schemas.set(id, t);
        o.log('captured table without a recorded schema: using its current schema', { table: id });
        return t;
      }
    }
    throw new FerryError('FERRY_SCHEMA_MISMATCH', `row changes of captured table ${id} but no schema is known for it`, {
      fix: 'Check that the table still exists on the source; restart the pipeline with a fresh snapshot if its history is lost.',
    });
  };

  /** Schemas of shadow tables (isShadowTable), by id: followed, never captured. */
  const shadows = new Map<string, TableSchema>();
  /** Captured tables without a primary key (rows not delivered), for a warning once per table. */
  const frozenWarned = new Set<string>();
  const withName = (t: TableSchema, ref: TableRef): TableSchema => ({ ...t, schema: ref.schema, name: ref.name });

  /** The schema a CREATE TABLE statement gives, or the server's when the statement is not understood. */
  const createdSchema = async (ddl: Extract<DdlStatement, { kind: 'create-table' }>): Promise<TableSchema | null> => {
    try {
      return tableFromCreate(ddl, await o.defaultCharset(ddl.table.schema));
    } catch (e) {
      o.log('CREATE TABLE not understood; reading the table from information_schema', { table: tableId(ddl.table), error: String(e) });
      return o.readSchema(ddl.table.schema, ddl.table.name);
    }
  };

  /**
   * RENAME TABLE: moves the held schemas the way the server moves the tables (pairs in order),
   * then says what that did to the captured set (core/change.ts, TableMove).
   */
  const renameTables = async (renames: { from: TableRef; to: TableRef }[], sql: string): Promise<SchemaChange | null> => {
    const prev = new Map(schemas);
    /** Current id → id before the statement, for tables that moved. */
    const originOf = new Map<string, string>();
    const shadowOrigin = new Set<string>();
    for (const r of renames) {
      const fromId = tableId(r.from);
      const toId = tableId(r.to);
      const origin = originOf.get(fromId) ?? fromId;
      originOf.delete(fromId);
      let t = schemas.get(fromId) ?? shadows.get(fromId) ?? null;
      const fromShadow = !schemas.has(fromId) && (shadows.has(fromId) || isShadowTable(r.from.name));
      schemas.delete(fromId);
      shadows.delete(fromId);
      if (isShadowTable(r.to.name)) {
        if (t) shadows.set(toId, withName(t, r.to));
        continue;
      }
      if (!isCapturedTable(patterns, r.to.schema, r.to.name)) continue;
      if (!t) {
        // A table Ferry held no schema of (not captured, or a shadow created before the start
        // position): the server's current one is the best there is.
        t = await o.readSchema(r.to.schema, r.to.name);
        if (!t) {
          o.log('table renamed into the captured set but not found on the server; ignored', { table: toId });
          continue;
        }
        t = withName(t, r.from);
      }
      schemas.set(toId, withName(t, r.to));
      originOf.set(toId, origin);
      if (fromShadow) shadowOrigin.add(toId);
      else shadowOrigin.delete(toId);
    }
    const renameSteps: TableMove[] = [];
    const other: TableMove[] = [];
    const renamedAway = new Set<string>();
    for (const [id, origin] of originOf) {
      const table = schemas.get(id);
      const old = prev.get(origin);
      if (!table || prev.has(id) || !old) continue;
      renameSteps.push({ step: 'rename', from: old, table });
      renamedAway.add(origin);
    }
    for (const [id, origin] of originOf) {
      const table = schemas.get(id) as TableSchema;
      const before = prev.get(id);
      if (!before) {
        if (!prev.has(origin)) other.push({ step: 'enter', table });
        continue;
      }
      if (origin === id) continue; // renamed away and back in one statement
      if (renamedAway.has(id)) other.push({ step: 'enter', table });
      else other.push({ step: 'replace', before, table, changes: diffTables(before, table), truncate: !shadowOrigin.has(id) });
    }
    for (const [id, old] of prev) if (!schemas.has(id) && !renamedAway.has(id)) other.push({ step: 'leave', from: old });
    const moves = renameSteps.concat(other);
    if (moves.length === 0) return null;
    const kept = moves.filter((m): m is Exclude<TableMove, { step: 'leave' }> => m.step !== 'leave');
    const last = kept[kept.length - 1];
    if (!last) {
      const tables = moves.map((m) => ({ schema: (m as Extract<TableMove, { step: 'leave' }>).from.schema, name: (m as Extract<TableMove, { step: 'leave' }>).from.name }));
      const first = tables[0] as TableRef;
      return { kind: 'drop-table', schema: first.schema, name: first.name, tables, ddl: sql };
    }
    return { kind: 'rename-tables', moves, table: last.table, ddl: sql };
  };

  const handleQuery = async (ev: QueryEvent): Promise<SchemaChange | null> => {
    const ddl = parseDdl(ev.sql, ev.schema);
    if (!ddl) return null;
    const captured = (t: TableRef): boolean => schemas.has(tableId(t)) || (isCapturedTable(patterns, t.schema, t.name) && !isShadowTable(t.name));
    switch (ddl.kind) {
      case 'create-table': {
        if (ddl.temporary) return null;
        if (isShadowTable(ddl.table.name) && !schemas.has(tableId(ddl.table))) {
          const t = await createdSchema(ddl).catch(() => null);
          if (t) shadows.set(tableId(ddl.table), t);
          return null;
        }
        if (!captured(ddl.table)) return null;
        const table = await createdSchema(ddl);
        if (!table) return null;
        schemas.set(tableId(table), table);
        return { kind: 'create-table', table, ddl: ev.sql };
      }
      case 'create-table-like':
      case 'create-table-select': {
        if (ddl.temporary) return null;
        const shadow = isShadowTable(ddl.table.name) && !schemas.has(tableId(ddl.table));
        if (!shadow && !captured(ddl.table)) return null;
        let table: TableSchema | null = null;
        if (ddl.kind === 'create-table-like') {
          const like = schemas.get(tableId(ddl.like)) ?? shadows.get(tableId(ddl.like));
          if (like) table = withName(like, ddl.table);
        }
        // CREATE TABLE ... SELECT: the columns come from a query; the server has the answer.
        table ??= await o.readSchema(ddl.table.schema, ddl.table.name);
        if (!table) return null;
        if (shadow) {
          shadows.set(tableId(table), table);
          return null;
        }
        schemas.set(tableId(table), table);
        return { kind: 'create-table', table, ddl: ev.sql };
      }
      case 'add-columns': {
        const id = tableId(ddl.table);
        const shadow = shadows.get(id);
        if (shadow) {
          shadows.set(id, applyAddColumns(shadow, ddl, await o.defaultCharset(ddl.table.schema)));
          return null;
        }
        const cur = schemas.get(id);
        if (!cur) return null;
        const next = applyAddColumns(cur, ddl, await o.defaultCharset(ddl.table.schema));
        schemas.set(id, next);
        return { kind: 'add-column', table: next, columns: ddl.columns.map((c) => c.column.name).filter((n) => !cur.columns.some((c) => c.name.toLowerCase() === n.toLowerCase())), ddl: ev.sql };
      }
      case 'alter-columns': {
        const id = tableId(ddl.table);
        const shadow = shadows.get(id);
        if (shadow) {
          try {
            shadows.set(id, applyAlterSpecs(shadow, ddl.specs, await o.defaultCharset(ddl.table.schema)).table);
          } catch {
            shadows.delete(id); // read from the server at the swap
          }
          return null;
        }
        const cur = schemas.get(id);
        if (!cur) return null;
        const { table, changes } = applyAlterSpecs(cur, ddl.specs, await o.defaultCharset(ddl.table.schema));
        schemas.set(id, table);
        if (changes.length === 0) return null;
        return { kind: 'alter-columns', before: cur, table, changes, ddl: ev.sql };
      }
      case 'alter-no-columns':
        return null;
      case 'drop-table': {
        if (ddl.temporary) return null;
        const tables: TableRef[] = [];
        for (const t of ddl.tables) {
          shadows.delete(tableId(t));
          if (schemas.delete(tableId(t))) tables.push(t);
        }
        const first = tables[0];
        return first ? { kind: 'drop-table', schema: first.schema, name: first.name, tables, ddl: ev.sql } : null;
      }
      case 'truncate-table': {
        const cur = schemas.get(tableId(ddl.table));
        return cur ? { kind: 'truncate-table', table: cur, ddl: ev.sql } : null;
      }
      case 'rename-table':
        return renameTables(ddl.renames, ev.sql);
      case 'other-alter': {
        const id = tableId(ddl.table);
        shadows.delete(id);
        const cur = schemas.get(id);
        // Not followed exactly (e.g. CONVERT TO CHARACTER SET): the sink refuses it loudly rather
        // than let later rows decode with a wrong schema.
        return cur ? { kind: 'alter-table', table: cur, ddl: ev.sql } : null;
      }
      case 'unparsed':
        o.log('table DDL not understood; a captured table it changed will be caught by the column-count check', { sql: ev.sql.slice(0, 200), reason: ddl.reason });
        return null;
    }
  };

  // Dead-link watchdog: the server sends a heartbeat every heartbeat interval when it has nothing
  // else, so a read that waits much longer than that means the link is gone (black-holed network,
  // frozen server). Only time spent waiting for the server counts, never time the consumer takes.
  const silenceLimitMs = o.config.heartbeatIntervalMs > 0 ? Math.max(3 * o.config.heartbeatIntervalMs, 10_000) : 0;
  const iterator = stream[Symbol.asyncIterator]();
  const nextEvents = async (): Promise<IteratorResult<BinlogEvent[]>> => {
    if (silenceLimitMs === 0) return iterator.next();
    let timer: NodeJS.Timeout | undefined;
    const silence = new Promise<'silent'>((resolve) => {
      timer = setTimeout(() => resolve('silent'), silenceLimitMs);
    });
    try {
      const r = await Promise.race([iterator.next(), silence]);
      if (r === 'silent') {
        await stream.close().catch(() => undefined);
        throw new FerryError('FERRY_SOURCE_UNREACHABLE', `no event or heartbeat from the source for ${Math.round(silenceLimitMs / 1000)} s (heartbeat every ${o.config.heartbeatIntervalMs} ms): the connection is presumed dead`, {
          fix: 'Check the network path to the source; Ferry reconnects by itself once it answers again.',
        });
      }
      return r;
    } finally {
      clearTimeout(timer);
    }
  };

  try {
    for (;;) {
      const next = await nextEvents();
      if (next.done) {
        if (o.signal.aborted) break;
        throw new FerryError('FERRY_SOURCE_UNREACHABLE', 'the source ended the binlog stream', { fix: 'Ferry reconnects by itself; if this repeats, check the source server log.' });
      }
      const events = next.value;
      for (const ev of events as BinlogEvent[]) {
        switch (ev.type) {
          case 'rotate':
            file = ev.nextFile;
            if (!ev.artificial && !inTxn) boundary = { file: ev.nextFile, pos: ev.position, gtid: boundary.gtid };
            break;
          case 'mariadb-gtid':
            pendingGtid = ev;
            if (ev.startsTransaction) inTxn = true;
            break;
          case 'gtid':
            break;
          case 'xid':
            commit(ev.nextPos, ev.timestamp);
            break;
          case 'query': {
            const m = TXN_CONTROL.exec(ev.sql);
            if (m) {
              const word = (m[1] ?? '').toUpperCase().replace(/\s+/g, ' ');
              const xid = xaIdOf(ev.sql);
              if (word === 'BEGIN' || word.startsWith('XA START') || word.startsWith('XA BEGIN')) {
                inTxn = true;
                currentXa = word.startsWith('XA') ? xid : null;
              } else if (word.startsWith('XA END')) {
                // MariaDB carries XA START in the GTID event; XA END names the xid that the
                // XA_PREPARE event (or a one-phase XA COMMIT) right after it concludes.
                currentXa = xid;
              } else if (word === 'COMMIT' || word.startsWith('XA COMMIT')) {
                const held = xid === null ? undefined : heldXa.get(xid);
                if (held && xid !== null) {
                  heldXa.delete(xid);
                  txnChanges = held.changes.concat(txnChanges);
                }
                commit(ev.nextPos, ev.timestamp);
              } else if (word === 'ROLLBACK' || word.startsWith('XA ROLLBACK')) {
                if (xid !== null) heldXa.delete(xid);
                txnChanges = [];
                commit(ev.nextPos, ev.timestamp);
              }
              break;
            }
            if (inTxn) break; // statements inside a row-based transaction carry no row data
            const change = await handleQuery(ev);
            if (change) {
              if (done.length > 0 || doneTxns > 0) yield rowsBatch(boundary, done);
              done = [];
              commit(ev.nextPos, ev.timestamp);
              doneTxns = 0;
              lastYielded = boundary;
              yield { kind: 'schema', change, position: boundary, sourceTimeMs: lastCommitMs };
            } else {
              commit(ev.nextPos, ev.timestamp);
            }
            break;
          }
          case 'rows': {
            const table = knownSchemaOf(ev) ?? (await schemaOf(ev));
            if (!table) break;
            if (table.primaryKey.length === 0) {
              // A captured table that lost its primary key (ALTER TABLE ... DROP PRIMARY KEY) is
              // frozen: its rows cannot be applied by key. ADD PRIMARY KEY copies it again.
              const id = tableId(table);
              if (!frozenWarned.has(id)) {
                frozenWarned.add(id);
                o.log('FERRY_NO_PRIMARY_KEY: captured table has no primary key; its row changes are not delivered until a primary key is added (the table is then copied again)', { table: id });
              }
              break;
            }
            if (o.maxRowEventBytes !== undefined && ev.rowBytes > o.maxRowEventBytes) throw rowTooLarge(ev.rowBytes, o.maxRowEventBytes, tableId(table), `${ev.file}:${ev.nextPos}`);
            // Before images feed only the key of the old row (core/key-merge.ts): their other
            // columns are skipped, not decoded (no strings or buffers for values never used).
            // Full after images stay bytes until the sink encodes them (PendingRow).
            const images = ev.decodeRows(table.columns, { beforeKeyOnly: table.primaryKey, afterPending: PENDING_ROWS ? table.primaryKey : null });
            const pending = images.afterPending;
            if (pending !== undefined) {
              const before = images.before;
              for (let i = 0; i < pending.length; i++) {
                txnChanges.push(new PendingRowChange(ev.kind === 'insert' ? 'insert' : 'update', table, before === null ? null : (before[i] ?? null), pending[i] as PendingRow));
              }
            } else if (ev.kind === 'insert') {
              for (const r of images.after ?? []) txnChanges.push({ op: 'insert', table, before: null, after: r });
            } else if (ev.kind === 'delete') {
              for (const r of images.before ?? []) txnChanges.push({ op: 'delete', table, before: r, after: null });
            } else {
              const before = images.before ?? [];
              const after = images.after ?? [];
              const pk = table.primaryKey;
              for (let i = 0; i < after.length; i++) {
                const b = before[i] ?? null;
                const a = after[i] ?? null;
                // binlog_row_image=MINIMAL leaves unchanged columns, the key included, out of the
                // after image: a key column absent there kept its before-image value.
                if (a !== null && b !== null) for (const k of pk) if (a[k] === undefined) a[k] = b[k];
                txnChanges.push({ op: 'update', table, before: b, after: a });
              }
            }
            if (txnChanges.length + done.length >= splitRows) {
              // A huge transaction: hand on what we have, at the boundary before it.
              const changes = done.length > 0 ? done.concat(txnChanges) : txnChanges;
              done = [];
              txnChanges = [];
              yield rowsBatch(boundary, changes);
            }
            break;
          }
          case 'other':
            if (ev.code === EventCode.XA_PREPARE && currentXa !== null) {
              // The XA transaction is prepared, not committed: hold its rows until XA COMMIT.
              heldXa.set(currentXa, { changes: txnChanges, boundary });
              txnChanges = [];
              currentXa = null;
              commit(ev.nextPos, ev.timestamp);
            }
            break;
          case 'heartbeat':
            if (!inTxn && txnChanges.length === 0) {
              // Idle and between transactions: everything up to where the server is has been read.
              if (ev.logFile === boundary.file && ev.logPosition > boundary.pos) boundary = { ...boundary, pos: ev.logPosition };
              if (done.length > 0 || doneTxns > 0) yield rowsBatch(boundary, done);
              done = [];
              yield { kind: 'heartbeat', position: boundary, sourceTimeMs: Date.now() };
            }
            break;
          default:
            // Events outside any transaction that change nothing (MariaDB's Binlog_checkpoint and
            // Gtid_list, format descriptions) still move the boundary, so that "caught up" means
            // the same position SHOW MASTER STATUS reports (snapshot watermarks rely on it).
            if (!inTxn && pendingGtid === null && !ev.artificial && ev.file === boundary.file && ev.nextPos > boundary.pos) {
              boundary = { ...boundary, pos: ev.nextPos };
            }
            break;
        }
      }
      if (done.length > 0 || boundary.file !== lastYielded.file || boundary.pos !== lastYielded.pos) {
        const changes = done;
        done = [];
        yield rowsBatch(boundary, changes);
      }
    }
  } finally {
    await stream.close();
  }
}
