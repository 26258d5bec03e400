import type { Row, Value } from './change.js';
import { keyOf, keyString } from './key-merge.js';
import type { TableSchema } from './schema.js';

/**
 * Merging snapshot chunks into the stream without locks (watermarks).
 *
 * A chunk is *opened* before its rows are read: from then on the stream notes every key of the
 * chunk's table that it hands to the lanes. The rows are then read in one query, and the log
 * position right after the read is the chunk's *high watermark*. Once the stream has handed on
 * everything up to the high watermark, the chunk's rows are handed on too — minus every key
 * the stream touched since the chunk was opened.
 *
 * Why this is exact: a key the stream did not touch between opening and emission had no change
 * between the read and the emission point, so the row read is its state there; changes after
 * that point follow it in the stream. A key the stream did touch is left out: the stream has
 * already handed on (or will hand on before anything later) a full image or a delete for it,
 * which is at least as new as the row read. Leaving out more keys than necessary is therefore
 * always safe; missing one is not, which is why a chunk is opened *before* its read (the open
 * plays the role of the low watermark). This needs full row images (binlog_row_image=FULL).
 */
export interface OpenChunk<P> {
  readonly id: number;
  readonly table: string;
  /** Keys the stream handed on since the chunk was opened. */
  readonly touched: Set<string>;
  /** Set by `ready`. */
  rows: Row[] | null;
  schema: TableSchema | null;
  high: P | null;
  lastKey: Value[] | null;
  /** The last chunk of its table (the read returned fewer rows than asked). */
  last: boolean;
  /** A schema change of the table while the chunk was pending: it must be read again. */
  invalid: boolean;
}

export class ChunkMerger<P> {
  #nextId = 1;
  readonly #open = new Map<string, Set<OpenChunk<P>>>();
  /** Chunks read and waiting for the stream to pass their high watermark. */
  readonly #ready: OpenChunk<P>[] = [];

  constructor(private readonly compare: (a: P, b: P) => number) {}

  /** Chunks opened and not yet taken. */
  get pending(): number {
    let n = 0;
    for (const s of this.#open.values()) n += s.size;
    return n;
  }

  pendingOf(table: string): number {
    return this.#open.get(table)?.size ?? 0;
  }

  /** Open chunks and their state, for the stall diagnostic in the runtime's status log. */
  describe(format: (p: P) => string): { table: string; id: number; ready: boolean; high: string | null; touched: number }[] {
    const out: { table: string; id: number; ready: boolean; high: string | null; touched: number }[] = [];
    for (const [table, set] of this.#open) {
      for (const c of set) out.push({ table, id: c.id, ready: this.#ready.includes(c), high: c.high === null ? null : format(c.high), touched: c.touched.size });
    }
    return out;
  }

  /** Starts noting the table's keys. Call before reading the chunk's rows. */
  open(table: string): OpenChunk<P> {
    const c: OpenChunk<P> = { id: this.#nextId++, table, touched: new Set(), rows: null, schema: null, high: null, lastKey: null, last: false, invalid: false };
    let set = this.#open.get(table);
    if (!set) {
      set = new Set();
      this.#open.set(table, set);
    }
    set.add(c);
    return c;
  }

  /** Whether any chunk of this table is open (cheap check on the hot path). */
  watching(table: string): boolean {
    const s = this.#open.get(table);
    return s !== undefined && s.size > 0;
  }

  /** The stream handed on a change of `key` (a keyString) of `table`. */
  noteKey(table: string, key: string): void {
    const set = this.#open.get(table);
    if (!set) return;
    for (const c of set) c.touched.add(key);
  }

  /** The chunk's rows were read; `high` is the log position right after the read. */
  ready(c: OpenChunk<P>, schema: TableSchema, rows: Row[], high: P, lastKey: Value[] | null, last: boolean): void {
    c.rows = rows;
    c.schema = schema;
    c.high = high;
    c.lastKey = lastKey;
    c.last = last;
    if (!this.#open.get(c.table)?.has(c)) return; // abandoned meanwhile
    this.#ready.push(c);
  }

  /** Gives up a chunk (read failed, or shutdown). */
  abandon(c: OpenChunk<P>): void {
    this.#open.get(c.table)?.delete(c);
    const i = this.#ready.indexOf(c);
    if (i >= 0) this.#ready.splice(i, 1);
  }

  /** A schema change of the table: every pending chunk of it is invalid and must be read again. */
  invalidate(table: string): OpenChunk<P>[] {
    const set = this.#open.get(table);
    if (!set) return [];
    const out = [...set];
    for (const c of out) c.invalid = true;
    return out;
  }

  /**
   * Ready chunks whose high watermark the stream has passed (`handedOn` = position of the last
   * batch handed to the lanes), in readiness order. Per table, a chunk is taken only after every
   * chunk of that table opened before it, so progress per table stays in key order.
   */
  takeReady(handedOn: P): OpenChunk<P>[] {
    if (this.#ready.length === 0) return [];
    // Oldest first: chunks of one table read in parallel become ready in any order, but are
    // emitted in the order they were opened (key order).
    this.#ready.sort((a, b) => a.id - b.id);
    const out: OpenChunk<P>[] = [];
    const blocked = new Set<string>();
    for (let i = 0; i < this.#ready.length; ) {
      const c = this.#ready[i] as OpenChunk<P>;
      let olderOpen = false;
      for (const o of this.#open.get(c.table) ?? []) {
        if (o.id < c.id) {
          olderOpen = true;
          break;
        }
      }
      if (blocked.has(c.table) || olderOpen || c.high === null || this.compare(c.high, handedOn) > 0) {
        blocked.add(c.table);
        i++;
        continue;
      }
      this.#ready.splice(i, 1);
      this.#open.get(c.table)?.delete(c);
      out.push(c);
    }
    return out;
  }
}

/** The rows of a chunk that the stream did not touch while it was pending. */
export function untouchedRows(c: OpenChunk<unknown>): Row[] {
  const rows = c.rows ?? [];
  if (c.touched.size === 0 || !c.schema) return rows;
  const schema = c.schema;
  return rows.filter((r) => !c.touched.has(keyString(keyOf(schema, r))));
}
