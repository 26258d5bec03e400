/**
 * Helpers of the benchmark suite: shell pipelines, timing, binlog positions, statistics and
 * the peak RSS of a child process. Nothing here is used by Ferry itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, readdirSync } from 'node:fs';
import type { Connection, RowDataPacket } from 'mysql2/promise';

/** A binlog coordinate as the server reports it (`SHOW MASTER STATUS`). */
export interface BinlogCoord {
  file: string;
  pos: number;
}

/** The rows of a query (none for statements without a result set). */
export async function q<T = RowDataPacket>(c: Connection, sql: string, values: unknown[] = []): Promise<T[]> {
  const [rows] = await c.query(sql, values);
  return (Array.isArray(rows) ? rows : []) as unknown as T[];
}

/** Where the server's binlog ends now. */
export async function masterStatus(c: Connection): Promise<BinlogCoord> {
  const r = (await q<{ File: string; Position: string | number }>(c, 'SHOW MASTER STATUS'))[0];
  if (!r) throw new Error('the source has no binlog');
  return { file: r.File, pos: Number(r.Position) };
}

function fileIndex(file: string): number {
  const m = /\.(\d+)$/.exec(file);
  if (!m || m[1] === undefined) throw new Error(`binlog file name without a numeric extension: ${file}`);
  return Number(m[1]);
}

/** Order of two coordinates of the same server: negative when a is before b. */
export function compareCoord(a: BinlogCoord, b: BinlogCoord): number {
  const d = fileIndex(a.file) - fileIndex(b.file);
  return d !== 0 ? d : a.pos - b.pos;
}

/** Bytes between two coordinates when both are in the same file (else NaN: unknown). */
export function coordBytes(from: BinlogCoord, to: BinlogCoord): number {
  return from.file === to.file ? to.pos - from.pos : Number.NaN;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a bash command line (pipefail on), collecting its output. Rejects when it exits non-zero,
 * with the tail of its stderr.
 */
export function sh(cmd: string, opts: { env?: NodeJS.ProcessEnv; quiet?: boolean } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `set -euo pipefail; ${cmd}`], {
      env: { ...process.env, ...(opts.env ?? {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    child.stdout.on('data', (b: Buffer) => {
      // Keep at most 1 MiB of stdout: pipelines here write their data to another process.
      if (outLen < 1 << 20) out.push(b);
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const r: RunResult = { code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
      if (code !== 0) reject(new Error(`command failed (${code ?? signal}): ${cmd.slice(0, 300)}\n${r.stderr.slice(-2000)}`));
      else resolve(r);
    });
  });
}

/** Peak resident set size (VmHWM, KiB) of a live process; 0 when it is gone. */
export function readPeakRssKb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m && m[1] !== undefined ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds (user + system) a process has used so far, with `withChildren` also those of its
 * children it has waited for; 0 when it is gone. Linux's USER_HZ is 100.
 */
export function readCpuSeconds(pid: number, withChildren = false): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    // After "pid (comm) ": state ppid ... utime is field 14 of the line, index 11 here.
    const ticks = Number(f[11]) + Number(f[12]) + (withChildren ? Number(f[13]) + Number(f[14]) : 0);
    return Number.isFinite(ticks) ? ticks / 100 : 0;
  } catch {
    return 0;
  }
}

/** Jiffies of the whole machine from /proc/stat: busy (all but idle and iowait) and total. */
export function machineJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

/** Cores busy on average between two machineJiffies readings (all processes, the kernel included). */
export function busyCores(a: { busy: number; total: number }, b: { busy: number; total: number }, cores: number): number {
  const total = b.total - a.total;
  return total > 0 ? ((b.busy - a.busy) / total) * cores : 0;
}

/**
 * CPU seconds of a server: MariaDB is one process; PostgreSQL is its postmaster plus one process
 * per connection (live ones read directly, ended ones counted in the postmaster's children time).
 */
export function serverCpuSeconds(pid: number): number {
  let total = readCpuSeconds(pid, true);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      if (Number(f[1]) === pid) total += readCpuSeconds(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

export interface TrackedRun {
  seconds: number;
  peakRssKb: number;
  /** CPU seconds (all threads) the process had used when it ended or `until()` became true. */
  cpuSeconds: number;
  code: number | null;
  /** Wall-clock time (ms since the epoch) of the start. */
  startedAtMs: number;
  /** Whether `until()` became true (false: the process ended on its own, or there was no `until`). */
  reachedUntil: boolean;
}

/**
 * Starts `node <args>` with stdout/stderr appended to `logFile`, polls its peak RSS every 50 ms,
 * and ends when the process exits on its own or when `until()` becomes true (then SIGTERM, and
 * the time is taken at the moment `until()` was first seen true). `timeoutS` bounds the run.
 */
export async function trackNode(
  args: string[],
  logFile: string,
  opts: { until?: () => boolean | Promise<boolean>; timeoutS: number; env?: NodeJS.ProcessEnv },
): Promise<TrackedRun> {
  const fd = openSync(logFile, 'a');
  const startedAtMs = Date.now();
  const started = process.hrtime.bigint();
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...(opts.env ?? {}) } });
  closeSync(fd);
  const pid = child.pid ?? 0;
  let exited: { code: number | null } | null = null;
  const exitP = new Promise<void>((resolve) => {
    child.on('exit', (code) => {
      exited = { code };
      resolve();
    });
  });
  let peak = 0;
  let cpu = 0;
  let doneAt: bigint | null = null;
  const deadline = Date.now() + opts.timeoutS * 1000;
  while (exited === null) {
    peak = Math.max(peak, readPeakRssKb(pid));
    cpu = Math.max(cpu, readCpuSeconds(pid));
    if (opts.until && (await opts.until())) {
      doneAt = process.hrtime.bigint();
      peak = Math.max(peak, readPeakRssKb(pid));
      cpu = Math.max(cpu, readCpuSeconds(pid));
      child.kill('SIGTERM');
      break;
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      await exitP;
      throw new Error(`timed out after ${opts.timeoutS}s: node ${args.join(' ')} (log: ${logFile})`);
    }
    await sleep(50);
  }
  await exitP;
  const end = doneAt ?? process.hrtime.bigint();
  const code = (exited as { code: number | null } | null)?.code ?? null;
  if (opts.until === undefined && code !== 0) throw new Error(`node ${args.join(' ')} exited with ${code} (log: ${logFile})`);
  return { seconds: Number(end - started) / 1e9, peakRssKb: peak, cpuSeconds: cpu, code, startedAtMs, reachedUntil: doneAt !== null };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, value };
}

/** One measured run of a path. */
export interface Sample {
  seconds: number;
  rows: number;
  bytes: number;
  /** Peak RSS of the Ferry process (KiB); undefined for native tools. */
  peakRssKb?: number;
  /** Ferry: seconds from process start to its "streaming" log line (startup, not apply). */
  startupS?: number;
  /** CPU seconds used during the run, by process ("ferry", "source", "target"). */
  cpu?: Record<string, number>;
}

export interface Summary {
  n: number;
  min: number;
  median: number;
  max: number;
  rowsPerS: number;
  mbPerS: number;
  peakRssMb: number | null;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** min/median/max seconds; rows/s and MB/s at the median time; the highest peak RSS. */
export function summarize(samples: Sample[]): Summary {
  const secs = samples.map((s) => s.seconds);
  const med = median(secs);
  const rows = median(samples.map((s) => s.rows));
  const bytes = median(samples.map((s) => s.bytes));
  const rss = samples.map((s) => s.peakRssKb ?? 0);
  return {
    n: samples.length,
    min: Math.min(...secs),
    median: med,
    max: Math.max(...secs),
    rowsPerS: rows / med,
    mbPerS: bytes / 1e6 / med,
    peakRssMb: samples.some((s) => s.peakRssKb !== undefined) ? Math.max(...rss) / 1024 : null,
  };
}

/** A deterministic PRNG (mulberry32): the workload never uses Math.random. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function fileExists(p: string): boolean {
  return existsSync(p);
}
