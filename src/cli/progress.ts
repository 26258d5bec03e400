import cliProgress from 'cli-progress';
import type { PipelinePhase, RuntimeObserver, StreamStats } from '../core/runtime.js';

/**
 * Terminal rendering of a running pipeline: one bar per table during the snapshot, then a live
 * line with position, lag and rows/s. Used only when stderr is a TTY; otherwise the JSON log is
 * the interface.
 */
export function createTerminalObserver(stream: NodeJS.WriteStream = process.stderr): RuntimeObserver & { stop(): void } {
  let multi: cliProgress.MultiBar | null = null;
  const bars = new Map<string, cliProgress.SingleBar>();
  let live: cliProgress.SingleBar | null = null;

  const ensureMulti = (): cliProgress.MultiBar => {
    multi ??= new cliProgress.MultiBar(
      {
        stream,
        clearOnComplete: false,
        hideCursor: true,
        format: ' {table} |{bar}| {percentage}% | {value}/{total} rows | ETA {eta_formatted}',
        barsize: 30,
        etaBuffer: 20,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    return multi;
  };
  const pad = (s: string): string => (s.length > 32 ? `…${s.slice(-31)}` : s.padEnd(32));

  return {
    snapshotTableStarted(table, estimated, copied) {
      const m = ensureMulti();
      const bar = bars.get(table) ?? m.create(Math.max(estimated, copied, 1), copied, { table: pad(table) });
      bars.set(table, bar);
    },
    snapshotProgress(table, copied) {
      const bar = bars.get(table);
      if (!bar) return;
      if (copied > bar.getTotal()) bar.setTotal(copied);
      bar.update(copied);
    },
    snapshotTableDone(table, copied) {
      const m = ensureMulti();
      const bar = bars.get(table) ?? m.create(Math.max(copied, 1), 0, { table: pad(table) });
      bars.set(table, bar);
      bar.setTotal(Math.max(copied, 1));
      bar.update(Math.max(copied, 1));
    },
    phase(p: PipelinePhase) {
      if (p === 'stream') {
        multi?.stop();
        multi = null;
        stream.write('snapshot complete; streaming changes (Ctrl-C stops gracefully)\n');
        live = new cliProgress.SingleBar(
          { stream, hideCursor: true, format: ' streaming | lag {lag}s | {rate} rows/s | {applied} applied | queue {queue} | {position}', fps: 2 },
          cliProgress.Presets.shades_classic,
        );
        live.start(1, 0, { lag: '-', rate: 0, applied: 0, queue: 0, position: '' });
      }
      if (p === 'done') {
        multi?.stop();
        multi = null;
      }
    },
    streamStats(s: StreamStats) {
      live?.update(0, { lag: s.lagSeconds.toFixed(1), rate: Math.round(s.rowsPerSecond), applied: s.rowsApplied, queue: s.queueRows, position: s.position });
    },
    stop() {
      multi?.stop();
      live?.stop();
      multi = null;
      live = null;
    },
  };
}
