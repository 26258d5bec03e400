/**
 * Metrics of one pipeline, as the runtime records them. Labels never carry secrets: only table
 * ids, operations and lane numbers. Counters are incremented once per batch with pre-aggregated
 * counts, never once per row.
 *
 * The runtime sees only these small interfaces. `createPipelineMetrics()` records nothing (a
 * pipeline run without `--metrics-port`); metrics-prom.ts backs them with prom-client and serves
 * them. prom-client is loaded only then: importing it costs every run start-up time.
 */
export interface CounterMetric<L extends string> {
  inc(labels: Record<L, string>, value?: number): void;
}
export interface GaugeMetric<L extends string> {
  set(labels: Record<L, string>, value: number): void;
}
export interface HistogramMetric<L extends string> {
  observe(labels: Record<L, string>, value: number): void;
}

export interface PipelineMetrics {
  lagSeconds: GaugeMetric<'pipeline'>;
  rowsRead: CounterMetric<'pipeline' | 'table' | 'op'>;
  rowsWritten: CounterMetric<'pipeline' | 'table' | 'op'>;
  queueRows: GaugeMetric<'pipeline'>;
  queueFill: GaugeMetric<'pipeline'>;
  laneBatchRows: HistogramMetric<'pipeline' | 'lane'>;
  laneCommits: CounterMetric<'pipeline' | 'lane'>;
  snapshotRows: CounterMetric<'pipeline' | 'table'>;
  snapshotChunks: CounterMetric<'pipeline' | 'table'>;
  checkpointCommits: CounterMetric<'pipeline'>;
  schemaChanges: CounterMetric<'pipeline' | 'kind'>;
  lossyValues: CounterMetric<'pipeline' | 'kind'>;
}

const nothing = (): void => undefined;

/** Metrics that record nothing: for runs whose metrics nobody can read (no `--metrics-port`). */
export function createPipelineMetrics(): PipelineMetrics {
  const counter = { inc: nothing };
  const gauge = { set: nothing };
  const histogram = { observe: nothing };
  return {
    lagSeconds: gauge,
    rowsRead: counter,
    rowsWritten: counter,
    queueRows: gauge,
    queueFill: gauge,
    laneBatchRows: histogram,
    laneCommits: counter,
    snapshotRows: counter,
    snapshotChunks: counter,
    checkpointCommits: counter,
    schemaChanges: counter,
    lossyValues: counter,
  };
}
