/**
 * The common frame of a fault scenario: a workload database on a source, a fresh PostgreSQL
 * database as target, a pipeline logging in with the canary account, the checkpoint monitor from
 * the first start to the end, and the final checks (convergence, monitors, canary).
 */
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { mysqlOptions } from './env.js';
import { runFerry, tempDir, waitFor, type FerryProcess } from './ferry.js';
import { runPipelineProcess, writeFaultPipeline, type FaultPipeline, type FaultPipelineOptions } from './fault-pipeline.js';
import { CheckpointMonitor, TargetMonitor, compareWorkload, findCanary, waitForWorkloadConvergence, type PgEndpoint } from './invariants.js';
import { CANARY_PASSWORD, CANARY_USER } from './own-servers.js';
import { createWorkload, startWorkload, type MySqlEndpoint, type WorkloadStats } from './workload.js';

/** The canary account on the shared MariaDB (idempotent; other runs may use it at the same time). */
export async function ensureCanaryAccount(): Promise<void> {
  const c = await mysql.createConnection({ ...mysqlOptions });
  try {
    await c.query(`CREATE USER IF NOT EXISTS '${CANARY_USER}'@'127.0.0.1' IDENTIFIED BY '${CANARY_PASSWORD}'`);
    await c.query(`GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR, REPLICATION MASTER ADMIN ON *.* TO '${CANARY_USER}'@'127.0.0.1'`);
  } finally {
    await c.end();
  }
}

export async function freshPgDatabase(admin: Omit<PgEndpoint, 'database'>, name: string): Promise<PgEndpoint> {
  const c = new pg.Client({ ...admin, database: 'postgres' });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await c.query(`CREATE DATABASE "${name}"`);
  } finally {
    await c.end();
  }
  return { ...admin, database: name };
}

export class Scenario {
  readonly outputs: string[] = [];
  ferry: FerryProcess | null = null;
  workload: { stop(): Promise<WorkloadStats> } | null = null;
  monitor: TargetMonitor | null = null;
  readonly checkpoints: CheckpointMonitor;

  private constructor(
    readonly src: MySqlEndpoint,
    readonly db: string,
    readonly dst: PgEndpoint,
    readonly pipe: FaultPipeline,
  ) {
    this.checkpoints = new CheckpointMonitor(pipe.stateFile, { dst, pipeline: pipe.name });
  }

  /**
   * `src` is how the test reaches the source (any account with DDL rights); the pipeline logs in
   * as the canary account unless `pipeline.source` says otherwise.
   */
  static async create(tag: string, src: MySqlEndpoint, dstAdmin: Omit<PgEndpoint, 'database'>, o: Partial<FaultPipelineOptions> & { items?: number } = {}): Promise<Scenario> {
    const db = `fault_${tag}_${process.pid}`;
    await createWorkload(src, db, o.items ?? 2000);
    const dst = await freshPgDatabase(dstAdmin, db);
    const pipe = writeFaultPipeline({
      name: `f-${tag}`.slice(0, 60),
      dir: tempDir(`fault-${tag}`),
      source: { port: src.port },
      tables: `${db}\\..*`,
      target: { port: dst.port, database: db },
      ...o,
    });
    return new Scenario(src, db, dst, pipe);
  }

  /** `ferry status --json` (the pipeline file needs the canary variable set even for status). */
  async status(): Promise<Record<string, unknown>> {
    const r = await runFerry(['status', this.pipe.file, '--json'], { FERRY_CANARY_PASSWORD: CANARY_PASSWORD }, 30_000);
    if (r.code !== 0) throw new Error(`ferry status failed: ${r.output}`);
    return JSON.parse(r.output) as Record<string, unknown>;
  }

  start(args: string[] = [], env: Record<string, string> = {}): FerryProcess {
    if (this.ferry) this.outputs.push(this.ferry.output());
    this.ferry = runPipelineProcess(this.pipe, args, env);
    return this.ferry;
  }

  /** Output of every run so far, the current one last. */
  allOutput(): string {
    return [...this.outputs, this.ferry?.output() ?? ''].join('\n');
  }

  tail(n = 4000): string {
    return this.allOutput().slice(-n);
  }

  async waitPhase(phase: string, ms = 60_000): Promise<void> {
    await waitFor(`phase ${phase}`, async () => (await this.status()).phase === phase, ms, 250).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${this.tail()}`);
    });
  }

  startWorkload(rate = 100): void {
    this.workload = startWorkload(this.src, this.db, { rate, seed: process.pid });
  }

  async stopWorkload(): Promise<WorkloadStats | null> {
    const w = this.workload;
    this.workload = null;
    return w ? w.stop() : null;
  }

  watchTarget(atomic = false): void {
    this.monitor = new TargetMonitor(this.dst, this.db, { atomic });
  }

  async converge(ms = 120_000): Promise<void> {
    await waitForWorkloadConvergence(this.src, this.db, this.dst, ms, () => this.tail());
    // Liveness: once the fault has cleared and the target caught up, a running Ferry reports a
    // lag under 5 s within 60 s.
    const f = this.ferry;
    if (f && f.child.exitCode === null && f.child.signalCode === null) {
      await waitFor('lag under 5 s', async () => {
        const s = await this.status();
        return s.running === true && typeof s.lagSeconds === 'number' && s.lagSeconds < 5;
      }, 60_000, 500).catch((e: unknown) => {
        throw new Error(`${String(e)}\n${this.tail()}`);
      });
    }
  }

  async stopFerry(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const f = this.ferry;
    if (!f) return { code: 0, signal: null };
    if (f.child.exitCode !== null || f.child.signalCode !== null) return f.exited;
    f.child.kill(signal);
    const t = setTimeout(() => f.child.kill('SIGKILL'), 90_000);
    const r = await f.exited;
    clearTimeout(t);
    return r;
  }

  /** The end checks every scenario shares: monitors clean, target equal, canary nowhere. */
  async finish(extraTexts: string[] = []): Promise<void> {
    await this.stopWorkload();
    const samples = this.monitor ? (await this.monitor.stop(), this.monitor.samples) : null;
    const violations = [...(this.monitor?.violations ?? []), ...(await this.checkpoints.stop())];
    if (samples !== null) assert.ok(samples > 0, 'the target monitor took no sample');
    assert.ok(this.checkpoints.count > 0, 'the checkpoint monitor saw no checkpoint');
    const d = await compareWorkload(this.src, this.db, this.dst);
    assert.ok(d.equal, `${d.summary}\n${this.tail()}`);
    assert.deepEqual(violations, [], `${violations.join('\n')}\n${this.tail()}`);
    const hits = findCanary(CANARY_PASSWORD, [this.allOutput(), ...extraTexts], [this.pipe.dir]);
    assert.deepEqual(hits, [], 'the canary password leaked');
  }

  /** Stops everything without checks (for `after`). */
  async dispose(): Promise<void> {
    await this.stopWorkload().catch(() => undefined);
    await this.monitor?.stop().catch(() => undefined);
    await this.checkpoints.stop().catch(() => undefined);
    if (this.ferry && this.ferry.child.exitCode === null && this.ferry.child.signalCode === null) {
      this.ferry.child.kill('SIGKILL');
      await this.ferry.exited;
    }
  }
}
