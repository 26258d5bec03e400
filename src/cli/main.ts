import { Command, Option } from 'commander';
import type { Server } from 'node:http';
import { loadPipelineConfig, describeConfig } from '../core/config.js';
import type { PipelineConfig } from '../core/config-types.js';
import type { CheckProblem } from '../core/contracts.js';
import { FerryError, isFerryError } from '../core/errors.js';
import { createLogger, redactSecrets } from '../core/logger.js';
import { createPipelineMetrics } from '../core/metrics.js';
import { META_SNAPSHOT_REQUESTS, runPipeline } from '../core/runtime.js';
import { createSink, createSource } from '../connectors/registry.js';
import { openStateStore } from '../state/sqlite-store.js';
import { resolveTarget } from '../transform/route.js';

/** Exit codes: 0 done or stopped gracefully, 1 the pipeline failed or cannot run, 2 bad input. */
const EXIT_FAILED = 1;
const EXIT_BAD_INPUT = 2;

function secretsOf(cfg: PipelineConfig | null): string[] {
  return cfg ? [cfg.source.password.reveal(), cfg.sink.password.reveal()] : [];
}

function printError(e: unknown, cfg: PipelineConfig | null): void {
  const text = isFerryError(e) ? e.describe() : `FERRY_INTERNAL: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
  process.stderr.write(`${redactSecrets(text, secretsOf(cfg))}\n`);
}

function loadConfigOrExit(file: string): PipelineConfig {
  try {
    return loadPipelineConfig(file);
  } catch (e) {
    printError(e, null);
    process.exit(isFerryError(e) && e.code.startsWith('FERRY_CONFIG') ? EXIT_BAD_INPUT : EXIT_FAILED);
  }
}

async function checkCommand(file: string): Promise<void> {
  const cfg = loadConfigOrExit(file);
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

async function runCommand(file: string, opts: { metricsPort?: string; progress?: boolean; logLevel?: string }): Promise<void> {
  const cfg = loadConfigOrExit(file);
  const tty = process.stderr.isTTY && opts.progress !== false;
  const log = createLogger({ level: opts.logLevel ?? (tty ? 'warn' : 'info'), pipeline: cfg.pipeline.name });
  const state = openStateStore(cfg.pipeline.stateDir, cfg.pipeline.name);
  try {
    state.acquireRunLock();
  } catch (e) {
    state.close();
    throw e;
  }
  // prom-client (and the /metrics server) only when metrics are asked for: loading it costs start-up time.
  let metrics = createPipelineMetrics();
  let metricsServer: Server | null = null;
  if (opts.metricsPort) {
    const prom = await import('../core/metrics-prom.js');
    const served = prom.createPromMetrics();
    metrics = served.metrics;
    metricsServer = await prom.serveMetrics(served.registry, Number(opts.metricsPort));
  }
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      process.stderr.write('second signal: exiting now; the pipeline resumes from its last checkpoint\n');
      process.exit(130);
    }
    log.warn({ signal: sig }, 'stopping gracefully: flushing lanes and writing the checkpoint');
    controller.abort(new FerryError('FERRY_ABORTED', `received ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // cli-progress only on a terminal.
  const observer = tty ? (await import('./progress.js')).createTerminalObserver() : undefined;
  const source = createSource(cfg);
  const sink = await createSink(cfg);
  log.info({ config: describeConfig(cfg) }, 'pipeline starting');
  try {
    const outcome = await runPipeline(
      { config: cfg, source, sink, state, metrics, log, observer, resolveTarget: (t) => resolveTarget(cfg.route, t, cfg.sink.type) },
      controller.signal,
    );
    observer?.stop();
    log.info({ outcome }, outcome === 'done' ? 'snapshot complete' : 'pipeline stopped');
    if (tty) process.stderr.write(outcome === 'done' ? 'snapshot complete\n' : 'stopped; run again to resume from the checkpoint\n');
  } catch (e) {
    observer?.stop();
    if (isFerryError(e, 'FERRY_ABORTED') && controller.signal.aborted) {
      log.info({}, 'pipeline stopped');
    } else {
      log.error({ code: isFerryError(e) ? e.code : 'FERRY_INTERNAL', error: redactSecrets(e instanceof Error ? e.message : String(e), secretsOf(cfg)) }, 'pipeline failed');
      printError(e, cfg);
      process.exitCode = EXIT_FAILED;
    }
  } finally {
    // Each step on its own: one failing cleanup must not keep the others (and the exit) from happening.
    const step = async (what: string, f: () => unknown): Promise<void> => {
      try {
        await f();
      } catch (e) {
        process.stderr.write(`ferry: ${what} failed during shutdown: ${redactSecrets(e instanceof Error ? e.message : String(e), secretsOf(cfg))}\n`);
      }
    };
    await step('closing the source', () => source.close());
    await step('closing the sink', () => sink.close());
    await step('releasing the run lock', () => state.releaseRunLock());
    await step('closing the state store', () => state.close());
    await step('closing the metrics server', () => metricsServer?.close());
    await step('flushing the log', () => log.flush());
  }
}

/**
 * The pipeline file for `ferry status`, which reads only the state store: `${VAR}`s it does not
 * need (the source and sink passwords, typically) may be unset in the shell that asks. A missing
 * variable in the pipeline's name or state directory is still an error.
 */
function loadConfigForStatus(file: string): PipelineConfig {
  try {
    return loadPipelineConfig(file);
  } catch (e) {
    if (!isFerryError(e, 'FERRY_CONFIG_ENV_MISSING')) return loadConfigOrExit(file);
    const unset = 'ferry-status-unset-variable';
    const env = new Proxy(process.env, { get: (t, k) => (typeof k === 'string' ? (t[k] ?? unset) : undefined) });
    try {
      const cfg = loadPipelineConfig(file, env);
      if (!cfg.pipeline.name.includes(unset) && !cfg.pipeline.stateDir.includes(unset)) return cfg;
    } catch {
      // fall through to the original error
    }
    return loadConfigOrExit(file);
  }
}

function statusCommand(file: string, opts: { json?: boolean }): void {
  const cfg = loadConfigForStatus(file);
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
function snapshotCommand(file: string, opts: { table: string[] }): void {
  const cfg = loadConfigOrExit(file);
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

export async function main(argv: string[]): Promise<void> {
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
    .action(async (file: string, opts: { metricsPort?: string; progress?: boolean; logLevel?: string }) => runCommand(file, opts));
  program
    .command('status')
    .argument('<pipeline-file>', 'pipeline YAML file')
    .option('--json', 'machine-readable output')
    .description('show phase, position, lag and per-table snapshot state')
    .action((file: string, opts: { json?: boolean }) => statusCommand(file, opts));
  program
    .command('snapshot')
    .argument('<pipeline-file>', 'pipeline YAML file')
    .requiredOption('--table <db.table...>', 'table(s) to copy again (repair); the others keep streaming')
    .description('copy one or more tables again while the pipeline keeps streaming the others')
    .action((file: string, opts: { table: string[] }) => snapshotCommand(file, opts));
  try {
    await program.parseAsync(argv);
  } catch (e) {
    printError(e, null);
    process.exitCode = isFerryError(e) && e.code.startsWith('FERRY_CONFIG') ? EXIT_BAD_INPUT : EXIT_FAILED;
  }
}
