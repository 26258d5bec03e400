import type { PendingRow, Row, RowChange, Value } from './change.js';
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

/** Per target table: its id and its hash state (computed once). */
interface TargetKeying {
  tk: string;
  hash: number;
}
const keying = new WeakMap<TargetTable, TargetKeying>();
function keyingOf(target: TargetTable): TargetKeying {
  let k = keying.get(target);
  if (!k) {
    const tk = tableId(target);
    k = { tk, hash: tableHash(tk) };
    keying.set(target, k);
  }
  return k;
}

/** Decimal digits of the integer being hashed, least significant first (reused: no allocation). */
const digits = new Uint8Array(20);

/**
 * `laneFromTableHash(h, keyString([v]), lanes)` for a safe integer `v`, without building the key
 * string: FNV-1a over the characters of `i<decimal digits>;`.
 */
function laneOfInteger(h: number, v: number, lanes: number): number {
  h ^= 0x69; // 'i'
  h = Math.imul(h, 0x01000193);
  if (v < 0) {
    h ^= 0x2d; // '-'
    h = Math.imul(h, 0x01000193);
    v = -v;
  }
  let n = 0;
  do {
    const q = Math.floor(v / 10);
    digits[n++] = v - q * 10;
    v = q;
  } while (v > 0);
  while (n > 0) {
    h ^= 0x30 + (digits[--n] as number);
    h = Math.imul(h, 0x01000193);
  }
  h ^= 0x3b; // ';'
  h = Math.imul(h, 0x01000193);
  return (h >>> 0) % lanes;
}

/**
 * The merge key of a key within its table: the integer itself for a one-column integer key
 * (most keys: no string built per change), else `keyString(key)`. Equal keys give equal merge
 * keys (a bigint that fits a safe integer is that number, as in keyString).
 */
function mergeKeyOf(key: Value[]): number | string {
  return key.length === 1 ? mergeKeyOf1(key[0] as Value) : keyString(key);
}

/**
 * One-column integer keys go to lanes in blocks of this many consecutive values, not key by key.
 * Keys that grow (AUTO_INCREMENT, sequences) are inserted at the end of the target's primary-key
 * index; hashed key by key, every lane wrote every other key of the same pages, each lane's rows
 * landing between the other's, and InnoDB split those pages in the middle, leaving them half
 * full. Measured on the bench (300,000 changes × 4, two lanes, same-run A/B): the target's
 * tablespace grew 144 MB with keys hashed one by one and 92 MB with blocks of 1024, with less
 * target CPU (median 5.82 → 5.07 s) and less time (8.84 → 7.15 s). A block is ~20 pages of
 * 300-byte rows: one split where two blocks meet, and blocks still spread over the lanes.
 */
export const LANE_KEY_BLOCK = 1024;

/**
 * Names how keys are assigned to lanes. Stored with the lane count in the state store: when
 * either differs from what the lanes' checkpoints were written under, every lane starts again
 * from the pipeline checkpoint (runtime.ts), since a lane may now own keys another lane had not
 * applied yet.
 */
export const LANE_SCHEME = 'int-block-1024';

function laneOfMergeKey(h: number, k: number | string, lanes: number): number {
  if (lanes <= 1) return 0;
  return typeof k === 'number' ? laneOfInteger(h, Math.floor(k / LANE_KEY_BLOCK), lanes) : laneFromTableHash(h, k, lanes);
}

/**
 * One keyed step of a change: what it does to one key. It is a KeyAction as it stands (the
 * merger hands the last step of each key to the sink as is), plus where it goes.
 */
export type KeyedStep = KeyAction & {
  lane: number;
  /** The key's merge key within its table (see mergeKeyOf). */
  k: number | string;
};

/** Values of the key a step acts on (deletes carry them; an upsert's are in its row). */
export function stepKey(step: KeyedStep): Value[] {
  if (step.kind === 'delete') return step.key;
  return step.pending !== undefined ? step.pending.key : keyOf(step.table.source, step.row);
}

/** The upsert of a pending row image (PendingRow): `row` decodes it on each read. */
class PendingUpsert {
  readonly kind = 'upsert' as const;
  constructor(
    readonly table: TargetTable,
    readonly pending: PendingRow,
    readonly lane: number,
    readonly k: number | string,
  ) {}

  get row(): Row {
    return this.pending.materialize();
  }
}

/** Whether two values of a key column are the same key value (a bigint equals the number of the same value). */
function sameKeyValue(x: Value | undefined, y: Value | undefined): boolean {
  if (x === y) return true;
  if (Buffer.isBuffer(x) && Buffer.isBuffer(y)) return x.equals(y);
  if ((typeof x === 'bigint' || typeof x === 'number') && (typeof y === 'bigint' || typeof y === 'number')) return BigInt(x) === BigInt(y);
  return false;
}

/** The merge key of a row image's key; throws (as keyOf) when the image lacks a key column. */
function mergeKeyOfRow(table: TableSchema, row: Row): number | string {
  const pk = table.primaryKey;
  if (pk.length === 1) {
    // One key column (most tables): no key array per change.
    const v = row[pk[0] as number];
    if (v !== undefined) return mergeKeyOf1(v);
  }
  return mergeKeyOf(keyOf(table, row));
}

/** mergeKeyOf([v]) without the array. */
function mergeKeyOf1(v: Value): number | string {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v === 0 ? 0 : v; // -0 is 0, as in keyString
  if (typeof v === 'bigint' && v >= -9007199254740991n && v <= 9007199254740991n) return Number(v);
  return keyString([v]);
}

/** Where stepsOf puts the steps it makes (an array, or an object that routes them). */
export interface StepSink {
  push(step: KeyedStep): unknown;
}

/**
 * Splits a change into keyed steps (1 for insert/read/delete/same-key update, 2 for a key change).
 */
export function stepsOf(change: RowChange, target: TargetTable, lanes: number, out: StepSink): void {
  const table = change.table;
  const h = lanes <= 1 ? 0 : keyingOf(target).hash;
  if (change.op === 'delete') {
    if (!change.before) throw new FerryError('FERRY_INTERNAL', 'delete without a before image');
    const key = keyOf(table, change.before);
    const k = mergeKeyOf(key);
    out.push({ kind: 'delete', table: target, key, lane: laneOfMergeKey(h, k, lanes), k });
    return;
  }
  const pending = change.pending;
  if (pending !== undefined) {
    // The key's values are decoded; reading `after` would decode the whole row.
    const key = pending.key;
    const k = mergeKeyOf(key);
    if (change.op === 'update' && change.before) movedKey(table, change.before, key, false, target, h, lanes, out);
    out.push(new PendingUpsert(target, pending, laneOfMergeKey(h, k, lanes), k));
    return;
  }
  const row = change.after;
  if (!row) throw new FerryError('FERRY_INTERNAL', `${change.op} without an after image`);
  const k = mergeKeyOfRow(table, row);
  if (change.op === 'update' && change.before) movedKey(table, change.before, row, true, target, h, lanes, out);
  out.push({ kind: 'upsert', table: target, row, lane: laneOfMergeKey(h, k, lanes), k });
}

/**
 * For an update: when the key changed, the step deleting the old key. `after` is the after
 * image (`byColumn`) or its key's values in key order.
 */
function movedKey(table: TableSchema, before: Row, after: readonly (Value | undefined)[], byColumn: boolean, target: TargetTable, h: number, lanes: number, out: StepSink): void {
  const pk = table.primaryKey;
  let same = true;
  for (let i = 0; i < pk.length && same; i++) same = sameKeyValue(before[pk[i] as number], after[byColumn ? (pk[i] as number) : i]);
  if (same) return;
  const oldKey = keyOf(table, before);
  const ok = mergeKeyOf(oldKey);
  out.push({ kind: 'delete', table: target, key: oldKey, lane: laneOfMergeKey(h, ok, lanes), k: ok });
}

/**
 * Accumulates keyed steps of one lane and yields the final action per key. A later upsert whose
 * image lacks columns (partial image: `undefined`) keeps the earlier values of those columns.
 */
export class KeyMerger {
  /** Final action per merge key, per target table (tables in first-seen order). */
  readonly #tables = new Map<TargetTable, Map<number | string, KeyAction>>();
  #lastTable: TargetTable | null = null;
  #last: Map<number | string, KeyAction> | null = null;
  #steps = 0;

  get size(): number {
    let n = 0;
    for (const m of this.#tables.values()) n += m.size;
    return n;
  }

  /** Steps added since the last drain (before merging). */
  get steps(): number {
    return this.#steps;
  }

  add(step: KeyedStep): void {
    this.#steps++;
    let actions = this.#last;
    if (step.table !== this.#lastTable || actions === null) {
      actions = this.#tables.get(step.table) ?? null;
      if (actions === null) this.#tables.set(step.table, (actions = new Map()));
      this.#lastTable = step.table;
      this.#last = actions;
    }
    if (step.kind === 'upsert') {
      const prev = actions.get(step.k);
      // A pending image is full (only full images stay pending): it replaces what came before.
      if (prev !== undefined && prev.kind === 'upsert' && step.pending === undefined && hasUndefined(step.row)) {
        const merged: Row = step.row.slice();
        const prevRow = prev.row;
        for (let i = 0; i < merged.length; i++) if (merged[i] === undefined) merged[i] = prevRow[i];
        actions.set(step.k, { kind: 'upsert', table: step.table, row: merged });
        return;
      }
    }
    // Map keeps first-insertion order; re-inserting moves nothing, which is fine: keys are distinct.
    actions.set(step.k, step);
  }

  /** Final actions, deletes first (so a unique value freed by a delete can be reused by an upsert). */
  drain(): KeyAction[] {
    const deletes: KeyAction[] = [];
    const upserts: KeyAction[] = [];
    for (const actions of this.#tables.values()) for (const a of actions.values()) (a.kind === 'delete' ? deletes : upserts).push(a);
    this.#tables.clear();
    this.#lastTable = null;
    this.#last = null;
    this.#steps = 0;
    return deletes.concat(upserts);
  }
}

function hasUndefined(row: Row): boolean {
  for (let i = 0; i < row.length; i++) if (row[i] === undefined) return true;
  return false;
}
