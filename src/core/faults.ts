/**
 * Named crash points for the fault tests, like MariaDB's debug crash points. A test starts
 * `ferry run` with `FERRY_CRASH_AT=<point>:<n>` and the process kills itself with SIGKILL the
 * n-th time it passes that point — no flush, no cleanup, exactly like `kill -9`.
 * Without the variable a crash point costs one comparison.
 *
 * Points: snapshot.after-chunk-write (chunk durable in the sink, progress not yet recorded),
 * stream.after-lane-commit (lane transaction committed, ack tracker not yet told),
 * stream.after-checkpoint (checkpoint written to the state store),
 * stream.mid-transaction (the source is inside a transaction that is split over batches).
 *
 * `FERRY_EXHAUST_HEAP_AT=<point>:<n>` instead fills the JavaScript heap at that point until V8
 * stops the pipeline worker (`pipeline.heap.max-bytes`): the out-of-memory path, end to end.
 */
const spec = process.env.FERRY_CRASH_AT ?? '';
const [armedPoint, crashCountText] = spec.split(':');
let remaining = Number(crashCountText ?? '1') || 1;
const [heapPoint, heapCountText] = (process.env.FERRY_EXHAUST_HEAP_AT ?? '').split(':');
let heapRemaining = Number(heapCountText ?? '1') || 1;

export function crashPoint(point: string): void {
  if (heapPoint !== undefined && heapPoint !== '' && point === heapPoint && --heapRemaining <= 0) {
    process.stderr.write(`FERRY_EXHAUST_HEAP_AT: filling the heap at ${point}\n`);
    const hoard: number[][] = [];
    for (;;) hoard.push(new Array<number>(4096).fill(hoard.length));
  }
  if (armedPoint === undefined || armedPoint === "" || point !== armedPoint) return;
  remaining--;
  if (remaining <= 0) {
    process.stderr.write(`FERRY_CRASH_AT: killing the process at ${point}\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}
