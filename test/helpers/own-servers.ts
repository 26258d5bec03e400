/**
 * Throwaway MariaDB and PostgreSQL servers owned by one fault test, for faults that stop, kill,
 * purge or reset a server (never done to the shared servers). Started with scripts/servers.sh on
 * a free port ≥ 47000, data under FERRY_TEST_RUN_DIR (or the OS temp dir); stopped by PID.
 */
import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { REPO, tempDir } from './ferry.js';

const run = promisify(execFile);
const SERVERS = path.join(REPO, 'scripts', 'servers.sh');

/** A password that must never show up in any output, metric or state file. */
export const CANARY_PASSWORD = 'Canary-9f3Kq7-wZpX2-secret';
export const CANARY_USER = 'fault_canary';

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

let nextPort = 47000 + (process.pid % 500) * 4;
/** A TCP port nobody listens on, from 47000 upwards (spread by PID so parallel runs rarely meet). */
export async function freePort(): Promise<number> {
  for (;;) {
    const p = nextPort++;
    if (p > 64000) nextPort = 47000;
    if (await portIsFree(p)) return p;
  }
}

function pidOf(file: string): number | null {
  try {
    const n = Number(readFileSync(file, 'utf8').split('\n')[0]);
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (alive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
}

export interface OwnMariaDb {
  port: number;
  dir: string;
  options: { host: string; port: number; user: string; password: string };
  /** Root over TCP (no password), multi statements on. */
  admin(): Promise<mysql.Connection>;
  start(): Promise<void>;
  /** mysqladmin-style clean shutdown (SIGTERM, waits). */
  stop(): Promise<void>;
  kill9(): Promise<void>;
  pid(): number | null;
  /** Stops the server and removes its data. */
  destroy(): Promise<void>;
}

/**
 * Starts a MariaDB with binlog ROW and a canary account `fault_canary` (password
 * CANARY_PASSWORD) holding exactly the grants the README lists, plus SELECT on everything.
 */
export async function startOwnMariaDb(tag: string, extraArgs: string[] = []): Promise<OwnMariaDb> {
  const port = await freePort();
  const dir = path.join(tempDir(`own-mariadb-${tag}`), 'mariadb');
  const start = async (): Promise<void> => {
    await run('bash', [SERVERS, 'start-mariadb', dir, String(port), ...extraArgs], { env: { ...process.env, FERRY_SERVER_ID: '1' } });
  };
  await start();
  const admin = async (): Promise<mysql.Connection> => mysql.createConnection({ host: '127.0.0.1', port, user: 'root', multipleStatements: true });
  const a = await admin();
  await a.query(`CREATE USER IF NOT EXISTS '${CANARY_USER}'@'127.0.0.1' IDENTIFIED BY '${CANARY_PASSWORD}';
                 GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR, REPLICATION MASTER ADMIN ON *.* TO '${CANARY_USER}'@'127.0.0.1';`);
  await a.end();
  const pid = (): number | null => pidOf(path.join(dir, 'mysqld.pid'));
  const stop = async (): Promise<void> => {
    await run('bash', [SERVERS, 'stop', dir]);
  };
  return {
    port,
    dir,
    options: { host: '127.0.0.1', port, user: 'ferry', password: 'ferry' },
    admin,
    start,
    stop,
    pid,
    async kill9() {
      const p = pid();
      if (p === null) return;
      process.kill(p, 'SIGKILL');
      await waitGone(p);
      rmSync(path.join(dir, 'mysqld.pid'), { force: true });
    },
    async destroy() {
      await stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface OwnPostgres {
  port: number;
  dir: string;
  options: { host: string; port: number; user: string; password: string; database: string };
  start(): Promise<void>;
  /** Fast shutdown: open sessions are cut (a smart shutdown would wait for Ferry forever). */
  stop(): Promise<void>;
  kill9(): Promise<void>;
  destroy(): Promise<void>;
  query(sql: string, database?: string): Promise<pg.QueryResult>;
}

function pgBin(): string {
  for (const v of ['17', '16', '15', '14', '13']) {
    const p = `/usr/lib/postgresql/${v}/bin/pg_ctl`;
    try {
      readFileSync(p);
      return p;
    } catch {
      // next
    }
  }
  return 'pg_ctl';
}

export async function startOwnPostgres(tag: string): Promise<OwnPostgres> {
  const port = await freePort();
  const parent = tempDir(`own-postgres-${tag}`);
  // PostgreSQL runs as the postgres user: it must be able to reach its data directory.
  chmodSync(parent, 0o755);
  const dir = path.join(parent, 'postgres');
  const start = async (): Promise<void> => {
    await run('bash', [SERVERS, 'start-postgres', dir, String(port)]);
  };
  await start();
  const options = { host: '127.0.0.1', port, user: 'ferry', password: 'ferry', database: 'postgres' };
  const stop = async (): Promise<void> => {
    const args = ['-D', path.join(dir, 'data'), '-m', 'fast', '-w', '-t', '60', 'stop'];
    if (process.getuid?.() === 0) await run('runuser', ['-u', 'postgres', '--', pgBin(), ...args]).catch(() => undefined);
    else await run(pgBin(), args).catch(() => undefined);
  };
  return {
    port,
    dir,
    options,
    start,
    stop,
    async kill9() {
      const p = pidOf(path.join(dir, 'data', 'postmaster.pid'));
      if (p === null) return;
      process.kill(p, 'SIGKILL');
      await waitGone(p);
    },
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    async query(sql, database = 'postgres') {
      const c = new pg.Client({ ...options, database });
      c.on('error', () => undefined);
      await c.connect();
      try {
        return await c.query(sql);
      } finally {
        await c.end();
      }
    },
  };
}
