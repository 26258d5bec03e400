import type { Server } from 'node:http';
import { writeSync } from 'node:fs';
import { describeConfig, type PipelineConfig } from '../core/config-types.js';
import { FerryError, isFerryError } from '../core/errors.js';
import { EXIT_FAILED, printError, secretsOf, type RunOptions, type RunResult } from './common.js';
import { createLogger, redactSecrets } from '../core/logger.js';
import { createPipelineMetrics } from '../core/metrics.js';
import { runPipeline, type RuntimeObserver } from '../core/runtime.js';
import { createSink, createSource } from '../connectors/registry.js';
import { openStateStore } from '../state/sqlite-store.js';
import { resolveTarget } from '../transform/route.js';

/**
 * One `ferry run` of a validated pipeline file, start to end: takes the run lock, runs snapshot
 * and stream until `stop` aborts or the pipeline ends, then closes everything in order. Returns
 * the exit code. Runs inside the pipeline worker (run-worker.ts); the main thread validated the
 * file, owns signals and the terminal, and only asks for a stop.
 */
export async function runPipelineFile(
  cfg: PipelineConfig,
  opts: RunOptions,
  stop: AbortSignal,
  observer: RuntimeObserver | undefined,
): Promise<RunResult> {
  const log = createLogger({ level: opts.logLevel ?? (opts.tty ? 'warn' : 'info'), pipeline: cfg.pipeline.name });
  const state = openStateStore(cfg.pipeline.stateDir, cfg.pipeline.name);
  try {
    state.acquireRunLock();
  } catch (e) {
    state.close();
    throw e;
  }
  let metrics = createPipelineMetrics();
  let metricsServer: Server | null = null;
  let result: RunResult = { exitCode: 0, outcome: 'stopped' };
  const controller = new AbortController();
  const onStop = (): void => {
    const signal = (stop.reason as { signal?: string } | undefined)?.signal;
    log.warn({ signal: String(signal ?? 'stop') }, 'stopping gracefully: flushing lanes and writing the checkpoint');
    controller.abort(new FerryError('FERRY_ABORTED', `received ${String(signal ?? 'a stop request')}`));
  };
  if (stop.aborted) onStop();
  else stop.addEventListener('abort', onStop, { once: true });
  const source = createSource(cfg);
  let sink: Awaited<ReturnType<typeof createSink>> | null = null;
  try {
    sink = await createSink(cfg);
    // prom-client (and its collection of process metrics, GC observer included) only when someone
    // can read the metrics: loading it was a tenth of a second of every start.
    if (opts.metricsPort) {
      const prom = await import('../core/metrics-prom.js');
      const served = prom.createPromMetrics();
      metrics = served.metrics;
      metricsServer = await prom.serveMetrics(served.registry, Number(opts.metricsPort));
    }
    log.info({ config: describeConfig(cfg) }, 'pipeline starting');
    const outcome = await runPipeline(
      { config: cfg, source, sink, state, metrics, log, observer, resolveTarget: (t) => resolveTarget(cfg.route, t, cfg.sink.type) },
      controller.signal,
    );
    log.info({ outcome }, outcome === 'done' ? 'snapshot complete' : 'pipeline stopped');
    result = { exitCode: 0, outcome };
  } catch (e) {
    if (isFerryError(e, 'FERRY_ABORTED') && controller.signal.aborted) {
      log.info({}, 'pipeline stopped');
    } else {
      log.error({ code: isFerryError(e) ? e.code : 'FERRY_INTERNAL', error: redactSecrets(e instanceof Error ? e.message : String(e), secretsOf(cfg)) }, 'pipeline failed');
      printError(e, cfg);
      result = { exitCode: EXIT_FAILED, outcome: 'failed' };
    }
  } finally {
    stop.removeEventListener('abort', onStop);
    // Each step on its own: one failing cleanup must not keep the others (and the exit) from happening.
    const step = async (what: string, f: () => unknown): Promise<void> => {
      try {
        await f();
      } catch (e) {
        writeSync(2, `ferry: ${what} failed during shutdown: ${redactSecrets(e instanceof Error ? e.message : String(e), secretsOf(cfg))}\n`);
      }
    };
    await step('closing the source', () => source.close());
    await step('closing the sink', () => sink?.close());
    await step('releasing the run lock', () => state.releaseRunLock());
    await step('closing the state store', () => state.close());
    await step('closing the metrics server', () => metricsServer?.close());
    await step('flushing the log', () => log.flush());
  }
  return result;
}
