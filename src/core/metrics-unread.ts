import type { PipelineMetrics } from './metrics.js';

/**
 * Metrics nobody can read (`ferry run` without `--metrics-port`): every update is a no-op, and
 * prom-client is not loaded at all. Same shape as createPipelineMetrics(), minus the registry.
 */
export function unreadMetrics(): PipelineMetrics {
  const metric = { inc: noop, set: noop, observe: noop, dec: noop, reset: noop, labels: () => metric };
  return {
    get registry(): never {
      throw new Error('metrics are not collected (no --metrics-port)');
    },
    lagSeconds: metric,
    rowsRead: metric,
    rowsWritten: metric,
    queueRows: metric,
    queueFill: metric,
    laneBatchRows: metric,
    laneCommits: metric,
    snapshotRows: metric,
    snapshotChunks: metric,
    checkpointCommits: metric,
    schemaChanges: metric,
    lossyValues: metric,
  } as unknown as PipelineMetrics;
}

function noop(): void {}
