import { parentPort, workerData } from 'node:worker_threads';
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
 * Messages: main → worker `{ t: 'stop', signal }` (first SIGINT/SIGTERM: stop gracefully);
 * worker → main `{ t: 'started', pipeline }` (the file is valid), `{ t: 'observe', m, a }` (progress for the terminal, only when it is one) and
 * `{ t: 'result', result }` once, at the end.
 */
export interface PipelineWorkerData {
  file: string;
  opts: RunOptions;
}

export type FromWorker =
  | { t: 'started'; pipeline: string }
  | { t: 'observe'; m: keyof RuntimeObserver; a: unknown[] }
  | { t: 'result'; result: RunResult };

export type ToWorker = { t: 'stop'; signal: string };

const port = parentPort;
if (port === null) throw new Error('run-worker.js is the pipeline worker of `ferry run`; it cannot run on its own');
const data = workerData as PipelineWorkerData;
const stop = new AbortController();
port.on('message', (m: ToWorker) => {
  if (m.t === 'stop') stop.abort({ signal: m.signal });
});
// The port must not keep the thread alive: the pipeline's own sockets and timers do, until it ends.
port.unref();

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

let result: RunResult;
try {
  result = await runPipelineFile(data.file, data.opts, stop.signal, observer, (pipeline) => port.postMessage({ t: 'started', pipeline } satisfies FromWorker));
} catch (e) {
  printError(e, null);
  result = { exitCode: isFerryError(e) && e.code.startsWith('FERRY_CONFIG') ? EXIT_BAD_INPUT : EXIT_FAILED, outcome: 'failed' };
}
port.postMessage({ t: 'result', result } satisfies FromWorker);
