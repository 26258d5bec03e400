import cliProgress from 'cli-progress';
import type { PipelinePhase, RuntimeObserver, StreamStats } from '../core/runtime.js';

/**
 * Terminal rendering of a running pipeline: one line with position, lag and rows/s of the
 * stream, and one bar per table while it is being copied (the snapshot runs alongside the
 * stream). Used only when stderr is a TTY; otherwise the JSON log is the interface.
 */
export function createTerminalObserver(stream: NodeJS.WriteStream = process.stderr): RuntimeObserver & { stop(): void } {
  const multi = new cliProgress.MultiBar(
    {
      stream,
      clearOnComplete: false,
      hideCursor: true,
      format: ' {table} |{bar}| {percentage}% | {value}/{total} rows | ETA {eta_formatted}',
      barsize: 30,
      etaBuffer: 20,
      fps: 4,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  let live: cliProgress.SingleBar | null = null;
  let stopped = false;
  const pad = (s: string): string => (s.length > 32 ? `…${s.slice(-31)}` : s.padEnd(32));
  const bar = (table: string, total: number, value: number): cliProgress.SingleBar => {
    let b = bars.get(table);
    if (!b) {
      b = multi.create(Math.max(total, value, 1), value, { table: pad(table) });
      bars.set(table, b);
    }
    return b;
  };

  return {
    snapshotTableStarted(table, estimated, copied) {
      const b = bar(table, estimated, copied);
      b.setTotal(Math.max(estimated, copied, 1));
      b.update(copied);
    },
    snapshotProgress(table, copied) {
      const b = bar(table, copied, copied);
      if (copied > b.getTotal()) b.setTotal(copied);
      b.update(copied);
    },
    snapshotTableDone(table, copied) {
      const b = bar(table, copied, copied);
      b.setTotal(Math.max(copied, 1));
      b.update(Math.max(copied, 1));
    },
    phase(p: PipelinePhase) {
      if (p === 'stream' && !live && !stopped) {
        live = multi.create(1, 0, { lag: '-', rate: 0, applied: 0, queue: 0, position: '' }, {
          format: ' stream | lag {lag}s | {rate} rows/s | {applied} applied | queue {queue} | {position}',
        });
      }
    },
    streamStats(s: StreamStats) {
      if (!live && !stopped) this.phase?.('stream');
      live?.update(0, { lag: s.lagSeconds.toFixed(1), rate: Math.round(s.rowsPerSecond), applied: s.rowsApplied, queue: s.queueRows, position: s.position });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      multi.stop();
    },
  };
}
