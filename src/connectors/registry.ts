import type { PipelineConfig } from '../core/config-types.js';
import type { Sink, Source } from '../core/contracts.js';
import { createMySqlSource } from './mysql/source.js';
import { ROW_HEAP_FACTOR } from './mysql/stream.js';
import type { BinlogPosition } from './mysql/position.js';

/**
 * The connectors this build knows. One entry per system; the pipeline file's `type` picks it.
 */
export function createSource(config: PipelineConfig): Source<BinlogPosition> {
  switch (config.source.type) {
    case 'mysql':
      return createMySqlSource(config.source, undefined, { maxRowEventBytes: Math.floor(config.pipeline.heapMaxBytes / ROW_HEAP_FACTOR) });
  }
}

/**
 * The sink of the pipeline. Its connector module is loaded here, on demand: a driver the
 * pipeline does not use (pg for a MariaDB target) costs no start-up time.
 */
export async function createSink(config: PipelineConfig): Promise<Sink> {
  switch (config.sink.type) {
    case 'mysql':
      return (await import('./mysql/sink.js')).createMySqlSink(config.sink, config.pipeline.name);
    case 'postgres':
      return (await import('./postgres/sink.js')).createPostgresSink(config.sink, config.pipeline.name);
  }
}
