import type { Value } from './change.js';

/**
 * Snapshot rows in text form: every value as bytes, never as a JS value. A source that receives
 * values as text (MySQL's text protocol) can hand a chunk on this way, and a sink that loads
 * text (PostgreSQL COPY) can turn the bytes into its own input format without building a JS
 * string or number per value: the profile of snapshot → PostgreSQL had decoding every field into
 * a JS string, and the garbage collection that followed, as its largest costs.
 *
 * The text form of a value, by logical kind (the canonical forms of change.ts, as bytes):
 *
 * | logical kind                    | bytes                                                     |
 * | ------------------------------- | --------------------------------------------------------- |
 * | int, year                       | ASCII decimal, optional `-`, possibly leading zeros (ZEROFILL) |
 * | decimal                         | ASCII, exactly the canonical string                       |
 * | float, double                   | ASCII decimal or exponent form that parses (correctly rounded) to the canonical number |
 * | bit                             | the canonical Buffer: big-endian, ceil(bits/8) bytes      |
 * | date, datetime, timestamp, time | ASCII, exactly the canonical string (timestamp in UTC)    |
 * | string, enum, set, json, uuid, inet4/6 | UTF-8 of the canonical string (a source may pass bytes that are not valid UTF-8; a sink that needs valid text refuses the chunk) |
 * | binary, geometry                | the canonical Buffer                                      |
 *
 * Value `i` of row `r` (columns aligned with `TableSchema.columns`, like a Row) is
 * `data[starts[r * columns + i], ends[r * columns + i])`; a start of -1 is SQL NULL.
 */
export interface TextRows {
  readonly rowCount: number;
  readonly columns: number;
  readonly data: Buffer;
  readonly starts: Int32Array;
  readonly ends: Int32Array;
}

/** A snapshot chunk in text form (see TextRows), in primary-key order. */
export interface SnapshotTextChunk {
  text: TextRows;
  /** Primary-key values (canonical) of the first and the last row; null when the chunk is empty. */
  firstKey: Value[] | null;
  lastKey: Value[] | null;
}

/** Builds TextRows row by row: `value()`/`nullValue()` per column, `endRow()` after each row. */
export class TextRowsBuilder {
  readonly columns: number;
  #data: Buffer;
  #len = 0;
  #starts: Int32Array;
  #ends: Int32Array;
  #n = 0;
  #rows = 0;

  constructor(columns: number, expectedRows = 1024, bytesPerRow = 128) {
    this.columns = columns;
    const cells = Math.max(1, expectedRows) * columns;
    this.#starts = new Int32Array(cells);
    this.#ends = new Int32Array(cells);
    this.#data = Buffer.allocUnsafe(Math.max(1024, expectedRows * bytesPerRow));
  }

  get rowCount(): number {
    return this.#rows;
  }

  /** Values written so far in the current row. */
  get pendingValues(): number {
    return this.#n - this.#rows * this.columns;
  }

  #cell(): void {
    if (this.#n === this.#starts.length) {
      const starts = new Int32Array(this.#starts.length * 2);
      starts.set(this.#starts);
      this.#starts = starts;
      const ends = new Int32Array(this.#ends.length * 2);
      ends.set(this.#ends);
      this.#ends = ends;
    }
  }

  /**
   * Room for `n` more bytes; returns the buffer to write them into at `offset`. Then call
   * `commitBytes(n)`. Lets a reader copy a whole protocol packet at once.
   */
  reserve(n: number): Buffer {
    if (this.#len + n > this.#data.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#data.length * 2, this.#len + n));
      this.#data.copy(grown, 0, 0, this.#len);
      this.#data = grown;
    }
    return this.#data;
  }

  get offset(): number {
    return this.#len;
  }

  commitBytes(n: number): void {
    this.#len += n;
  }

  /** The next value is `[start, end)` of the data (bytes already placed with reserve/commitBytes). */
  valueAt(start: number, end: number): void {
    this.#cell();
    this.#starts[this.#n] = start;
    this.#ends[this.#n++] = end;
  }

  /** The next value is these bytes (copied). */
  value(src: Buffer, start = 0, end = src.length): void {
    const n = end - start;
    const b = this.reserve(n);
    src.copy(b, this.#len, start, end);
    this.valueAt(this.#len, this.#len + n);
    this.#len += n;
  }

  nullValue(): void {
    this.#cell();
    this.#starts[this.#n] = -1;
    this.#ends[this.#n++] = -1;
  }

  endRow(): void {
    if (this.#n !== (this.#rows + 1) * this.columns) throw new Error(`text row has ${this.#n - this.#rows * this.columns} values, expected ${this.columns}`);
    this.#rows++;
  }

  finish(): TextRows {
    return { rowCount: this.#rows, columns: this.columns, data: this.#data, starts: this.#starts, ends: this.#ends };
  }
}
