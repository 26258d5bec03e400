// Byte sizes as written in pipeline files. Its own module (no zod): `ferry run`'s main thread
// reads the heap cap with it before the pipeline worker validates the whole file.

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  kib: 2 ** 10,
  mb: 1e6,
  mib: 2 ** 20,
  gb: 1e9,
  gib: 2 ** 30,
};

/** Bytes from a number or a string like `512KiB`, `64MiB`, `1GB`. */
export function parseByteSize(v: number | string): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(v);
  if (!m || m[1] === undefined) return null;
  const factor = SIZE_UNITS[(m[2] ?? '').toLowerCase() || 'b'];
  if (factor === undefined) return null;
  const bytes = Number(m[1]) * factor;
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** Default of `pipeline.heap.max-bytes`. */
export const DEFAULT_HEAP_MAX = '160MiB';
