/**
 * Shared by the sink tests: a table with every common MySQL type, rows with edge values, and
 * column builders. Not a test file.
 */
import type { Row } from '../../src/core/change.js';
import type { ColumnSchema, LogicalType, TableSchema } from '../../src/core/schema.js';
import { Secret, type SinkConfig } from '../../src/core/config-types.js';
import { HOST, MYSQL_PORT, PASSWORD, PG_PORT, USER } from '../helpers/env.js';

export function col(name: string, type: LogicalType, sourceType: string, nullable = true): ColumnSchema {
  return { name, type, sourceType, nullable, defaultValue: null, generated: false };
}

export const utf8 = (maxChars: number | null, lob = false): LogicalType => ({
  kind: 'string',
  maxChars,
  fixed: false,
  charset: 'utf8mb4',
  collation: null,
  lob,
});

/** Columns of the all-types table; the key is (code, id): key order differs from column order. */
export function allTypesTable(schema: string, name: string): TableSchema {
  return {
    schema,
    name,
    columns: [
      col('id', { kind: 'int', bits: 32, unsigned: true }, 'int(10) unsigned', false),
      col('code', utf8(20), 'varchar(20)', false),
      col('i8', { kind: 'int', bits: 8, unsigned: false }, 'tinyint(4)'),
      col('u64', { kind: 'int', bits: 64, unsigned: true }, 'bigint(20) unsigned'),
      col('s64', { kind: 'int', bits: 64, unsigned: false }, 'bigint(20)'),
      col('dec', { kind: 'decimal', precision: 65, scale: 30, unsigned: false }, 'decimal(65,30)'),
      col('f', { kind: 'float' }, 'float'),
      col('d', { kind: 'double' }, 'double'),
      col('emoji', utf8(50), 'varchar(50)'),
      col('lat', { kind: 'string', maxChars: 50, fixed: false, charset: 'latin1', collation: 'latin1_swedish_ci', lob: false }, 'varchar(50)'),
      col('bin', { kind: 'binary', maxBytes: 65535, fixed: false, lob: true }, 'blob'),
      col('dt', { kind: 'date' }, 'date'),
      col('dtm', { kind: 'datetime', fsp: 6 }, 'datetime(6)'),
      col('ts', { kind: 'timestamp', fsp: 6 }, 'timestamp(6)'),
      col('tm', { kind: 'time', fsp: 0 }, 'time'),
      col('js', { kind: 'json' }, 'json'),
      col('en', { kind: 'enum', values: ['a', "b'q", 'c,d'] }, "enum('a','b''q','c,d')"),
      col('st', { kind: 'set', values: ['x', 'y'] }, "set('x','y')"),
      col('bits', { kind: 'bit', bits: 10 }, 'bit(10)'),
      col('yr', { kind: 'year' }, 'year(4)'),
      col('txt', utf8(null, true), 'longtext'),
      col('nul', utf8(10), 'varchar(10)'),
    ],
    primaryKey: [1, 0],
  };
}

export const F32 = Math.fround(0.1);

/** Edge values of every type, aligned with allTypesTable. */
export const ALL_TYPES_ROWS: Row[] = [
  [
    4294967295,
    'max',
    -128,
    18446744073709551615n,
    -9223372036854775808n,
    '-12345678901234567890123456789012345.123456789012345678901234567890',
    F32,
    1.7976931348623157e308,
    'emoji 😀 🚀 ✓',
    'café ÿ',
    Buffer.from([0, 1, 2, 0, 0xff, 0x00]),
    '2024-02-29',
    '2024-12-31 23:59:59.999999',
    '2038-01-19 03:14:07.999999',
    '-838:59:59',
    '{"big": 9223372036854775808, "neg": -9223372036854775809, "f": 1.000000000000000000001, "s": "x\\"y"}',
    "b'q",
    'x,y',
    Buffer.from([0x02, 0x01]),
    2155,
    'long text\twith\ttabs\nand newlines \\N \\. backslashes',
    null,
  ],
  [
    0,
    'min',
    127,
    0,
    9007199254740993n,
    '0.000000000000000000000000000001',
    -3.4028234663852886e38,
    -5e-324,
    '',
    '',
    Buffer.alloc(0),
    '1000-01-01',
    '1000-01-01 00:00:00.000000',
    '1970-01-01 00:00:01.000000',
    '838:59:59',
    '[]',
    'c,d',
    '',
    Buffer.from([0x00, 0x00]),
    1901,
    '',
    'not null',
  ],
];

export function sinkConfig(type: 'mysql' | 'postgres', checkpointSchema: string): SinkConfig {
  return {
    type,
    hostname: HOST,
    port: type === 'mysql' ? MYSQL_PORT : PG_PORT,
    username: USER,
    password: new Secret(PASSWORD),
    database: type === 'postgres' ? 'postgres' : null,
    checkpointSchema,
    batchMaxRows: 5000,
  };
}

export const never = new AbortController().signal;
