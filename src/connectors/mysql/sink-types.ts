/**
 * MySQL/MariaDB DDL for a sink table, from the schema model.
 *
 * A MySQL-family source reports each column's own type text (`COLUMN_TYPE`), which is the most
 * faithful target type there is, so it is reused when it has the plain shape
 * `name[(digits[,digits])][ unsigned][ zerofill]`. ENUM and SET are rebuilt from their labels
 * through the literal encoder (a label may hold quotes or commas), and anything else falls back
 * to a type derived from the LogicalType. Generated columns become plain columns: the sink
 * stores the values the source computed.
 */
import { FerryError } from '../../core/errors.js';
import type { ColumnSchema, LogicalType, TableSchema } from '../../core/schema.js';
import { mysqlStringLiteral, quoteMySqlIdent, quoteMySqlTable } from './quote.js';
import { parseDefault } from '../../core/default-value.js';

const PLAIN_TYPE = /^[a-z][a-z0-9_]*(\s*\(\s*\d+\s*(,\s*\d+\s*)?\))?(\s+(unsigned|signed|zerofill))*$/i;

/** The column type text (without charset or nullability). */
export function mysqlColumnType(col: ColumnSchema): string {
  const t = col.type;
  // MariaDB reports JSON columns as longtext (with a json_valid check): keep them JSON.
  if (t.kind === 'json') return 'json';
  if (t.kind === 'enum' || t.kind === 'set') {
    return `${t.kind}(${t.values.map(mysqlStringLiteral).join(',')})`;
  }
  const source = col.sourceType.trim();
  if (PLAIN_TYPE.test(source)) return source;
  return typeFromLogical(t);
}

function typeFromLogical(t: LogicalType): string {
  switch (t.kind) {
    case 'int': {
      const name = { 8: 'tinyint', 16: 'smallint', 24: 'mediumint', 32: 'int', 64: 'bigint' }[t.bits];
      return t.unsigned ? `${name} unsigned` : name;
    }
    case 'decimal':
      return `decimal(${t.precision},${t.scale})${t.unsigned ? ' unsigned' : ''}`;
    case 'float':
      return 'float';
    case 'double':
      return 'double';
    case 'bit':
      return `bit(${t.bits})`;
    case 'year':
      return 'year';
    case 'date':
      return 'date';
    case 'datetime':
      return `datetime(${t.fsp})`;
    case 'timestamp':
      return `timestamp(${t.fsp})`;
    case 'time':
      return `time(${t.fsp})`;
    case 'string':
      if (t.maxChars === null || t.lob) return 'longtext';
      return `${t.fixed ? 'char' : 'varchar'}(${t.maxChars})`;
    case 'binary':
      if (t.maxBytes === null || t.lob) return 'longblob';
      return `${t.fixed ? 'binary' : 'varbinary'}(${t.maxBytes})`;
    case 'json':
      return 'json';
    case 'enum':
    case 'set':
      return `${t.kind}(${t.values.map(mysqlStringLiteral).join(',')})`;
    case 'geometry':
      return 'geometry';
    case 'uuid':
      return 'uuid';
    case 'inet4':
      return 'inet4';
    case 'inet6':
      return 'inet6';
  }
}

/** `name type [CHARACTER SET c [COLLATE x]] NULL|NOT NULL` */
export function mysqlColumnDefinition(col: ColumnSchema, withDefault = false): string {
  let sql = `${quoteMySqlIdent(col.name)} ${mysqlColumnType(col)}`;
  if (col.type.kind === 'string' && col.type.charset !== '' && col.type.charset !== 'binary') {
    sql += ` CHARACTER SET ${quoteMySqlIdent(col.type.charset)}`;
    if (col.type.collation) sql += ` COLLATE ${quoteMySqlIdent(col.type.collation)}`;
  }
  // TIMESTAMP NOT NULL without a default gets ON UPDATE CURRENT_TIMESTAMP on old servers
  // (explicit_defaults_for_timestamp=OFF): an explicit DEFAULT avoids it.
  const d = withDefault ? parseDefault(col.defaultValue) : { kind: 'none' as const };
  if (col.type.kind === 'timestamp' && !col.nullable && d.kind !== 'literal' && d.kind !== 'now') {
    sql += ` NOT NULL DEFAULT '1970-01-01 00:00:01'`;
    return sql;
  }
  sql += col.nullable ? ' NULL' : ' NOT NULL';
  if (d.kind === 'literal') sql += ` DEFAULT ${mysqlStringLiteral(d.value)}`;
  else if (d.kind === 'now' && (col.type.kind === 'timestamp' || col.type.kind === 'datetime')) sql += ` DEFAULT CURRENT_TIMESTAMP(${Math.min(6, d.fsp)})`;
  else if (d.kind === 'null' && col.nullable) sql += ' DEFAULT NULL';
  return sql;
}

/** Throws FERRY_NO_PRIMARY_KEY: the sink upserts and deletes by key. */
export function requirePrimaryKey(table: TableSchema, target: string): void {
  if (table.primaryKey.length === 0) {
    throw new FerryError('FERRY_NO_PRIMARY_KEY', `table ${target} has no primary key; the sink writes by key`, {
      fix: `Add a primary key to the source table ${table.schema}.${table.name}, or exclude it from the pipeline's tables.`,
    });
  }
}

/** CREATE TABLE IF NOT EXISTS with the source's columns, in order, and its primary key in key order. */
export function mysqlCreateTableSql(schema: string, name: string, source: TableSchema): string {
  requirePrimaryKey(source, `${schema}.${name}`);
  const cols = source.columns.map((c) => mysqlColumnDefinition(c));
  const pk = source.primaryKey.map((i) => {
    const c = source.columns[i];
    if (!c) throw new FerryError('FERRY_INTERNAL', `primary key index ${i} out of range in ${source.schema}.${source.name}`);
    return quoteMySqlIdent(c.name);
  });
  return (
    `CREATE TABLE IF NOT EXISTS ${quoteMySqlTable(schema, name)} (\n  ` +
    [...cols, `PRIMARY KEY (${pk.join(', ')})`].join(',\n  ') +
    '\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4'
  );
}
