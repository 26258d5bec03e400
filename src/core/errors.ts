/**
 * One error type with stable codes. Every code is documented (cause and fix) in
 * docs/ERRORS.md; test/unit/errors-docs.test.ts fails when the registry and the docs disagree.
 */

export const ERROR_CODES = {
  FERRY_CONFIG_INVALID: 'The pipeline file does not match the schema (wrong type, missing or unknown key).',
  FERRY_CONFIG_UNREADABLE: 'The pipeline file cannot be read or parsed as YAML.',
  FERRY_CONFIG_ENV_MISSING: 'The pipeline file refers to an environment variable that is not set.',
  FERRY_SOURCE_UNREACHABLE: 'The source server cannot be reached or refused the login.',
  FERRY_SINK_UNREACHABLE: 'The sink server cannot be reached or refused the login.',
  FERRY_SOURCE_MISCONFIGURED: 'A source setting or grant prevents the pipeline from running.',
  FERRY_NO_TABLES: 'No source table matches the `tables` patterns.',
  FERRY_NO_PRIMARY_KEY: 'A captured table has no primary key.',
  FERRY_HISTORY_LOST: 'The source no longer has the change log the checkpoint points to.',
  FERRY_CHECKPOINT_AHEAD: 'The checkpoint points past the end of the source change log.',
  FERRY_SERVER_CHANGED: 'The source server identity changed since the checkpoint was written.',
  FERRY_BINLOG_PROTOCOL: 'The binlog stream broke the protocol (bad checksum, truncated or unknown event).',
  FERRY_BINLOG_UNSUPPORTED: 'The binlog contains a format or type Ferry cannot decode exactly.',
  FERRY_SCHEMA_MISMATCH: 'A row event does not match the table schema Ferry holds for that position.',
  FERRY_DDL_UNSUPPORTED: 'A schema change in the stream cannot be applied under the pipeline policy.',
  FERRY_SINK_WRITE: 'The sink rejected a write.',
  FERRY_STATE_CORRUPT: 'The state store is unreadable or inconsistent.',
  FERRY_STATE_WRITE: 'The state store cannot be written (disk full, read-only or I/O error).',
  FERRY_STATE_LOCKED: 'Another Ferry process runs the same pipeline.',
  FERRY_POSITION_INVALID: 'A position is malformed or positions of different logs were compared.',
  FERRY_OUT_OF_MEMORY: 'The pipeline used all of the heap `pipeline.heap.max-bytes` allows.',
  FERRY_ABORTED: 'The operation was cancelled by shutdown.',
  FERRY_INTERNAL: 'An internal invariant was broken (a bug in Ferry).',
} as const;

export type FerryErrorCode = keyof typeof ERROR_CODES;

export interface FerryErrorOptions {
  /** What the user should do about it: a statement to run, a setting to change. */
  fix?: string;
  cause?: unknown;
  /** Structured details safe to log (never secrets). */
  details?: Record<string, unknown>;
}

export class FerryError extends Error {
  readonly code: FerryErrorCode;
  readonly fix: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: FerryErrorCode, message: string, options: FerryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FerryError';
    this.code = code;
    this.fix = options.fix;
    this.details = options.details;
  }

  /** One-line rendering for terminals and logs: code, message, and the fix. */
  describe(): string {
    return `${this.code}: ${this.message}${this.fix ? `\n  fix: ${this.fix}` : ''}`;
  }
}

export function isFerryError(e: unknown, code?: FerryErrorCode): e is FerryError {
  return e instanceof FerryError && (code === undefined || e.code === code);
}

/** Wraps anything thrown into a FerryError, keeping the original as `cause`. */
export function asFerryError(e: unknown, code: FerryErrorCode, message: string, fix?: string): FerryError {
  if (e instanceof FerryError) return e;
  const detail = e instanceof Error ? e.message : String(e);
  return new FerryError(code, `${message}: ${detail}`, { cause: e, ...(fix ? { fix } : {}) });
}

export function abortError(signal?: AbortSignal): FerryError {
  return new FerryError('FERRY_ABORTED', 'operation aborted', { cause: signal?.reason });
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}
