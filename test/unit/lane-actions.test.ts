import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rowOf } from '../../src/core/change.js';
import type { KeyAction, TargetTable } from '../../src/core/contracts.js';
import { groupLaneActions, type ActionPlanBase } from '../../src/core/lane-actions.js';
import type { TableSchema } from '../../src/core/schema.js';
import { CountingPending, pendingUpsert } from '../helpers/pending.js';

function tableOf(name: string): TargetTable {
  const source: TableSchema = {
    schema: 's',
    name,
    columns: ['id', 'a', 'b'].map((c) => ({ name: c, type: { kind: 'int', bits: 32, unsigned: false }, sourceType: 'int(11)', nullable: c !== 'id', defaultValue: null, generated: false })),
    primaryKey: [0],
  };
  return { schema: 's', name, source };
}

test('lane actions: deletes per table, upserts per table and set of present columns, in order of appearance', () => {
  const t1 = tableOf('t1');
  const t2 = tableOf('t2');
  const plans = new Map<TargetTable, ActionPlanBase>();
  const planOf = (t: TargetTable): ActionPlanBase => {
    let p = plans.get(t);
    if (!p) plans.set(t, (p = { target: t, cols: t.source.columns, pk: t.source.primaryKey }));
    return p;
  };
  const actions: KeyAction[] = [
    { kind: 'delete', table: t1, key: [1] },
    { kind: 'delete', table: t2, key: [2] },
    { kind: 'delete', table: t1, key: [3] },
    { kind: 'upsert', table: t1, row: [10, 1, 1] },
    { kind: 'upsert', table: t1, row: [11, undefined, 2] },
    { kind: 'upsert', table: t1, row: [12, 3, 3] },
    { kind: 'upsert', table: t2, row: [20, 4, 4] },
    { kind: 'upsert', table: t1, row: [13, 5, 5] },
    { kind: 'upsert', table: t1, row: [14, undefined, 6] },
  ];
  const wp = groupLaneActions(actions, planOf);
  assert.deepEqual(
    wp.deletes.map((d) => [d.plan.target.name, d.keys]),
    [
      ['t1', [[1], [3]]],
      ['t2', [[2]]],
    ],
  );
  assert.deepEqual(
    wp.upserts.map((g) => [g.plan.target.name, g.present, g.rows]),
    [
      ['t1', [0, 1, 2], [[10, 1, 1], [12, 3, 3], [13, 5, 5]]],
      ['t1', [0, 2], [[11, undefined, 2], [14, undefined, 6]]],
      ['t2', [0, 1, 2], [[20, 4, 4]]],
    ],
  );
  assert.throws(() => groupLaneActions([{ kind: 'upsert', table: t1, row: [null, 1, 1] }], planOf), /key column id/);
});

test('lane actions: pending images join the all-columns group of their table undecoded, in order', () => {
  const t1 = tableOf('t1');
  const planOf = ((plan: ActionPlanBase) => () => plan)({ target: t1, cols: t1.source.columns, pk: t1.source.primaryKey });
  const p1 = new CountingPending([2, 2, 2]);
  const p2 = new CountingPending([4, 4, 4]);
  const actions: KeyAction[] = [
    { kind: 'upsert', table: t1, row: [1, 1, 1] },
    pendingUpsert(t1, p1),
    { kind: 'upsert', table: t1, row: [3, undefined, 3] },
    pendingUpsert(t1, p2),
  ];
  const wp = groupLaneActions(actions, planOf);
  assert.equal(p1.decoded + p2.decoded, 0, 'grouping decodes no pending image');
  assert.deepEqual(
    wp.upserts.map((g) => [g.present, g.rows.map(rowOf)]),
    [
      [[0, 1, 2], [[1, 1, 1], [2, 2, 2], [4, 4, 4]]],
      [[0, 2], [[3, undefined, 3]]],
    ],
  );
  // A pending image without its key value is refused like a decoded one.
  assert.throws(() => groupLaneActions([pendingUpsert(t1, new CountingPending([null, 1, 1]))], planOf), /no value for key column id/);
});
