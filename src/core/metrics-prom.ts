import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PipelineMetrics } from './metrics.js';

/**
 * The pipeline metrics as Prometheus metrics (prom-client), and the `/metrics` endpoint. Loaded
 * by `ferry run --metrics-port` only (see metrics.ts).
 */
export function createPromMetrics(): { metrics: PipelineMetrics; registry: Registry } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ferry_process_' });
  const r = [registry];
  const metrics: PipelineMetrics = {
    lagSeconds: new Gauge({ name: 'ferry_lag_seconds', help: 'Seconds between the source commit of the last applied change and now (0 when caught up and idle).', labelNames: ['pipeline'], registers: r }),
    rowsRead: new Counter({ name: 'ferry_rows_read_total', help: 'Row changes read from the source, by table and operation.', labelNames: ['pipeline', 'table', 'op'], registers: r }),
    rowsWritten: new Counter({ name: 'ferry_rows_written_total', help: 'Row changes durably applied to the sink, by table and operation.', labelNames: ['pipeline', 'table', 'op'], registers: r }),
    queueRows: new Gauge({ name: 'ferry_queue_rows', help: 'Row changes waiting between source and sink lanes.', labelNames: ['pipeline'], registers: r }),
    queueFill: new Gauge({ name: 'ferry_queue_fill_ratio', help: 'Fill of the byte-bounded queue between source and lanes (1 = source paused).', labelNames: ['pipeline'], registers: r }),
    laneBatchRows: new Histogram({ name: 'ferry_lane_batch_rows', help: 'Key actions per lane transaction.', labelNames: ['pipeline', 'lane'], buckets: [1, 10, 100, 500, 1000, 2000, 5000, 10000], registers: r }),
    laneCommits: new Counter({ name: 'ferry_lane_commits_total', help: 'Lane transactions committed in the sink.', labelNames: ['pipeline', 'lane'], registers: r }),
    snapshotRows: new Counter({ name: 'ferry_snapshot_rows_total', help: 'Rows copied by the snapshot, by table.', labelNames: ['pipeline', 'table'], registers: r }),
    snapshotChunks: new Counter({ name: 'ferry_snapshot_chunks_total', help: 'Snapshot chunks durably written, by table.', labelNames: ['pipeline', 'table'], registers: r }),
    checkpointCommits: new Counter({ name: 'ferry_checkpoint_commits_total', help: 'Checkpoints written to the state store.', labelNames: ['pipeline'], registers: r }),
    lossyValues: new Counter({ name: 'ferry_sink_mapped_values_total', help: 'Values the sink could not store exactly and mapped as documented in TYPES.md (kind: nulCharsStripped, zeroDatesReplaced).', labelNames: ['pipeline', 'kind'], registers: r }),
    schemaChanges: new Counter({ name: 'ferry_schema_changes_total', help: 'Schema changes applied to the sink, by kind.', labelNames: ['pipeline', 'kind'], registers: r }),
  };
  return { metrics, registry };
}

/** Serves `/metrics` on 127.0.0.1 (or `host`) and the given port. */
export async function serveMetrics(registry: Registry, port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    registry
      .metrics()
      .then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      })
      .catch((e: unknown) => {
        res.writeHead(500).end(String(e));
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
