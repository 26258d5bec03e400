import type { PipelineConfig } from '../core/config-types.js';
import type { Sink, Source } from '../core/contracts.js';
import { createMySqlSink } from './mysql/sink.js';
import { createMySqlSource } from './mysql/source.js';
import { ROW_HEAP_FACTOR } from './mysql/stream.js';
import type { BinlogPosition } from './mysql/position.js';
import { createPostgresSink } from './postgres/sink.js';

/**
 * The connectors this build knows. One entry per system; the pipeline file's `type` picks it.
 */
export function createSource(config: PipelineConfig): Source<BinlogPosition> {
  switch (config.source.type) {
    case 'mysql':
      return createMySqlSource(config.source, undefined, { maxRowEventBytes: Math.floor(config.pipeline.heapMaxBytes / ROW_HEAP_FACTOR) });
  }
}

export function createSink(config: PipelineConfig): Sink {
  switch (config.sink.type) {
    case 'mysql':
      return createMySqlSink(config.sink, config.pipeline.name);
    case 'postgres':
      return createPostgresSink(config.sink, config.pipeline.name);
  }
}
