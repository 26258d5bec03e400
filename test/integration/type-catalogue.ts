/**
 * The MySQL/MariaDB type catalogue used by the type tests (types-catalogue.test.ts) and the
 * differential test against zongji (types-zongji.test.ts): one wide table per type family, and
 * rows of SQL literals that reach the limits of every type. Each row is a list of SQL
 * expressions aligned with the table's non-key, non-generated columns.
 *
 * Rows are written by a session with `sql_mode = ''` (zero dates, ENUM index 0) and a non-UTC
 * `time_zone` (`WRITER_TIME_ZONE`), so TIMESTAMP literals are local times of that zone.
 */

export const WRITER_TIME_ZONE = '+05:30';

export interface CatalogueTable {
  name: string;
  /** Column definitions after `id INT PRIMARY KEY`. */
  columns: string[];
  /** Names of the columns each row gives values for, in order. */
  insertColumns: string[];
  rows: string[][];
  /** Families that PostgreSQL cannot store exactly (documented in TYPES.md): compared after the documented mapping. */
  note?: string;
}

const ints = ['tinyint', 'smallint', 'mediumint', 'int', 'bigint'] as const;
const intLimits: Record<(typeof ints)[number], [string, string, string]> = {
  tinyint: ['-128', '127', '255'],
  smallint: ['-32768', '32767', '65535'],
  mediumint: ['-8388608', '8388607', '16777215'],
  int: ['-2147483648', '2147483647', '4294967295'],
  bigint: ['-9223372036854775808', '9223372036854775807', '18446744073709551615'],
};

const intColumns = ints.flatMap((t) => [`s_${t} ${t} NULL`, `u_${t} ${t} UNSIGNED NULL`]);
const intNames = ints.flatMap((t) => [`s_${t}`, `u_${t}`]);
const intRows: string[][] = [
  ints.flatMap((t) => [intLimits[t][0], '0']),
  ints.flatMap((t) => [intLimits[t][1], intLimits[t][2]]),
  ints.flatMap(() => ['-1', '1']),
  ints.flatMap(() => ['NULL', 'NULL']),
  ['0', '0', '0', '0', '0', '0', '0', '0', '9007199254740993', '9007199254740993'],
  ['1', '1', '1', '1', '1', '1', '1', '1', '-9007199254740993', '9223372036854775808'],
];

export const CATALOGUE: CatalogueTable[] = [
  { name: 't_int', columns: intColumns, insertColumns: intNames, rows: intRows },
  {
    name: 't_num',
    columns: ['d65 DECIMAL(65,30) NULL', 'd10 DECIMAL(10,0) NULL', 'du DECIMAL(12,4) UNSIGNED NULL', 'd1 DECIMAL(1,1) NULL', 'f FLOAT NULL', 'dbl DOUBLE NULL', 'f53 FLOAT(53) NULL'],
    insertColumns: ['d65', 'd10', 'du', 'd1', 'f', 'dbl', 'f53'],
    rows: [
      ['99999999999999999999999999999999999.999999999999999999999999999999', '9999999999', '99999999.9999', '0.9', '3.4028234663852886e38', '1.7976931348623157e308', '2.2250738585072014e-308'],
      ['-99999999999999999999999999999999999.999999999999999999999999999999', '-9999999999', '0', '-0.9', '-3.4028234663852886e38', '-1.7976931348623157e308', '-5e-324'],
      ['0.000000000000000000000000000001', '0', '0.0001', '0.0', '1.1754943508222875e-38', '4.9406564584124654e-324', '0.1'],
      ['-0.000000000000000000000000000001', '-1', '1.5', '-0.1', '-0e0', '-0e0', '-0e0'],
      ['12345678901234567890.123456789012345678901234567890', '1', '12.3400', '0.1', '0.1', '0.1', '1e300'],
      ['NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL'],
      ['-0.5', '42', '3', '0', '1.401298464324817e-45', '123456789.123456789', '-1.5'],
    ],
  },
  {
    name: 't_bit',
    columns: ['b1 BIT(1) NULL', 'b7 BIT(7) NULL', 'b8 BIT(8) NULL', 'b9 BIT(9) NULL', 'b17 BIT(17) NULL', 'b63 BIT(63) NULL', 'b64 BIT(64) NULL'],
    insertColumns: ['b1', 'b7', 'b8', 'b9', 'b17', 'b63', 'b64'],
    rows: [
      ["b'0'", "b'0'", "b'0'", "b'0'", "b'0'", "b'0'", "b'0'"],
      ["b'1'", "b'1111111'", "b'11111111'", "b'111111111'", "b'11111111111111111'", '9223372036854775807', '18446744073709551615'],
      ["b'1'", "b'1010101'", "b'10000000'", "b'100000001'", "b'10000000000000001'", '4611686018427387904', '9223372036854775808'],
      ['NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL'],
      ["b'0'", "b'0000001'", "b'00000001'", "b'000000001'", '65536', '1', '1'],
    ],
  },
  {
    name: 't_time',
    columns: [
      'dt DATE NULL',
      ...[0, 1, 2, 3, 4, 5, 6].map((n) => `dt${n} DATETIME(${n}) NULL`),
      ...[0, 1, 2, 3, 4, 5, 6].map((n) => `ts${n} TIMESTAMP(${n}) NULL DEFAULT NULL`),
      ...[0, 1, 2, 3, 4, 5, 6].map((n) => `tm${n} TIME(${n}) NULL`),
      'yr YEAR NULL',
    ],
    insertColumns: [
      'dt',
      ...[0, 1, 2, 3, 4, 5, 6].map((n) => `dt${n}`),
      ...[0, 1, 2, 3, 4, 5, 6].map((n) => `ts${n}`),
      ...[0, 1, 2, 3, 4, 5, 6].map((n) => `tm${n}`),
      'yr',
    ],
    rows: [
      ["'1000-01-01'", ...Array(7).fill("'1000-01-01 00:00:00'"), ...Array(7).fill("'1970-01-01 05:30:01'"), ...Array(7).fill("'-838:59:59'"), '1901'],
      [
        "'9999-12-31'",
        "'9999-12-31 23:59:59'",
        "'9999-12-31 23:59:59.9'",
        "'9999-12-31 23:59:59.99'",
        "'9999-12-31 23:59:59.999'",
        "'9999-12-31 23:59:59.9999'",
        "'9999-12-31 23:59:59.99999'",
        "'9999-12-31 23:59:59.999999'",
        "'2038-01-19 08:44:07'",
        "'2038-01-19 08:44:07.9'",
        "'2038-01-19 08:44:07.99'",
        "'2038-01-19 08:44:07.999'",
        "'2038-01-19 08:44:07.9999'",
        "'2038-01-19 08:44:07.99999'",
        "'2038-01-19 08:44:07.999999'",
        "'838:59:59'",
        "'838:59:59.9'",
        "'838:59:59.99'",
        "'838:59:59.999'",
        "'838:59:59.9999'",
        "'838:59:59.99999'",
        "'838:59:59.999999'",
        '2155',
      ],
      [
        "'2024-02-29'",
        ...[0, 1, 2, 3, 4, 5, 6].map((n) => `'2024-03-31 02:30:00${n ? '.' + '123456'.slice(0, n) : ''}'`),
        ...[0, 1, 2, 3, 4, 5, 6].map((n) => `'2024-03-31 02:30:00${n ? '.' + '000001'.slice(0, n) : ''}'`),
        ...[0, 1, 2, 3, 4, 5, 6].map((n) => `'-00:00:01${n ? '.' + '500000'.slice(0, n) : ''}'`),
        '0',
      ],
      [
        "'1970-01-01'",
        ...[0, 1, 2, 3, 4, 5, 6].map((n) => `'1969-12-31 23:59:59${n ? '.' + '999999'.slice(0, n) : ''}'`),
        ...[0, 1, 2, 3, 4, 5, 6].map((n) => `'2000-01-01 00:00:00${n ? '.' + '100000'.slice(0, n) : ''}'`),
        ...[0, 1, 2, 3, 4, 5, 6].map((n) => `'-12:34:56${n ? '.' + '654321'.slice(0, n) : ''}'`),
        '2000',
      ],
      ['NULL', ...Array(7).fill('NULL'), ...Array(7).fill('NULL'), ...Array(7).fill('NULL'), 'NULL'],
      ["'2001-02-03'", ...Array(7).fill("'2001-02-03 04:05:06.789'"), ...Array(7).fill("'2001-02-03 04:05:06.789'"), ...Array(7).fill("'00:00:00'"), '1999'],
    ],
  },
  {
    name: 't_zero',
    columns: [
      'zd DATE NULL',
      'zdn DATE NOT NULL',
      'zdt DATETIME NULL',
      'zdt3n DATETIME(3) NOT NULL',
      'zts TIMESTAMP NULL DEFAULT NULL',
      "ztsn TIMESTAMP(6) NOT NULL DEFAULT '2000-01-01 00:00:00'",
    ],
    insertColumns: ['zd', 'zdn', 'zdt', 'zdt3n', 'zts', 'ztsn'],
    rows: [
      ["'0000-00-00'", "'0000-00-00'", "'0000-00-00 00:00:00'", "'0000-00-00 00:00:00.000'", "'0000-00-00 00:00:00'", "'0000-00-00 00:00:00'"],
      ["'2024-00-15'", "'2024-01-00'", "'2024-00-00 10:00:00'", "'0000-01-01 00:00:00.500'", 'NULL', "'2024-06-01 12:00:00.5'"],
      ["'2024-06-15'", "'2024-06-15'", "'2024-06-15 10:00:00'", "'2024-06-15 10:00:00.125'", "'2024-06-15 10:00:00'", "'2024-06-15 10:00:00.000001'"],
    ],
  },
  {
    name: 't_str',
    columns: [
      'u4 VARCHAR(40) CHARACTER SET utf8mb4 NULL',
      'u4t TEXT CHARACTER SET utf8mb4 NULL',
      'u3 VARCHAR(40) CHARACTER SET utf8mb3 NULL',
      'l1 VARCHAR(40) CHARACTER SET latin1 NULL',
      'l1c CHAR(10) CHARACTER SET latin1 NULL',
      'uc2 VARCHAR(20) CHARACTER SET ucs2 NULL',
      'u16 VARCHAR(20) CHARACTER SET utf16 NULL',
      'u16c CHAR(5) CHARACTER SET utf16 NULL',
      'u32 VARCHAR(20) CHARACTER SET utf32 NULL',
      'u32t TEXT CHARACTER SET utf32 NULL',
      'a CHAR(8) CHARACTER SET ascii NULL',
      'c255 CHAR(255) CHARACTER SET utf8mb4 NULL',
      'v300 VARCHAR(300) CHARACTER SET utf8mb4 NULL',
    ],
    insertColumns: ['u4', 'u4t', 'u3', 'l1', 'l1c', 'uc2', 'u16', 'u16c', 'u32', 'u32t', 'a', 'c255', 'v300'],
    rows: [
      ["'emoji 😀🚀 ok'", "'𝄞 music 🎵'", "'ÅÄÖ ß ✓'", "'€ Š ‰ œ Ÿ – —'", "'café '", "'Ωmega ✓'", "'😀 utf16'", "'ab😀'", "'😀 utf32'", "'long 𝄞 text'", "'plain'", "REPEAT('é', 255)", "REPEAT('😀', 300)"],
      ["''", "''", "''", "''", "''", "''", "''", "''", "''", "''", "''", "''", "''"],
      ["'trailing   '", "'tab\\tnew\\nline'", "'quote '' and \\\\ backslash'", "'ÿ¡¿'", "'x'", "'ĀāĂ'", "'\\'q\\''", "'🎉'", "'Ω'", "'ÿ'", "'z  '", "'pad  '", "'v  '"],
      ['NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL'],
    ],
  },
  {
    name: 't_bin',
    columns: ['b8 BINARY(8) NULL', 'vb VARBINARY(300) NULL', 'tb TINYBLOB NULL', 'bl BLOB NULL', 'mb MEDIUMBLOB NULL', 'lb LONGBLOB NULL', 'b1 BINARY(1) NULL', 'cb VARCHAR(10) CHARACTER SET binary NULL'],
    insertColumns: ['b8', 'vb', 'tb', 'bl', 'mb', 'lb', 'b1', 'cb'],
    rows: [
      ["X'00'", "X'00FF0020'", "X'20'", "X'0000'", "X'41000042'", "X'FFFEFD00'", "X'00'", "X'0020'"],
      ["X'0102030405060708'", "REPEAT(X'AB', 300)", "REPEAT(X'00', 255)", "REPEAT(X'5A', 65535)", "REPEAT(X'01', 70000)", "REPEAT(X'00', 100000)", "X'FF'", "X'20202020'"],
      ["X'61202000'", "X'612020'", "X'612020'", "X'612020'", "X'612020'", "X'612020'", "X'20'", "X'61'"],
      ["''", "''", "''", "''", "''", "''", "''", "''"],
      ['NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL'],
    ],
  },
  {
    name: 't_enum',
    columns: [
      "e ENUM('a','b,c','it''s','','x y','ü') NULL",
      "s SET('a','b','c d','é','') NULL",
      "e2 ENUM('one','two') NOT NULL DEFAULT 'one'",
      `s64 SET(${Array.from({ length: 64 }, (_, i) => `'v${i}'`).join(',')}) NULL`,
      `e300 ENUM(${Array.from({ length: 300 }, (_, i) => `'e${i}'`).join(',')}) NULL`,
    ],
    insertColumns: ['e', 's', 'e2', 's64', 'e300'],
    rows: [
      ["'b,c'", "'a,c d'", "'two'", "'v0,v63'", "'e299'"],
      ["'it''s'", "''", "'one'", "''", "'e0'"],
      ["''", "'é'", "'two'", "'v31,v32'", "'e255'"],
      ["'ü'", "'a,b,c d,é'", "'one'", `'${Array.from({ length: 64 }, (_, i) => `v${i}`).join(',')}'`, "'e256'"],
      // An invalid value under sql_mode='' is stored as index 0 (the empty string).
      ["'no such label'", "'a'", "'nope'", "'v1'", "'bad'"],
      ["'x y'", 'NULL', "'one'", 'NULL', 'NULL'],
    ],
  },
  {
    name: 't_json',
    columns: ['j JSON NULL'],
    insertColumns: ['j'],
    rows: [
      [`'{"a": 1, "b": [true, false, null], "c": {"d": "é😀"}}'`],
      [`'[18446744073709551615, -9223372036854775808, 1.000000000000000000001, 0.5, -0.0, 1e2]'`],
      [`'"just a string with \\\\"quotes\\\\""'`],
      ["'null'"],
      ["'{}'"],
      ["'[]'"],
      [`CONCAT('{"big": "', REPEAT('x', 70000), '"}')`],
      [`'{"nested": {"deeper": {"deepest": [1, [2, [3, {"k": "v"}]]]}}}'`],
      ['NULL'],
    ],
  },
  {
    name: 't_geo',
    columns: ['g GEOMETRY NULL', 'p POINT NULL', 'l LINESTRING NULL', 'pg POLYGON NULL', 'mp MULTIPOINT NULL', 'gc GEOMETRYCOLLECTION NULL'],
    insertColumns: ['g', 'p', 'l', 'pg', 'mp', 'gc'],
    rows: [
      ["ST_GeomFromText('POINT(1 2)', 4326)", "ST_GeomFromText('POINT(-1.5 2.25)')", "ST_GeomFromText('LINESTRING(0 0, 1 1, 2 3)')", "ST_GeomFromText('POLYGON((0 0, 4 0, 4 4, 0 4, 0 0))', 3857)", "ST_GeomFromText('MULTIPOINT(1 1, 2 2)')", "ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1), LINESTRING(0 0, 1 1))')"],
      ["ST_GeomFromText('LINESTRING(0 0, 10 10)')", "ST_GeomFromText('POINT(0 0)', 4326)", 'NULL', 'NULL', 'NULL', 'NULL'],
    ],
  },
  {
    name: 't_misc',
    columns: [
      'i6 INET6 NULL',
      'i4 INET4 NULL',
      'u UUID NULL',
      'base INT NULL',
      'gv INT AS (base * 2) VIRTUAL',
      'gs VARCHAR(20) AS (CONCAT(\'v\', base)) STORED',
      'hidden VARCHAR(10) INVISIBLE NULL',
    ],
    insertColumns: ['i6', 'i4', 'u', 'base', 'hidden'],
    rows: [
      ["'::1'", "'127.0.0.1'", "'123e4567-e89b-12d3-a456-426614174000'", '1', "'h1'"],
      ["'2001:db8::ff00:42:8329'", "'255.255.255.255'", "'ffffffff-ffff-ffff-ffff-ffffffffffff'", '-5', "'h2'"],
      ["'::ffff:192.0.2.1'", "'0.0.0.0'", "'00000000-0000-0000-0000-000000000000'", 'NULL', 'NULL'],
      ["'fe80::1:2:3:4'", "'10.1.2.3'", "'6ccd780c-baba-1026-9564-5b8c656024db'", '2147483647', "''"],
      ['NULL', 'NULL', 'NULL', '0', 'NULL'],
    ],
  },
];

/** `CREATE TABLE` for a catalogue table in `db`. */
export function createTableSql(db: string, t: CatalogueTable): string {
  return `CREATE TABLE \`${db}\`.\`${t.name}\` (id INT NOT NULL PRIMARY KEY, ${t.columns.join(', ')}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;
}

/** `INSERT` of row `i` (0-based) of `t` with primary key `id`. */
export function insertSql(db: string, t: CatalogueTable, i: number, id: number): string {
  const row = t.rows[i] as string[];
  return `INSERT INTO \`${db}\`.\`${t.name}\` (id, ${t.insertColumns.join(', ')}) VALUES (${id}, ${row.join(', ')})`;
}

/** `UPDATE` setting the columns of row `id` to the values of catalogue row `i`. */
export function updateSql(db: string, t: CatalogueTable, i: number, id: number): string {
  const row = t.rows[i] as string[];
  return `UPDATE \`${db}\`.\`${t.name}\` SET ${t.insertColumns.map((c, k) => `${c} = ${row[k]}`).join(', ')} WHERE id = ${id}`;
}
