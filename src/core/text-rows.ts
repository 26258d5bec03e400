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
 * `buffers[rowBuffer[r]][starts[r * columns + i], ends[r * columns + i])`; a start of -1 is SQL
 * NULL. All values of a row are in one buffer; the buffers may be shared with other data (a
 * reader can point into the network buffers the rows arrived in instead of copying them) and
 * must not be written to.
 */
export interface TextRows {
  readonly rowCount: number;
  readonly columns: number;
  readonly buffers: readonly Buffer[];
  readonly rowBuffer: Int32Array;
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

/**
 * Builds TextRows row by row: `beginRow(buffer)`, then `value(start, end)` or `nullValue()` per
 * column (offsets into that buffer), then `endRow()`.
 */
export class TextRowsBuilder {
  readonly columns: number;
  readonly #buffers: Buffer[] = [];
  #current: Buffer | null = null;
  #rowBuffer: Int32Array;
  #starts: Int32Array;
  #ends: Int32Array;
  #n = 0;
  #rows = 0;

  constructor(columns: number, expectedRows = 1024) {
    this.columns = columns;
    const rows = Math.max(1, expectedRows);
    this.#rowBuffer = new Int32Array(rows);
    this.#starts = new Int32Array(rows * columns);
    this.#ends = new Int32Array(rows * columns);
  }

  get rowCount(): number {
    return this.#rows;
  }

  beginRow(buffer: Buffer): void {
    if (this.#n !== this.#rows * this.columns) throw new Error('TextRowsBuilder: beginRow inside a row');
    if (buffer !== this.#current) {
      this.#buffers.push(buffer);
      this.#current = buffer;
    }
    if (this.#rows === this.#rowBuffer.length) {
      this.#rowBuffer = grow(this.#rowBuffer);
      this.#starts = grow(this.#starts);
      this.#ends = grow(this.#ends);
    }
    this.#rowBuffer[this.#rows] = this.#buffers.length - 1;
  }

  /** The next value is `[start, end)` of the row's buffer. */
  value(start: number, end: number): void {
    this.#starts[this.#n] = start;
    this.#ends[this.#n++] = end;
  }

  nullValue(): void {
    this.#starts[this.#n] = -1;
    this.#ends[this.#n++] = -1;
  }

  /** Forgets the values of the row begun last. */
  dropRow(): void {
    this.#n = this.#rows * this.columns;
  }

  endRow(): void {
    if (this.#n !== (this.#rows + 1) * this.columns) throw new Error(`text row has ${this.#n - this.#rows * this.columns} values, expected ${this.columns}`);
    this.#rows++;
  }

  finish(): TextRows {
    return { rowCount: this.#rows, columns: this.columns, buffers: this.#buffers, rowBuffer: this.#rowBuffer, starts: this.#starts, ends: this.#ends };
  }
}

function grow(a: Int32Array): Int32Array {
  const b = new Int32Array(Math.max(16, a.length * 2));
  b.set(a);
  return b;
}
