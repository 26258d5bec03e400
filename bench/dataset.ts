/**
 * The benchmark dataset and workload, both deterministic.
 *
 * Dataset: 8 tables of the same realistic shape (BIGINT key, INT, VARCHAR with non-ASCII text,
 * TEXT with some NULLs and some tabs/newlines/backslashes, DECIMAL, DATETIME(6), JSON, ENUM,
 * BLOB with some NULLs), about 200 bytes of values per row, generated server-side from MariaDB's
 * SEQUENCE engine (`seq_1_to_N`): 1,000,000 rows at scale 1.
 *
 * Workload: transactions of 10 row changes (35% inserts, 45% updates, 20% deletes overall:
 * even transactions 4/4/2, odd ones 3/5/2), written as an SQL script for the `mariadb` client.
 * Inserts take fresh keys after the end of each table, updates hit keys in the upper half of the
 * original range (never deleted), deletes consume keys from 1 upwards: every statement changes
 * exactly the rows it names, so a workload of N changes writes exactly N row images pairs.
 */
import { prng } from './lib.js';

export const TABLE_COUNT = 8;
export const SCHEMA = 'bench';

export function tableNames(): string[] {
  return Array.from({ length: TABLE_COUNT }, (_, i) => `t${i + 1}`);
}

export function createTableSql(table: string): string {
  return (
    `CREATE TABLE ${SCHEMA}.${table} (\n` +
    '  id BIGINT NOT NULL PRIMARY KEY,\n' +
    '  qty INT NOT NULL,\n' +
    '  name VARCHAR(100) NOT NULL,\n' +
    '  note TEXT NULL,\n' +
    '  amount DECIMAL(12,2) NOT NULL,\n' +
    '  created_at DATETIME(6) NOT NULL,\n' +
    '  attrs JSON NULL,\n' +
    "  status ENUM('new','paid','shipped','cancelled','returned') NOT NULL,\n" +
    '  payload BLOB NULL\n' +
    ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci'
  );
}

/** The column values of row `seq` of table number `t` (1-based), as a SELECT list over `seq`. */
function rowExpr(t: number): string {
  return [
    'seq',
    `CAST((seq * 7919 + ${t}) % 100000 AS SIGNED) - 50000`,
    "CONCAT(ELT(1 + seq % 6, 'Zürich', 'São Paulo', 'Kraków', 'Oslo', 'Montréal', '東京'), ' customer ', seq)",
    // Every 10th NULL; every 97th with a newline, a tab and a backslash (escaping in dumps and COPY).
    "IF(seq % 10 = 0, NULL, IF(seq % 97 = 0, CONCAT('multi', CHAR(10), 'line', CHAR(9), 'tab ', CHAR(92), ' back ', seq), REPEAT(CONCAT('note ', seq, ' '), 1 + seq % 10)))",
    '((seq * 37) % 1000000) / 100',
    "TIMESTAMP('2024-01-01') + INTERVAL seq SECOND + INTERVAL ((seq * 13) % 1000000) MICROSECOND",
    "JSON_OBJECT('k', seq, 'tag', ELT(1 + seq % 3, 'red', 'grün', 'blue'), 'v', seq / 7, 'ok', seq % 2 = 0)",
    "ELT(1 + seq % 5, 'new', 'paid', 'shipped', 'cancelled', 'returned')",
    `IF(seq % 5 = 0, NULL, UNHEX(SHA2(CONCAT(seq, '-', ${t}), 512)))`,
  ].join(', ');
}

export function rowsPerTable(scale: number): number {
  return Math.max(100, Math.round((1_000_000 * scale) / TABLE_COUNT));
}

/** Statements that fill every table with `rowsPerTable` rows (one INSERT ... SELECT per table). */
export function populateSql(perTable: number): string[] {
  return tableNames().map((t, i) => `INSERT INTO ${SCHEMA}.${t} SELECT ${rowExpr(i + 1)} FROM seq_1_to_${perTable}`);
}

/** Logical size of the dataset: bytes of the values (what a client has to move), per table. */
export function logicalBytesSql(table: string): string {
  return (
    'SELECT COUNT(*) AS n, COALESCE(SUM(8 + 4 + LENGTH(name) + COALESCE(LENGTH(note),0) + 6 + 8 + COALESCE(LENGTH(attrs),0) + 1 + COALESCE(LENGTH(payload),0)),0) AS b ' +
    `FROM ${SCHEMA}.${table}`
  );
}

/** Where the workload generator is between workloads (keys used so far per table). */
export interface WorkloadState {
  perTable: number;
  nextInsert: number[];
  nextDelete: number[];
}

export function initialWorkloadState(perTable: number): WorkloadState {
  return { perTable, nextInsert: tableNames().map(() => perTable + 1), nextDelete: tableNames().map(() => 1) };
}

/**
 * An SQL script of `changes` row changes (rounded to whole transactions of 10), seeded by `seed`.
 * Advances `state` so a following workload uses fresh keys. Returns the script and the exact
 * number of row changes it makes.
 */
export function workloadScript(state: WorkloadState, changes: number, seed: number): { sql: string; changes: number } {
  const rnd = prng(seed);
  const txns = Math.max(2, Math.round(changes / 10));
  const half = Math.floor(state.perTable / 2);
  const parts: string[] = [];
  let made = 0;
  for (let j = 0; j < txns; j++) {
    const nIns = j % 2 === 0 ? 4 : 3;
    const nUpd = j % 2 === 0 ? 4 : 5;
    const nDel = 2;
    const ti = j % TABLE_COUNT;
    const tu = (j + 3) % TABLE_COUNT;
    const td = (j + 5) % TABLE_COUNT;
    const from = state.nextInsert[ti] as number;
    state.nextInsert[ti] = from + nIns;
    const upd = new Set<number>();
    while (upd.size < nUpd) upd.add(half + 1 + Math.floor(rnd() * (state.perTable - half)));
    const d0 = state.nextDelete[td] as number;
    if (d0 + nDel > half) throw new Error('workload: deletes would reach the updated key range; use fewer repetitions');
    state.nextDelete[td] = d0 + nDel;
    const delIds = Array.from({ length: nDel }, (_, k) => d0 + k);
    parts.push(
      'START TRANSACTION;',
      `INSERT INTO ${SCHEMA}.t${ti + 1} SELECT ${rowExpr(ti + 1)} FROM seq_${from}_to_${from + nIns - 1};`,
      `UPDATE ${SCHEMA}.t${tu + 1} SET qty = qty + 1, amount = amount + 0.01, name = CONCAT(LEFT(name, 90), '·'), created_at = created_at + INTERVAL 1 SECOND WHERE id IN (${[...upd].join(',')});`,
      `DELETE FROM ${SCHEMA}.t${td + 1} WHERE id IN (${delIds.join(',')});`,
      'COMMIT;',
    );
    made += nIns + nUpd + nDel;
  }
  return { sql: `USE ${SCHEMA};\n${parts.join('\n')}\n`, changes: made };
}

export function bigTransactionInsert(rows: number): string {
  return `START TRANSACTION; INSERT INTO benchtx.big SELECT ${rowExpr(9)} FROM seq_1_to_${rows}; COMMIT;`;
}
