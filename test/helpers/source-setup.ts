/**
 * Shared setup of the MySQL source integration tests (source-*.test.ts): own database names on
 * the shared server, an admin connection, and a resolved source config.
 */
import { randomBytes } from 'node:crypto';
import { createConnection, type Connection } from 'mysql2/promise';
import { Secret, type MySqlSourceConfig } from '../../src/core/config-types.js';
import { HOST, MYSQL_PORT, PASSWORD, USER, mysqlOptions } from './env.js';

/** A database name of our own (other engineers share the server): `src_it_<what>_<random>`. */
export function uniqueDb(what: string): string {
  return `src_it_${what}_${randomBytes(4).toString('hex')}`;
}

export async function adminConnection(): Promise<Connection> {
  return createConnection({ ...mysqlOptions, user: 'root', password: '' });
}

export function sourceConfig(tables: string, overrides: Partial<MySqlSourceConfig> = {}): MySqlSourceConfig {
  const patterns = tables.split(',').map((p) => new RegExp(`^(?:${p.trim()})$`));
  return {
    type: 'mysql',
    hostname: HOST,
    port: MYSQL_PORT,
    username: USER,
    password: new Secret(PASSWORD),
    tables,
    tablePatterns: patterns,
    serverId: null,
    startup: { mode: 'initial', specificOffset: { file: null, pos: null, gtidSet: null }, timestampMillis: null },
    snapshotChunkSize: 8096,
    snapshotChunkBytes: 4 * 1024 * 1024,
    rateLimit: { rowsPerSecond: 0, bytesPerSecond: 0 },
    heartbeatIntervalMs: 5000,
    connectTimeoutMs: 5000,
    ...overrides,
  };
}

/** `db\.` escaped for a `tables` pattern. */
export function reEscape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
