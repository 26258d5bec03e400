import type { Row, RowChange, Value } from './change.js';
import type { KeyAction, TargetTable } from './contracts.js';
import { FerryError } from './errors.js';
import type { TableSchema } from './schema.js';
import { tableId } from './schema.js';

/**
 * Turning row changes into per-key final actions, and choosing the lane of a key.
 *
 * Applies are idempotent by key: whatever happened to a key inside one lane batch, only its final
 * state is written (an upsert of the newest image, or a delete). An update that changes the key
 * is a delete of the old key plus an upsert of the new one; the two may land in different lanes,
 * which is safe because each key's own changes stay in order within its lane.
 */

/** Primary-key values of a row image. Throws when the table has no key or the image lacks it. */
export function keyOf(table: TableSchema, row: Row): Value[] {
  if (table.primaryKey.length === 0) {
    // Without a key every row would merge into one: refuse loudly instead.
    throw new FerryError('FERRY_NO_PRIMARY_KEY', `table ${tableId(table)} has no primary key (nor a unique index over NOT NULL columns); Ferry applies changes by key`, {
      fix: `Add a primary key to ${tableId(table)} on the source (ALTER TABLE ... ADD PRIMARY KEY (...)), or exclude it from \`source.tables\`.`,
    });
  }
  const key: Value[] = new Array<Value>(table.primaryKey.length);
  for (let i = 0; i < table.primaryKey.length; i++) {
    const v = row[table.primaryKey[i] as number];
    if (v === undefined) {
      throw new FerryError('FERRY_SCHEMA_MISMATCH', `row image of ${tableId(table)} lacks primary-key column ${table.columns[table.primaryKey[i] as number]?.name ?? '?'}`, {
        fix: 'Set binlog_row_image=FULL on the source so every image carries the primary key.',
      });
    }
    key[i] = v;
  }
  return key;
}

/** A string that is equal for equal keys and different for different keys (type-tagged). */
export function keyString(key: Value[]): string {
  let s = '';
  for (const v of key) {
    if (v === null) s += 'n;';
    else if (typeof v === 'number') s += `i${v};`;
    else if (typeof v === 'bigint') s += `i${v.toString()};`;
    else if (typeof v === 'string') s += `s${v.length}:${v};`;
    else s += `b${v.toString('hex')};`;
  }
  return s;
}

function sameKey(a: Value[], b: Value[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (Buffer.isBuffer(x) && Buffer.isBuffer(y) && x.equals(y)) continue;
    if ((typeof x === 'bigint' || typeof x === 'number') && (typeof y === 'bigint' || typeof y === 'number') && BigInt(x) === BigInt(y)) continue;
    return false;
  }
  return true;
}

/** FNV-1a over the table id and key string; stable across processes so a key keeps its lane. */
export function laneOf(tableKey: string, key: string, lanes: number): number {
  if (lanes <= 1) return 0;
  return laneFromTableHash(tableHash(tableKey), key, lanes);
}

/** The FNV-1a state after the table id (and its separator): the first half of `laneOf`. */
function tableHash(tableKey: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < tableKey.length; i++) {
    h ^= tableKey.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= 0x2f;
  return h;
}

function laneFromTableHash(h: number, key: string, lanes: number): number {
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % lanes;
}

/** Per target table: its id, the id prefix of its steps and its hash state (computed once). */
interface TargetKeying {
  tk: string;
  prefix: string;
  hash: number;
}
const keying = new WeakMap<TargetTable, TargetKeying>();
function keyingOf(target: TargetTable): TargetKeying {
  let k = keying.get(target);
  if (!k) {
    const tk = tableId(target);
    k = { tk, prefix: `${tk}\u0001`, hash: tableHash(tk) };
    keying.set(target, k);
  }
  return k;
}

/** One keyed step of a change: what it does to one key. */
export interface KeyedStep {
  lane: number;
  /** `${tableId}\u0001${keyString}` */
  id: string;
  target: TargetTable;
  /** Upsert image (after), or null for a delete of `key`. */
  row: Row | null;
  key: Value[];
}

/**
 * Splits a change into keyed steps (1 for insert/read/delete/same-key update, 2 for a key change).
 */
export function stepsOf(change: RowChange, target: TargetTable, lanes: number, out: KeyedStep[]): void {
  const table = change.table;
  const k = keyingOf(target);
  const lane = (ks: string): number => (lanes <= 1 ? 0 : laneFromTableHash(k.hash, ks, lanes));
  if (change.op === 'delete') {
    if (!change.before) throw new FerryError('FERRY_INTERNAL', 'delete without a before image');
    const key = keyOf(table, change.before);
    const ks = keyString(key);
    out.push({ lane: lane(ks), id: k.prefix + ks, target, row: null, key });
    return;
  }
  if (!change.after) throw new FerryError('FERRY_INTERNAL', `${change.op} without an after image`);
  const key = keyOf(table, change.after);
  const ks = keyString(key);
  if (change.op === 'update' && change.before) {
    const oldKey = keyOf(table, change.before);
    if (!sameKey(oldKey, key)) {
      const oks = keyString(oldKey);
      out.push({ lane: lane(oks), id: k.prefix + oks, target, row: null, key: oldKey });
    }
  }
  out.push({ lane: lane(ks), id: k.prefix + ks, target, row: change.after, key });
}

/**
 * Accumulates keyed steps of one lane and yields the final action per key. A later upsert whose
 * image lacks columns (partial image: `undefined`) keeps the earlier values of those columns.
 */
export class KeyMerger {
  readonly #actions = new Map<string, KeyAction>();
  #steps = 0;

  get size(): number {
    return this.#actions.size;
  }

  /** Steps added since the last drain (before merging). */
  get steps(): number {
    return this.#steps;
  }

  add(step: KeyedStep): void {
    this.#steps++;
    if (step.row === null) {
      this.#actions.set(step.id, { kind: 'delete', table: step.target, key: step.key });
      return;
    }
    const prev = this.#actions.get(step.id);
    if (prev && prev.kind === 'upsert' && hasUndefined(step.row)) {
      const merged: Row = step.row.slice();
      for (let i = 0; i < merged.length; i++) if (merged[i] === undefined) merged[i] = prev.row[i];
      this.#actions.set(step.id, { kind: 'upsert', table: step.target, row: merged });
      return;
    }
    // Map keeps first-insertion order; re-inserting moves nothing, which is fine: keys are distinct.
    this.#actions.set(step.id, { kind: 'upsert', table: step.target, row: step.row });
  }

  /** Final actions, deletes first (so a unique value freed by a delete can be reused by an upsert). */
  drain(): KeyAction[] {
    const deletes: KeyAction[] = [];
    const upserts: KeyAction[] = [];
    for (const a of this.#actions.values()) (a.kind === 'delete' ? deletes : upserts).push(a);
    this.#actions.clear();
    this.#steps = 0;
    return deletes.concat(upserts);
  }
}

function hasUndefined(row: Row): boolean {
  for (let i = 0; i < row.length; i++) if (row[i] === undefined) return true;
  return false;
}
