import type { RowDataPacket } from 'mysql2/promise';
import type { ChangeBatch } from '../../core/change.js';
import type { MySqlSourceConfig } from '../../core/config-types.js';
import type { CheckProblem, SnapshotChunk, Source } from '../../core/contracts.js';
import type { SnapshotTextChunk } from '../../core/text-rows.js';
import { FerryError, throwIfAborted } from '../../core/errors.js';
import type { TableRef, TableSchema } from '../../core/schema.js';
import type { Value } from '../../core/change.js';
import { checkMySqlSource } from './check.js';
import { allocateServerId, openSourceConnection, readCurrentPosition, readLogEnd, type MySqlConnection } from './connection.js';
import { findPositionAtTime } from './position-at-time.js';
import { binlogPositionCodec, type BinlogPosition } from './position.js';
import { readTableSchemas } from './schema-reader.js';
import { canReadText, chunkEnd, estimateRows, readChunk, readChunkText, readRange } from './snapshot-reader.js';
import { streamChanges } from './stream.js';
import { openBinlogStream } from './binlog/reader.js';
import type { CharsetDefaults } from './ddl.js';

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The MySQL/MariaDB source: checks, schema discovery, chunked snapshot reads over a small
 * connection pool, and the binlog stream. Never writes to the source.
 */
export function createMySqlSource(
  config: MySqlSourceConfig,
  log: (msg: string, details?: Record<string, unknown>) => void = () => undefined,
  limits: { maxRowEventBytes?: number } = {},
): Source<BinlogPosition> {
  const idle: MySqlConnection[] = [];
  const all = new Set<MySqlConnection>();
  let closed = false;

  const acquire = async (signal?: AbortSignal): Promise<MySqlConnection> => {
    if (closed) throw new FerryError('FERRY_ABORTED', 'source closed');
    const c = idle.pop();
    if (c) return c;
    const n = await openSourceConnection(config, signal);
    all.add(n);
    return n;
  };
  const release = (c: MySqlConnection): void => {
    if (closed) {
      all.delete(c);
      void c.end().catch(() => undefined);
    } else idle.push(c);
  };
  const withConn = async <T>(signal: AbortSignal | undefined, f: (c: MySqlConnection) => Promise<T>): Promise<T> => {
    const c = await acquire(signal);
    let broken = false;
    try {
      return await f(c);
    } catch (e) {
      broken = true;
      throw e;
    } finally {
      if (broken) {
        all.delete(c);
        c.destroy();
      } else release(c);
    }
  };

  const readOne = async (schema: string, name: string): Promise<TableSchema | null> =>
    withConn(undefined, async (c) => {
      const [t] = await readTableSchemas(c, [new RegExp(`^${escapeRegex(schema)}\\.${escapeRegex(name)}$`)], config.keyColumns);
      return t ?? null;
    });

  return {
    codec: binlogPositionCodec,

    async check(signal): Promise<CheckProblem[]> {
      return withConn(signal, (c) => checkMySqlSource(c, config));
    },

    async discover(signal): Promise<TableSchema[]> {
      return withConn(signal, (c) => readTableSchemas(c, config.tablePatterns, config.keyColumns));
    },

    async identity(signal): Promise<string> {
      return withConn(signal, async (c) => {
        const [rows] = await c.query<RowDataPacket[]>({ sql: 'SELECT @@server_id, @@log_bin_basename, @@version', rowsAsArray: true });
        const r = (rows as unknown as unknown[][])[0] ?? [];
        let uuid = '';
        if (!/mariadb/i.test(String(r[2] ?? ''))) {
          const [u] = await c.query<RowDataPacket[]>({ sql: 'SELECT @@server_uuid', rowsAsArray: true });
          uuid = String((u as unknown as unknown[][])[0]?.[0] ?? '');
        }
        const base = String(r[1] ?? '').split('/').pop() ?? '';
        return uuid ? `mysql server_uuid=${uuid}` : `mariadb server_id=${String(r[0])} binlog=${base}`;
      });
    },

    async currentPosition(signal): Promise<BinlogPosition> {
      return withConn(signal, (c) => readCurrentPosition(c, signal));
    },

    async logEnd(signal): Promise<BinlogPosition> {
      return withConn(signal, (c) => readLogEnd(c));
    },

    async positionAtTime(timeMs, signal): Promise<BinlogPosition> {
      throwIfAborted(signal);
      const serverId = config.serverId ?? (await withConn(signal, (c) => allocateServerId(c)));
      const connection = {
        host: config.hostname,
        port: config.port,
        user: config.username,
        password: config.password.reveal(),
        connectTimeout: config.connectTimeoutMs,
      };
      const position = await findPositionAtTime(connection, serverId, timeMs, signal, { log });
      log('startup mode timestamp: streaming from the first transaction committed in or after that second', { timeMs, position: binlogPositionCodec.format(position) });
      return position;
    },

    async positionAtGtid(gtidSet: string, signal: AbortSignal): Promise<BinlogPosition> {
      // MariaDB: a dump started by GTID begins with an artificial Gtid_list event whose end
      // position is where the next event group starts: exactly the boundary after the set.
      if (gtidSet.includes(':')) {
        throw new FerryError('FERRY_CONFIG_INVALID', 'a MySQL GTID set alone cannot be turned into a binlog position yet', {
          fix: 'Give scan.startup.specific-offset.file and .pos as well (SHOW BINARY LOGS / SHOW BINLOG EVENTS tell them).',
        });
      }
      const serverId = config.serverId ?? (await withConn(signal, (c) => allocateServerId(c)));
      const stream = openBinlogStream({
        connection: { host: config.hostname, port: config.port, user: config.username, password: config.password.reveal(), connectTimeout: config.connectTimeoutMs },
        serverId,
        start: { gtid: gtidSet },
        heartbeatIntervalMs: 0,
        nonBlocking: true,
        signal,
      });
      try {
        let seenFormat = false;
        for await (const events of stream) {
          for (const ev of events) {
            if (ev.type === 'format-description') seenFormat = true;
            if (seenFormat && ev.type === 'mariadb-gtid-list' && ev.artificial && ev.logPos > 0) return { file: ev.file, pos: ev.logPos, gtid: gtidSet };
            if (ev.type === 'mariadb-gtid' && !ev.artificial) {
              throw new FerryError('FERRY_POSITION_INVALID', `the server did not say where GTID set ${gtidSet} ends`, { fix: 'Give scan.startup.specific-offset.file and .pos instead.' });
            }
          }
        }
      } finally {
        await stream.close();
      }
      // Nothing after the set: it is the current end of the log.
      const end = await withConn(signal, (c) => readCurrentPosition(c, signal));
      if (end.gtid === gtidSet) return end;
      throw new FerryError('FERRY_POSITION_INVALID', `GTID set ${gtidSet} was not found in the source binlog (current state ${end.gtid})`, {
        fix: 'Check scan.startup.specific-offset.gtid-set against SELECT @@gtid_binlog_pos on the source.',
      });
    },

    async estimateRows(table: TableRef, signal): Promise<number> {
      return withConn(signal, (c) => estimateRows(c, table));
    },

    async readChunk(table: TableSchema, afterKey: Value[] | null, limit: number, signal: AbortSignal): Promise<SnapshotChunk> {
      return withConn(signal, (c) => readChunk(c, table, afterKey, limit, signal));
    },

    async readChunkText(table: TableSchema, afterKey: Value[] | null, limit: number, signal: AbortSignal): Promise<SnapshotTextChunk | null> {
      if (!canReadText(table)) return null;
      return withConn(signal, (c) => readChunkText(c, table, afterKey, limit, signal));
    },

    async chunkEnd(table: TableSchema, afterKey: Value[] | null, rows: number, signal: AbortSignal): Promise<Value[] | null> {
      return withConn(signal, (c) => chunkEnd(c, table, afterKey, rows, signal));
    },

    async readRange(table: TableSchema, afterKey: Value[] | null, upTo: Value[], signal: AbortSignal): Promise<SnapshotChunk> {
      return withConn(signal, (c) => readRange(c, table, afterKey, upTo, signal));
    },

    async *stream(from: BinlogPosition, schemas: TableSchema[], signal: AbortSignal): AsyncGenerator<ChangeBatch<BinlogPosition>> {
      throwIfAborted(signal);
      const serverId = config.serverId ?? (await withConn(signal, (c) => allocateServerId(c)));
      const charsets = new Map<string, CharsetDefaults>();
      yield* streamChanges({
        config,
        serverId,
        from,
        schemas,
        signal,
        log,
        maxRowEventBytes: limits.maxRowEventBytes,
        readSchema: readOne,
        defaultCharset: async (schema) => {
          const cached = charsets.get(schema);
          if (cached) return cached;
          const cs = await withConn(signal, async (c) => {
            const [rows] = await c.query<RowDataPacket[]>({ sql: 'SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', values: [schema], rowsAsArray: true });
            const r = (rows as unknown as unknown[][])[0];
            return { charset: typeof r?.[0] === 'string' ? r[0] : 'utf8mb4', collation: typeof r?.[1] === 'string' ? r[1] : null };
          });
          charsets.set(schema, cs);
          return cs;
        },
      });
    },

    async releaseHistory(): Promise<void> {
      // The binlog is the server's to purge; Ferry holds nothing on the source.
    },

    async close(): Promise<void> {
      closed = true;
      const conns = [...all];
      all.clear();
      idle.length = 0;
      await Promise.all(conns.map((c) => c.end().catch(() => c.destroy())));
    },
  };
}
