import { writeSync } from 'node:fs';
import type { PipelineConfig } from '../core/config-types.js';
import { isFerryError } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';

// What both threads of `ferry run` share. Kept free of connector, runtime and state imports so
// the main thread does not load them (the pipeline worker does).

/** Exit codes: 0 done or stopped gracefully, 1 the pipeline failed or cannot run, 2 bad input. */
export const EXIT_FAILED = 1;
export const EXIT_BAD_INPUT = 2;

export interface RunResult {
  exitCode: number;
  /** `done`: a snapshot-only pipeline finished; `stopped`: stopped on request; `failed`: error printed. */
  outcome: 'done' | 'stopped' | 'failed';
}

export interface RunOptions {
  metricsPort?: string;
  logLevel?: string;
  /** Progress goes to a terminal (the observer renders it); logs default to `warn` then. */
  tty: boolean;
}

export function secretsOf(cfg: PipelineConfig | null): string[] {
  return cfg ? [cfg.source.password.reveal(), cfg.sink.password.reveal()] : [];
}

/**
 * The text of an error for stderr, secrets redacted. Written with a synchronous write: the
 * pipeline runs in a worker thread, whose `process.stderr` is forwarded asynchronously by the
 * main thread and may lose its last lines when the process ends right after.
 */
export function printError(e: unknown, cfg: PipelineConfig | null): void {
  const text = isFerryError(e) ? e.describe() : `FERRY_INTERNAL: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
  writeSync(2, `${redactSecrets(text, secretsOf(cfg))}\n`);
}

