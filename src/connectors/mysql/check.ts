/**
 * `check()` for a MySQL/MariaDB source: binlog settings, grants, server id and captured tables.
 * Never throws for a misconfiguration: every finding is a CheckProblem with the exact statement
 * or setting that fixes it. Throws only when a query fails for another reason (server gone).
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { MySqlSourceConfig } from '../../core/config-types.js';
import type { CheckProblem } from '../../core/contracts.js';
import type { TableRef } from '../../core/schema.js';
import { serverFlavor, versionAtLeast, type MySqlConnection, type ServerFlavor } from './connection.js';
import { quoteMySqlIdent } from './quote.js';
import { readTableSchemas } from './schema-reader.js';

/** Binlog retention below this gives a warning: an outage longer than it loses history. */
export const MIN_BINLOG_RETENTION_SECONDS = 24 * 3600;

function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

const quoteId = quoteMySqlIdent;

/** `'user'@'host'` from CURRENT_USER() text `user@host` (the host part follows the last `@`). */
export function accountOf(currentUser: string): string {
  const at = currentUser.lastIndexOf('@');
  const user = at < 0 ? currentUser : currentUser.slice(0, at);
  const host = at < 0 ? '%' : currentUser.slice(at + 1);
  return `${sqlString(user)}@${sqlString(host)}`;
}

/** Privileges held at one scope, as `SHOW GRANTS` lists them. */
export interface GrantLine {
  /** Upper-case privilege names; column-level privileges (`SELECT (a)`) are left out. */
  privileges: Set<string>;
  /** `*` for any database. */
  db: string;
  /** `*` for any table. */
  table: string;
}

function unquoteIdent(s: string): string {
  const t = s.trim();
  if (t.startsWith('`') && t.endsWith('`')) return t.slice(1, -1).replace(/``/g, '`');
  if (t.startsWith('"') && t.endsWith('"')) return t.slice(1, -1);
  return t;
}

/** Splits `a`.`b` at the dot outside backticks. */
function splitScope(scope: string): [string, string] {
  let inQuote = false;
  for (let i = 0; i < scope.length; i++) {
    const ch = scope[i];
    if (ch === '`') inQuote = !inQuote;
    else if (ch === '.' && !inQuote) return [unquoteIdent(scope.slice(0, i)), unquoteIdent(scope.slice(i + 1))];
  }
  return [unquoteIdent(scope), '*'];
}

/**
 * Parses one `SHOW GRANTS` line (`GRANT SELECT, REPLICATION SLAVE ON *.* TO ...`). Returns null
 * for lines that grant no privileges at a scope (role grants, PROXY).
 */
export function parseGrantLine(line: string): GrantLine | null {
  const m = /^GRANT\s+(.+?)\s+ON\s+(?:TABLE\s+|FUNCTION\s+|PROCEDURE\s+|PACKAGE\s+(?:BODY\s+)?)?((?:`(?:[^`]|``)*`|[^\s`.]+|\*)(?:\.(?:`(?:[^`]|``)*`|[^\s`]+|\*))?)\s+TO\s/is.exec(line);
  if (!m || m[1] === undefined || m[2] === undefined) return null;
  if (/^PROXY$/i.test(m[1].trim())) return null;
  const privileges = new Set<string>();
  // Split at commas outside parentheses (column lists).
  let depth = 0;
  let cur = '';
  const parts: string[] = [];
  for (const ch of m[1]) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  for (const p of parts) {
    const t = p.trim();
    if (t.includes('(')) continue; // column-level: not enough to read whole rows
    privileges.add(t.toUpperCase().replace(/\s+/g, ' '));
  }
  const [db, table] = splitScope(m[2]);
  return { privileges, db, table };
}

/** Database-level grants may use LIKE wildcards (`shop\_%`); `\_` and `\%` are literal. */
export function grantDbMatches(pattern: string, db: string): boolean {
  if (pattern === '*' || pattern === db) return true;
  if (!/[%_]/.test(pattern)) return false;
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '\\' && i + 1 < pattern.length) re += (pattern[++i] as string).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (ch === '%') re += '.*';
    else if (ch === '_') re += '.';
    else re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's').test(db);
}

function holds(lines: GrantLine[], privilege: string, db: string, table: string): boolean {
  const names = PRIVILEGE_ALIASES[privilege] ?? [privilege];
  return lines.some(
    (g) =>
      (g.table === '*' ? grantDbMatches(g.db, db) : g.db === db) &&
      (g.table === '*' || g.table === table) &&
      (g.privileges.has('ALL PRIVILEGES') || g.privileges.has('ALL') || names.some((n) => g.privileges.has(n))),
  );
}

/** Names under which servers print the same privilege. */
const PRIVILEGE_ALIASES: Record<string, string[]> = {
  'REPLICATION SLAVE': ['REPLICATION SLAVE', 'REPLICATION REPLICA'],
  // MariaDB 10.5.2 split REPLICATION CLIENT; BINLOG MONITOR is what SHOW MASTER STATUS needs there.
  'REPLICATION CLIENT': ['REPLICATION CLIENT', 'BINLOG MONITOR'],
  'BINLOG MONITOR': ['BINLOG MONITOR', 'REPLICATION CLIENT'],
  SELECT: ['SELECT'],
};

/** The privilege that lets Ferry read the binlog status on this server. */
function monitorPrivilege(f: ServerFlavor): string {
  return f.flavor === 'mariadb' && versionAtLeast(f, 10, 5, 2) ? 'BINLOG MONITOR' : 'REPLICATION CLIENT';
}

async function globalVariables(conn: MySqlConnection, names: string[]): Promise<Map<string, string>> {
  const [rows] = await conn.query<RowDataPacket[]>({
    sql: 'SHOW GLOBAL VARIABLES WHERE Variable_name IN (?)',
    values: [names],
    rowsAsArray: true,
  });
  const out = new Map<string, string>();
  for (const r of rows as unknown as unknown[][]) out.set(String(r[0]).toLowerCase(), String(r[1] ?? ''));
  return out;
}

/** Whether two time zone texts name the same zone; null when that cannot be told (e.g. `CET` vs `Europe/Oslo`). */
export function sameTimeZone(a: string, b: string): boolean | null {
  const norm = (z: string): string => {
    const t = z.trim().toUpperCase();
    return t === 'UTC' || t === 'GMT' || t === 'ETC/UTC' || t === '+00:00' || t === '-00:00' || t === 'Z' ? '+00:00' : t;
  };
  const x = norm(a);
  const y = norm(b);
  if (x === y) return true;
  const offset = /^[+-]\d\d:\d\d$/;
  if (offset.test(x) && offset.test(y)) return false;
  if (x === '+00:00' || y === '+00:00') return offset.test(x) || offset.test(y) ? false : null;
  return null;
}

function restartNote(setting: string): string {
  return `and set \`${setting}\` under [mysqld] in my.cnf so it survives a restart`;
}

/**
 * Checks that `conn`'s user on this server can run a pipeline with `config`. Returns every
 * problem found (empty when all is well).
 */
export async function checkMySqlSource(conn: MySqlConnection, config: MySqlSourceConfig): Promise<CheckProblem[]> {
  const problems: CheckProblem[] = [];
  const flavor = await serverFlavor(conn);
  const vars = await globalVariables(conn, [
    'log_bin', 'binlog_format', 'binlog_row_image', 'server_id', 'binlog_checksum',
    'expire_logs_days', 'binlog_expire_logs_seconds', 'time_zone', 'system_time_zone',
  ]);

  const logBin = (vars.get('log_bin') ?? 'OFF').toUpperCase();
  if (logBin !== 'ON' && logBin !== '1') {
    problems.push({
      severity: 'error',
      code: 'FERRY_SOURCE_MISCONFIGURED',
      message: 'binary logging is off (log_bin=OFF): there is no change log to follow',
      fix: 'Add `log_bin=mysql-bin` and `binlog_format=ROW` under [mysqld] in my.cnf and restart the server (log_bin cannot be set at runtime).',
    });
  }
  const format = (vars.get('binlog_format') ?? '').toUpperCase();
  if (format !== 'ROW') {
    problems.push({
      severity: 'error',
      code: 'FERRY_SOURCE_MISCONFIGURED',
      message: `binlog_format is ${format || 'unknown'}; Ferry needs ROW (statement events carry no row values)`,
      fix: `SET GLOBAL binlog_format = 'ROW'; ${restartNote('binlog_format=ROW')}. Sessions already open keep their format until they reconnect.`,
    });
  }
  const image = (vars.get('binlog_row_image') ?? 'FULL').toUpperCase();
  if (image !== 'FULL') {
    // Partial images are applied column by column (absent columns are left as they are in the
    // target), which is exact for rows the target already holds. An INSERT under MINIMAL logs only
    // the columns the statement named: the others get the target's defaults, not the source's.
    problems.push({
      severity: 'warning',
      code: 'FERRY_SOURCE_MISCONFIGURED',
      message: `binlog_row_image is ${image}: Ferry applies the columns each event carries and leaves the others untouched; under MINIMAL, columns an INSERT does not name get the target's default rather than the source's`,
      fix: `For exact copies of defaulted columns, SET GLOBAL binlog_row_image = 'FULL'; ${restartNote('binlog_row_image=FULL')}.`,
    });
  }
  const serverId = Number(vars.get('server_id') ?? '0');
  if (!Number.isFinite(serverId) || serverId === 0) {
    problems.push({
      severity: 'error',
      code: 'FERRY_SOURCE_MISCONFIGURED',
      message: 'server_id is 0: the server refuses binlog dumps',
      fix: `SET GLOBAL server_id = 1; ${restartNote('server_id=1')} (any id unique among your servers).`,
    });
  }
  const declaredZone = config.serverTimeZone ?? null;
  if (declaredZone !== null) {
    const setting = vars.get('time_zone') ?? 'SYSTEM';
    const actual = setting.toUpperCase() === 'SYSTEM' ? (vars.get('system_time_zone') ?? '') : setting;
    if (sameTimeZone(actual, declaredZone) === false) {
      // No value depends on it (TYPES.md, "Time zones"); the warning catches a moved server.
      problems.push({
        severity: 'warning',
        code: 'FERRY_SOURCE_MISCONFIGURED',
        message: `source.server-time-zone is ${declaredZone} but the server's time zone is ${actual || setting}: DATETIME values are wall-clock times of the server's zone`,
        fix: `Set source.server-time-zone to the server's zone (${actual || setting}), or SET GLOBAL time_zone = '${declaredZone}' if the server is wrong.`,
      });
    }
  }
  const checksum = (vars.get('binlog_checksum') ?? 'NONE').toUpperCase();
  if (checksum !== 'NONE' && checksum !== 'CRC32') {
    problems.push({
      severity: 'error',
      code: 'FERRY_SOURCE_MISCONFIGURED',
      message: `binlog_checksum ${checksum} is not supported (only NONE and CRC32)`,
      fix: `SET GLOBAL binlog_checksum = 'CRC32'; ${restartNote('binlog_checksum=CRC32')}.`,
    });
  }
  const retention = binlogRetentionSeconds(vars);
  if (retention !== null && retention < MIN_BINLOG_RETENTION_SECONDS) {
    const hours = Math.round((retention / 3600) * 10) / 10;
    problems.push({
      severity: 'warning',
      code: 'FERRY_SOURCE_MISCONFIGURED',
      message: `binlogs are kept only ${hours} h: a pipeline stopped longer than that loses its history and must snapshot again`,
      fix: `SET GLOBAL binlog_expire_logs_seconds = 604800; ${restartNote('binlog_expire_logs_seconds=604800')} (7 days; longer than your longest expected outage).`,
    });
  }

  // Grants. SHOW GRANTS lists the current account's privileges (and its enabled role's on MariaDB).
  const [cu] = await conn.query<RowDataPacket[]>({ sql: 'SELECT CURRENT_USER()', rowsAsArray: true });
  const account = accountOf(String((cu as unknown as unknown[][])[0]?.[0] ?? config.username));
  const [grantRows] = await conn.query<RowDataPacket[]>({ sql: 'SHOW GRANTS', rowsAsArray: true });
  const grants = (grantRows as unknown as unknown[][]).map((r) => parseGrantLine(String(r[0]))).filter((g): g is GrantLine => g !== null);
  for (const priv of ['REPLICATION SLAVE', monitorPrivilege(flavor)]) {
    if (!holds(grants, priv, '*', '*')) {
      problems.push({
        severity: 'error',
        code: 'FERRY_SOURCE_MISCONFIGURED',
        message: `the source user ${account} lacks ${priv} (${priv === 'REPLICATION SLAVE' ? 'needed to read the binlog' : 'needed to read the current binlog position'})`,
        fix: `GRANT ${priv} ON *.* TO ${account};`,
      });
    }
  }

  // Captured tables: what the patterns match among the tables this user can see.
  const tables = await readTableSchemas(conn, config.tablePatterns, config.keyColumns);
  if (tables.length === 0) {
    problems.push({
      severity: 'error',
      code: 'FERRY_NO_TABLES',
      message: `no table matches source.tables "${config.tables}" (information_schema lists only tables the user has a privilege on)`,
      fix: `Correct source.tables (regular expressions over db.table, e.g. "shop\\.orders|shop\\.items"), or GRANT SELECT ON \`<db>\`.* TO ${account};`,
    });
  }
  const noSelect = tables.filter((t) => !holds(grants, 'SELECT', t.schema, t.name));
  if (noSelect.length > 0) {
    const dbs = [...new Set(noSelect.map((t) => t.schema))];
    problems.push({
      severity: 'error',
      code: 'FERRY_SOURCE_MISCONFIGURED',
      message: `the source user ${account} lacks SELECT on ${names(noSelect)} (needed for the snapshot)`,
      fix: dbs.map((db) => `GRANT SELECT ON ${quoteId(db)}.* TO ${account};`).join(' '),
    });
  }
  const noPk = tables.filter((t) => t.primaryKey.length === 0);
  for (const t of noPk) {
    problems.push({
      severity: 'error',
      code: 'FERRY_NO_PRIMARY_KEY',
      message: `captured table ${t.schema}.${t.name} has no primary key and no unique index over NOT NULL columns: it can be neither chunked for the snapshot nor applied by key`,
      fix: `ALTER TABLE ${quoteId(t.schema)}.${quoteId(t.name)} ADD PRIMARY KEY (<unique not-null columns>); or name the columns that identify a row in source.key-columns (e.g. "${t.schema}.${t.name}: [col1, col2]"); or leave it out of source.tables.`,
    });
  }
  return problems;
}

function names(tables: TableRef[]): string {
  const shown = tables.slice(0, 10).map((t) => `${t.schema}.${t.name}`).join(', ');
  return tables.length > 10 ? `${shown} and ${tables.length - 10} more` : shown;
}

/** Binlog retention in seconds, or null when binlogs never expire. */
export function binlogRetentionSeconds(vars: Map<string, string>): number | null {
  const seconds = Number(vars.get('binlog_expire_logs_seconds') ?? '0');
  if (Number.isFinite(seconds) && seconds > 0) return seconds;
  const days = Number(vars.get('expire_logs_days') ?? '0');
  if (Number.isFinite(days) && days > 0) return days * 86400;
  return null;
}
