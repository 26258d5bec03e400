import type { KeyAction, TargetTable } from '../../src/core/contracts.js';
import type { PendingRow, Row, Value } from '../../src/core/change.js';

/**
 * A pending row image over fixed values (the binlog-backed one is tested in binlog-decoder):
 * `key` is the values of `keyColumns` (default: column 0), `decoded` counts `materialize` calls.
 */
export class CountingPending implements PendingRow {
  decoded = 0;
  readonly key: Value[];
  readonly bytes = 16;

  constructor(
    private readonly values: Row,
    keyColumns: readonly number[] = [0],
  ) {
    this.key = keyColumns.map((i) => values[i] as Value);
  }

  materialize(): Row {
    this.decoded++;
    return this.values.slice();
  }
}

/** The upsert action of a pending image, as the key merger hands it on (`row` decodes). */
export function pendingUpsert(table: TargetTable, pending: PendingRow): KeyAction {
  return {
    kind: 'upsert',
    table,
    get row(): Row {
      return pending.materialize();
    },
    pending,
  };
}
