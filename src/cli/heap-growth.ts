import { setFlagsFromString } from 'node:v8';

/**
 * Heap growth between full collections of the pipeline worker, in percent of the live heap
 * (V8's growing factor is 1 + p/100).
 *
 * Left to itself, V8 sizes the next full collection by how fast the program allocates compared
 * with how fast it collects, and lets a small heap grow by as little as 10% before marking it
 * all again. A streaming pipeline keeps ~30 MB alive (rows waiting in the queue and in the lanes)
 * and promotes most of what it decodes (rows live for a lane transaction, ~200 ms, longer than
 * two young-generation collections), so it paid a full mark every ~10 MB promoted: ~1.9 of
 * Ferry's ~4.9 CPU-s per 300k streamed changes went to V8's helper threads. The worker's heap is
 * capped anyway (`pipeline.heap.max-bytes`; near the cap V8 collects as often as it must), so
 * below the cap the heap may double before the next full collection. Measured (kept bench
 * servers, 300k changes, 4 alternating runs): Ferry CPU median 4.89 → 4.35 s, peak RSS
 * 186 → 210 MB.
 */
export const HEAP_GROWING_PERCENT = 100;

/** The V8 flag to set, or null when the user gave one (command line or NODE_OPTIONS: theirs wins). */
export function heapGrowthFlag(execArgv: readonly string[], nodeOptions: string | undefined): string | null {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((a) => /^--heap[-_]growing[-_]percent(=|$)/.test(a));
  return given ? null : `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
}

/** Sets the growth for isolates created from now on (call before starting the pipeline worker). */
export function tuneHeapGrowth(): void {
  const flag = heapGrowthFlag(process.execArgv, process.env.NODE_OPTIONS);
  if (flag !== null) setFlagsFromString(flag);
}
