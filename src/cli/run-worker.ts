import { parentPort, workerData } from 'node:worker_threads';
import { configFromTransfer } from '../core/config-types.js';
import { isFerryError } from '../core/errors.js';
import type { RuntimeObserver } from '../core/runtime.js';
import { EXIT_BAD_INPUT, EXIT_FAILED, printError, type RunOptions, type RunResult } from './common.js';
import { runPipelineFile } from './run.js';

/**
 * The pipeline worker of `ferry run`: the whole pipeline (connectors, lanes, state store, metrics
 * server) runs in this worker thread, whose JavaScript heap the main thread caps with
 * `pipeline.heap.max-bytes` (worker `resourceLimits`). Running out of heap then ends this
 * thread with ERR_WORKER_OUT_OF_MEMORY, which the main thread reports as FERRY_OUT_OF_MEMORY,
 * instead of V8 growing the heap to several times the live data (or aborting the process).
 *
 * The main thread validates the pipeline file while this thread loads its modules (the two
 * overlap: zod and the YAML parser are ~80 ms of loading that the worker no longer does), then
 * sends the configuration.
 *
 * Messages: main → worker `{ t: 'config', cfg }` (once; config-types.ts `configForTransfer`),
 * `{ t: 'stop', signal }` (first SIGINT/SIGTERM: stop gracefully); worker → main
 * `{ t: 'observe', m, a }` (progress for the terminal, only when it is one) and
 * `{ t: 'result', result }` once, at the end. A file that is not valid never reaches the worker:
 * the main thread reports it and terminates the worker.
 */
export interface PipelineWorkerData {
  opts: RunOptions;
}

export type FromWorker = { t: 'observe'; m: keyof RuntimeObserver; a: unknown[] } | { t: 'result'; result: RunResult };

export type ToWorker = { t: 'config'; cfg: unknown } | { t: 'stop'; signal: string };

const port = parentPort;
if (port === null) throw new Error('run-worker.js is the pipeline worker of `ferry run`; it cannot run on its own');
const data = workerData as PipelineWorkerData;
const stop = new AbortController();
let gotConfig: (cfg: unknown) => void = () => undefined;
const config = new Promise<unknown>((resolve) => (gotConfig = resolve));
port.on('message', (m: ToWorker) => {
  if (m.t === 'config') gotConfig(m.cfg);
  else if (m.t === 'stop') stop.abort({ signal: m.signal });
});

const forward = (m: keyof RuntimeObserver) => (...a: unknown[]): void => port.postMessage({ t: 'observe', m, a } satisfies FromWorker);
const observer: RuntimeObserver | undefined = data.opts.tty
  ? {
      snapshotTableStarted: forward('snapshotTableStarted'),
      snapshotProgress: forward('snapshotProgress'),
      snapshotTableDone: forward('snapshotTableDone'),
      phase: forward('phase'),
      streamStats: forward('streamStats'),
    }
  : undefined;

// The port keeps the thread alive until the configuration has come; then it must not: the
// pipeline's own sockets and timers do, until it ends.
const cfg = configFromTransfer(await config);
port.unref();
let result: RunResult;
try {
  result = await runPipelineFile(cfg, data.opts, stop.signal, observer);
} catch (e) {
  printError(e, cfg);
  result = { exitCode: isFerryError(e) && e.code.startsWith('FERRY_CONFIG') ? EXIT_BAD_INPUT : EXIT_FAILED, outcome: 'failed' };
}
port.postMessage({ t: 'result', result } satisfies FromWorker);
