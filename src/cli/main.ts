import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { configForTransfer, type PipelineConfig } from '../core/config-types.js';
import type { CheckProblem } from '../core/contracts.js';
import { FerryError, isFerryError } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';
import type { RuntimeObserver } from '../core/runtime.js';
import { DEFAULT_HEAP_MAX, parseByteSize } from '../core/sizes.js';
import { EXIT_BAD_INPUT, EXIT_FAILED, printError, secretsOf, type RunResult } from './common.js';
import { tuneHeapGrowth } from './heap-growth.js';
import type { FromWorker, PipelineWorkerData, ToWorker } from './run-worker.js';

// Connectors, the runtime, the state store and the metrics registry are imported by the command
// that needs them: `ferry run` loads them only in its pipeline worker, not twice.

async function loadConfigOrExit(file: string): Promise<PipelineConfig> {
  const { loadPipelineConfig } = await import('../core/config.js');
  try {
    return loadPipelineConfig(file);
  } catch (e) {
    printError(e, null);
    process.exit(isFerryError(e) && e.code.startsWith('FERRY_CONFIG') ? EXIT_BAD_INPUT : EXIT_FAILED);
  }
}

async function checkCommand(file: string): Promise<void> {
  const cfg = await loadConfigOrExit(file);
  const { createSink, createSource } = await import('../connectors/registry.js');
  const signal = AbortSignal.timeout(cfg.source.connectTimeoutMs * 2 + 30_000);
  const problems: CheckProblem[] = [];
  const source = createSource(cfg);
  try {
    problems.push(...(await source.check(signal)));
  } catch (e) {
    const fe = isFerryError(e) ? e : new FerryError('FERRY_SOURCE_UNREACHABLE', String(e));
    problems.push({ severity: 'error', code: fe.code, message: fe.message, fix: fe.fix ?? 'Check source.hostname, source.port, source.username and source.password.' });
  } finally {
    await source.close().catch(() => undefined);
  }
  const sink = await createSink(cfg);
  try {
    await sink.readLaneCheckpoints(signal);
  } catch (e) {
    const fe = isFerryError(e) ? e : new FerryError('FERRY_SINK_UNREACHABLE', String(e));
    problems.push({ severity: 'error', code: fe.code === 'FERRY_SINK_WRITE' ? 'FERRY_SINK_UNREACHABLE' : fe.code, message: fe.message, fix: fe.fix ?? 'Check sink.hostname, sink.port, sink.username, sink.password and sink.database.' });
  } finally {
    await sink.close().catch(() => undefined);
  }
  const secrets = secretsOf(cfg);
  const errors = problems.filter((p) => p.severity === 'error');
  for (const p of problems) {
    process.stdout.write(redactSecrets(`${p.severity === 'error' ? 'ERROR' : 'WARNING'} ${p.code}: ${p.message}\n  fix: ${p.fix}\n`, secrets));
  }
  if (errors.length === 0) {
    process.stdout.write(`OK: pipeline "${cfg.pipeline.name}" can run (${problems.length} warning(s)).\n`);
  } else {
    process.stdout.write(`${errors.length} problem(s) prevent pipeline "${cfg.pipeline.name}" from running.\n`);
    process.exitCode = EXIT_FAILED;
  }
}

/**
 * `pipeline.heap.max-bytes` of a pipeline file, read with the YAML parser alone: the heap cap has
 * to be known before the pipeline worker starts, and the whole file is validated only after it
 * started (a bad value there is reported then, exit 2; here it falls back to the default). A file
 * that does not contain the key's name at all has the default without parsing it here.
 */
async function heapCapOf(file: string): Promise<number> {
  const fallback = parseByteSize(DEFAULT_HEAP_MAX) ?? 160 * 2 ** 20;
  try {
    const text = readFileSync(file, 'utf8');
    if (!text.includes('heap.max-bytes')) return fallback;
    const { parse: parseYaml } = await import('yaml');
    const root: unknown = parseYaml(text);
    const pipeline = root !== null && typeof root === 'object' ? (root as Record<string, unknown>).pipeline : undefined;
    const v = pipeline !== null && typeof pipeline === 'object' ? (pipeline as Record<string, unknown>)['heap.max-bytes'] : undefined;
    const n = typeof v === 'number' || typeof v === 'string' ? parseByteSize(v) : null;
    return n !== null && n >= 64 * 2 ** 20 ? n : fallback;
  } catch {
    return fallback;
  }
}

/**
 * `ferry run`: the main thread starts the pipeline worker (run-worker.ts) with its heap capped at
 * `pipeline.heap.max-bytes`, turns signals into stop requests, renders progress on a terminal,
 * and reports a worker that ran out of heap as FERRY_OUT_OF_MEMORY. The main thread validates the
 * file while the worker loads its modules (both threads busy at once: the start is ~80 ms
 * shorter than with the worker doing both), then the worker runs the pipeline. The process (one
 * PID, shared by both threads) exits with the worker's exit code. The main thread loads no
 * connector, runtime or schema module.
 */
async function runCommand(file: string, opts: { metricsPort?: string; progress?: boolean; logLevel?: string }, early: EarlySignals | undefined): Promise<void> {
  const tty = Boolean(process.stderr.isTTY) && opts.progress !== false;
  const workerData: PipelineWorkerData = { opts: { metricsPort: opts.metricsPort, logLevel: opts.logLevel, tty } };
  const heapMb = Math.floor((await heapCapOf(file)) / 2 ** 20);
  tuneHeapGrowth();
  // The worker starts loading its modules first; this thread validates the file meanwhile.
  const worker = new Worker(new URL('./run-worker.js', import.meta.url), { workerData, resourceLimits: { maxOldGenerationSizeMb: heapMb } });
  let cfg: PipelineConfig;
  try {
    const { loadPipelineConfig } = await import('../core/config.js');
    cfg = loadPipelineConfig(file);
  } catch (e) {
    await worker.terminate();
    early?.release();
    printError(e, null);
    process.exitCode = isFerryError(e) && e.code.startsWith('FERRY_CONFIG') ? EXIT_BAD_INPUT : EXIT_FAILED;
    return;
  }
  worker.postMessage({ t: 'config', cfg: configForTransfer(cfg) } satisfies ToWorker);
  const pipelineName = cfg.pipeline.name;
  let observer: (RuntimeObserver & { stop(): void }) | undefined;
  if (tty) observer = (await import('./progress.js')).createTerminalObserver();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      process.stderr.write('second signal: exiting now; the pipeline resumes from its last checkpoint\n');
      process.exit(130);
    }
    worker.postMessage({ t: 'stop', signal: sig } satisfies ToWorker);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A signal that came while the CLI was loading is a stop request like any other (the worker
  // stops before it connects to anything; two of them exit at once, as two signals do).
  if (early) {
    early.release();
    for (const sig of early.received.splice(0)) onSignal(sig);
  }
  let result: RunResult | null = null;
  let failure: unknown = null;
  const exitCode = await new Promise<number>((resolve) => {
    worker.on('message', (m: FromWorker) => {
      if (m.t === 'result') result = m.result;
      else if (m.t === 'observe') (observer?.[m.m] as ((...a: unknown[]) => void) | undefined)?.apply(observer, m.a);
    });
    worker.on('error', (e) => {
      failure = e;
    });
    worker.on('exit', resolve);
  });
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  observer?.stop();
  const done = result as RunResult | null;
  if (failure !== null) {
    const oom = (failure as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';
    const e = oom
      ? new FerryError('FERRY_OUT_OF_MEMORY', `the pipeline used all of its ${heapMb} MB JavaScript heap (\`pipeline.heap.max-bytes\`) and was stopped; nothing is lost, the next run resumes from the last checkpoint`, {
          fix: 'Raise `pipeline.heap.max-bytes` (rows of tens of MB need several times their size), or lower `pipeline.queue.max-bytes` and `sink.batch.max-rows`.',
          cause: failure,
        })
      : failure;
    const { createLogger } = await import('../core/logger.js');
    createLogger({ level: opts.logLevel ?? (tty ? 'warn' : 'info'), pipeline: pipelineName }).error(
      { code: isFerryError(e) ? e.code : 'FERRY_INTERNAL', error: redactSecrets(e instanceof Error ? e.message : String(e), secretsOf(cfg)) },
      'pipeline failed',
    );
    printError(e, cfg);
    process.exitCode = EXIT_FAILED;
    return;
  }
  if (tty && done !== null && done.outcome !== 'failed') {
    process.stderr.write(done.outcome === 'done' ? 'snapshot complete\n' : 'stopped; run again to resume from the checkpoint\n');
  }
  process.exitCode = done?.exitCode ?? (exitCode === 0 ? 0 : EXIT_FAILED);
}

/**
 * The pipeline file for `ferry status`, which reads only the state store: `${VAR}`s it does not
 * need (the source and sink passwords, typically) may be unset in the shell that asks. A missing
 * variable in the pipeline's name or state directory is still an error.
 */
async function loadConfigForStatus(file: string): Promise<PipelineConfig> {
  const { loadPipelineConfig } = await import('../core/config.js');
  try {
    return loadPipelineConfig(file);
  } catch (e) {
    if (!isFerryError(e, 'FERRY_CONFIG_ENV_MISSING')) return await loadConfigOrExit(file);
    const unset = 'ferry-status-unset-variable';
    const env = new Proxy(process.env, { get: (t, k) => (typeof k === 'string' ? (t[k] ?? unset) : undefined) });
    try {
      const cfg = loadPipelineConfig(file, env);
      if (!cfg.pipeline.name.includes(unset) && !cfg.pipeline.stateDir.includes(unset)) return cfg;
    } catch {
      // fall through to the original error
    }
    return await loadConfigOrExit(file);
  }
}

async function statusCommand(file: string, opts: { json?: boolean }): Promise<void> {
  const cfg = await loadConfigForStatus(file);
  const { openStateStore } = await import('../state/sqlite-store.js');
  const state = openStateStore(cfg.pipeline.stateDir, cfg.pipeline.name);
  try {
    const statusText = state.getStatus();
    const status = statusText ? (JSON.parse(statusText) as Record<string, unknown>) : {};
    const progress = state.listSnapshotProgress();
    const phase = state.getMeta('phase') ?? 'not started';
    const checkpoint = state.getCheckpoint();
    const running = state.runLockHolder();
    const out = {
      pipeline: cfg.pipeline.name,
      phase,
      running: running !== null,
      pid: running,
      checkpoint: checkpoint ? (JSON.parse(checkpoint) as unknown) : null,
      lagSeconds: running !== null ? (status.lagSeconds ?? null) : null,
      rowsPerSecond: running !== null ? (status.rowsPerSecond ?? null) : null,
      statusUpdatedAt: status.updatedAt ?? null,
      tables: progress.map((p) => {
        const live = running !== null ? (status.snapshot as Record<string, { rowsPerSecond: number; etaSeconds: number | null; chunksDone: number; chunksInFlight: number; chunkRows: number }> | undefined)?.[p.tableId] : undefined;
        return {
          table: p.tableId,
          state: p.done ? 'done' : p.rowsCopied > 0 ? 'copying' : 'pending',
          rowsCopied: p.rowsCopied,
          rowsEstimated: p.estimatedRows,
          rowsPerSecond: live?.rowsPerSecond ?? null,
          etaSeconds: live?.etaSeconds ?? null,
          chunksDone: live?.chunksDone ?? null,
          chunksInFlight: live?.chunksInFlight ?? null,
          chunkRows: live?.chunkRows ?? null,
        };
      }),
    };
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return;
    }
    const lines = [
      `pipeline   ${out.pipeline}`,
      `phase      ${out.phase}${out.running ? ` (running, pid ${out.pid})` : ' (not running)'}`,
      `position   ${typeof status.positionText === 'string' ? status.positionText : checkpoint ?? '-'}`,
      `lag        ${out.lagSeconds === null ? '-' : `${Number(out.lagSeconds).toFixed(1)} s`}`,
      `rows/s     ${out.rowsPerSecond ?? '-'}`,
      'snapshot',
      ...out.tables.map(
        (t) =>
          `  ${t.table.padEnd(40)} ${t.state.padEnd(8)} ${t.rowsCopied}${t.rowsEstimated ? ` / ~${t.rowsEstimated}` : ''} rows` +
          (t.state !== 'done' && t.chunksDone !== null ? `  chunks ${t.chunksDone} done, ${t.chunksInFlight} in flight (${t.chunkRows} rows each)` : '') +
          (t.state !== 'done' && t.rowsPerSecond ? `, ${t.rowsPerSecond} rows/s${t.etaSeconds !== null ? `, ETA ${t.etaSeconds}s` : ''}` : ''),
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    state.close();
  }
}

/**
 * `ferry snapshot pipeline.yaml --table db.t`: asks the pipeline to copy tables again (repair)
 * while every other table keeps streaming. The request is stored in the pipeline state; a
 * running `ferry run` picks it up within a second, otherwise the next run does.
 */
async function snapshotCommand(file: string, opts: { table: string[] }): Promise<void> {
  const cfg = await loadConfigOrExit(file);
  const { openStateStore } = await import('../state/sqlite-store.js');
  const { META_SNAPSHOT_REQUESTS } = await import('../core/runtime.js');
  const state = openStateStore(cfg.pipeline.stateDir, cfg.pipeline.name);
  try {
    const tables = opts.table.flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean);
    const bad = tables.filter((t) => !/^[^.]+\.[^.]+$/.test(t));
    if (tables.length === 0 || bad.length > 0) {
      throw new FerryError('FERRY_CONFIG_INVALID', `--table needs database.table names${bad.length ? `, got ${bad.join(', ')}` : ''}`, { fix: 'Write e.g. `ferry snapshot pipeline.yaml --table shop.orders`.' });
    }
    const captured = new Set(JSON.parse(state.getMeta('tables') ?? '[]') as string[]);
    const unknown = tables.filter((t) => !captured.has(t));
    if (unknown.length > 0 && captured.size > 0) {
      throw new FerryError('FERRY_CONFIG_INVALID', `not captured by pipeline "${cfg.pipeline.name}": ${unknown.join(', ')}`, { fix: 'Name tables that match `source.tables` (see `ferry status`).' });
    }
    const pending = new Set(JSON.parse(state.getMeta(META_SNAPSHOT_REQUESTS) ?? '[]') as string[]);
    for (const t of tables) pending.add(t);
    state.setMeta(META_SNAPSHOT_REQUESTS, JSON.stringify([...pending]));
    const running = state.runLockHolder();
    process.stdout.write(`snapshot requested for ${tables.join(', ')}: ${running !== null ? `the running pipeline (pid ${running}) copies ${tables.length > 1 ? 'them' : 'it'} again now` : 'copied again when the pipeline next runs'}; other tables keep streaming.\n`);
  } finally {
    state.close();
  }
}

/**
 * Signals that arrived before the CLI could handle them (bin/ferry holds them while the modules
 * load). `release` stops holding; `received` lists them in order.
 */
export interface EarlySignals {
  received: NodeJS.Signals[];
  release(): void;
}

/** Stops holding early signals; one that arrived meanwhile is raised again with its default effect. */
function releaseEarly(early: EarlySignals | undefined): void {
  if (!early) return;
  early.release();
  const first = early.received.shift();
  if (first !== undefined) process.kill(process.pid, first);
}

export async function main(argv: string[], early?: EarlySignals): Promise<void> {
  // `ferry run` takes the held signals over as stop requests (runCommand); any other command
  // lets them have their default effect now.
  if (argv[2] !== 'run') releaseEarly(early);
  const program = new Command();
  program.name('ferry').description('Ferry keeps a target database in step with a MySQL/MariaDB source: snapshot, then binlog streaming.').version('0.1.0');
  program
    .command('check')
    .argument('<pipeline-file>', 'pipeline YAML file')
    .description('validate the pipeline file and check that both servers are reachable and the source is configured for CDC')
    .action(async (file: string) => checkCommand(file));
  program
    .command('run')
    .argument('<pipeline-file>', 'pipeline YAML file')
    .description('run the pipeline: snapshot, then stream; SIGINT/SIGTERM stops gracefully; running again resumes')
    .option('--metrics-port <port>', 'serve Prometheus metrics on 127.0.0.1:<port>/metrics')
    .option('--no-progress', 'no progress bars even on a terminal (JSON logs instead)')
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']))
    .action(async (file: string, opts: { metricsPort?: string; progress?: boolean; logLevel?: string }) => runCommand(file, opts, early));
  program
    .command('status')
    .argument('<pipeline-file>', 'pipeline YAML file')
    .option('--json', 'machine-readable output')
    .description('show phase, position, lag and per-table snapshot state')
    .action(async (file: string, opts: { json?: boolean }) => statusCommand(file, opts));
  program
    .command('snapshot')
    .argument('<pipeline-file>', 'pipeline YAML file')
    .requiredOption('--table <db.table...>', 'table(s) to copy again (repair); the others keep streaming')
    .description('copy one or more tables again while the pipeline keeps streaming the others')
    .action(async (file: string, opts: { table: string[] }) => snapshotCommand(file, opts));
  try {
    await program.parseAsync(argv);
  } catch (e) {
    printError(e, null);
    process.exitCode = isFerryError(e) && e.code.startsWith('FERRY_CONFIG') ? EXIT_BAD_INPUT : EXIT_FAILED;
  } finally {
    // `run` that ended before taking the held signals over (bad arguments, say).
    releaseEarly(early);
  }
}
