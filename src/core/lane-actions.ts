import type { Row, RowRef, Value } from './change.js';
import type { KeyAction, TargetTable } from './contracts.js';
import { FerryError } from './errors.js';

/**
 * How a sink turns a lane batch into statements: deletes grouped per table, upserts grouped per
 * table *and* per set of present columns (a partial row image must not overwrite the columns it
 * lacks, so rows with different present columns go into different statements). Shared by every
 * database sink; each sink brings its own per-table plan (quoted names, encoders).
 */
export interface ActionPlanBase {
  target: TargetTable;
  /** One entry per column of `target.source.columns`. */
  cols: readonly unknown[];
  /** Column indexes of the key. */
  pk: readonly number[];
}

export interface UpsertGroup<Plan> {
  plan: Plan;
  /** Indexes of the columns every row of the group carries. */
  present: number[];
  /** Decoded or pending images: sinks read each with `rowOf` where they encode it. */
  rows: RowRef[];
}

export interface WritePlan<Plan> {
  deletes: { plan: Plan; keys: Value[][] }[];
  upserts: UpsertGroup<Plan>[];
}

const allColumnsOf = new WeakMap<object, number[]>();
/** [0, 1, ..., n-1] for the plan's columns (shared by every full row image). */
function allColumns(plan: ActionPlanBase): number[] {
  let all = allColumnsOf.get(plan);
  if (!all) allColumnsOf.set(plan, (all = plan.cols.map((_, i) => i)));
  return all;
}

function checkKey(plan: ActionPlanBase, row: Row): void {
  for (const i of plan.pk) if (row[i] === undefined || row[i] === null) throw noKeyValue(plan, i);
}

function noKeyValue(plan: ActionPlanBase, column: number): FerryError {
  return new FerryError('FERRY_SINK_WRITE', `a row for ${plan.target.schema}.${plan.target.name} has no value for key column ${plan.target.source.columns[column]?.name ?? column}`, {
    details: { table: `${plan.target.schema}.${plan.target.name}` },
  });
}

export function groupLaneActions<Plan extends ActionPlanBase>(actions: readonly KeyAction[], planOf: (t: TargetTable) => Plan): WritePlan<Plan> {
  const deletes = new Map<Plan, Value[][]>();
  const upserts = new Map<Plan, Map<string, UpsertGroup<Plan>>>();
  // Actions come in runs of one table (the merger keeps them per table): plan and group lookups
  // are done once per run, not once per action.
  let lastTable: TargetTable | null = null;
  let plan = null as unknown as Plan;
  let lastKeys: Value[][] | null = null;
  let lastGroup: UpsertGroup<Plan> | null = null;
  for (const a of actions) {
    if (a.table !== lastTable) {
      lastTable = a.table;
      plan = planOf(a.table);
      lastKeys = null;
      lastGroup = null;
    }
    if (a.kind === 'delete') {
      let keys: Value[][] | undefined = lastKeys ?? deletes.get(plan);
      if (!keys) deletes.set(plan, (keys = []));
      lastKeys = keys;
      keys.push(a.key);
      continue;
    }
    // Most rows carry every column: they share one group key and one `present` list.
    let present = allColumns(plan);
    let mask = '';
    let ref: RowRef;
    if (a.pending !== undefined) {
      // A full image (only those stay pending) with its key decoded: the all-columns group, not
      // decoded here (the sink decodes it where it encodes it).
      ref = a.pending;
      for (let j = 0; j < plan.pk.length; j++) if (ref.key[j] === null || ref.key[j] === undefined) throw noKeyValue(plan, plan.pk[j] as number);
    } else {
      const row = a.row;
      for (let i = 0; i < plan.cols.length; i++) {
        if (row[i] !== undefined) continue;
        present = [];
        for (let j = 0; j < plan.cols.length; j++) {
          if (row[j] !== undefined) {
            present.push(j);
            mask += '1';
          } else mask += '0';
        }
        break;
      }
      checkKey(plan, row);
      ref = row;
    }
    if (mask === '' && lastGroup !== null) {
      lastGroup.rows.push(ref);
      continue;
    }
    let byMask = upserts.get(plan);
    if (!byMask) upserts.set(plan, (byMask = new Map()));
    let g = byMask.get(mask);
    if (!g) byMask.set(mask, (g = { plan, present, rows: [] }));
    if (mask === '') lastGroup = g;
    g.rows.push(ref);
  }
  return {
    deletes: [...deletes].map(([plan, keys]) => ({ plan, keys })),
    upserts: [...upserts.values()].flatMap((m) => [...m.values()]),
  };
}
