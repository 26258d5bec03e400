/**
 * Runs the real `bin/ferry` as a child process, the way a user does, for end-to-end and fault
 * tests: write a pipeline file, start, wait for a condition, kill -9 or SIGTERM, start again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST, MYSQL_PORT, PASSWORD, PG_PORT, USER } from './env.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const FERRY_BIN = path.join(REPO, 'bin', 'ferry');

export interface PipelineFileOptions {
  name: string;
  tables: string;
  sink: 'postgres' | 'mysql';
  pgDatabase?: string;
  parallelism?: number;
  mode?: string;
  chunkSize?: number;
  extraSource?: string;
  extraSink?: string;
  extraPipeline?: string;
  route?: string;
  sourceUser?: string;
  sourcePassword?: string;
}

export function tempDir(prefix: string): string {
  const base = process.env.FERRY_TEST_RUN_DIR ?? tmpdir();
  mkdirSync(base, { recursive: true });
  return mkdtempSync(path.join(base, `${prefix}-`));
}

export function writePipelineFile(dir: string, o: PipelineFileOptions): string {
  const file = path.join(dir, `${o.name}.yaml`);
  const text = `source:
  type: mariadb
  hostname: ${HOST}
  port: ${MYSQL_PORT}
  username: ${o.sourceUser ?? USER}
  password: ${o.sourcePassword ?? '${FERRY_TEST_SOURCE_PASSWORD}'}
  tables: ${JSON.stringify(o.tables)}
  scan.startup.mode: ${o.mode ?? 'initial'}
  scan.snapshot.chunk.size: ${o.chunkSize ?? 1000}
  heartbeat.interval: 1s
${o.extraSource ?? ''}
sink:
  type: ${o.sink}
  hostname: ${HOST}
  port: ${o.sink === 'postgres' ? PG_PORT : MYSQL_PORT}
  username: ${USER}
  password: ${PASSWORD}
${o.sink === 'postgres' ? `  database: ${o.pgDatabase ?? 'postgres'}\n` : ''}${o.extraSink ?? ''}
${o.route ? `route:\n${o.route}\n` : ''}pipeline:
  name: ${o.name}
  parallelism: ${o.parallelism ?? 2}
  state-dir: ${JSON.stringify(path.join(dir, 'state'))}
  flush-interval: 50ms
${o.extraPipeline ?? ''}
`;
  writeFileSync(file, text);
  return file;
}

export interface FerryProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startFerry(args: string[], env: Record<string, string> = {}): FerryProcess {
  let out = '';
  const child = spawn(process.execPath, [FERRY_BIN, ...args], {
    env: { ...process.env, FERRY_TEST_SOURCE_PASSWORD: PASSWORD, FERRY_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, output: () => out, exited };
}

export async function runFerry(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  const p = startFerry(args, env);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const r = await p.exited;
  clearTimeout(timer);
  return { ...r, output: p.output() };
}

export async function waitFor(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 60_000, everyMs = 200): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** `ferry status --json` of a pipeline file. */
export async function ferryStatus(file: string): Promise<Record<string, unknown>> {
  const r = await runFerry(['status', file, '--json'], {}, 30_000);
  if (r.code !== 0) throw new Error(`ferry status failed: ${r.output}`);
  return JSON.parse(r.output) as Record<string, unknown>;
}
