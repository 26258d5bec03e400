import type { RouteConfig } from '../core/config-types.js';
import { FerryError } from '../core/errors.js';
import type { TableRef } from '../core/schema.js';
import { tableId } from '../core/schema.js';

/**
 * Where a source table lands in the sink: the first route whose `source-table` matches
 * `database.table` wins; without a matching route the table keeps its name (same
 * `database.table`, i.e. PostgreSQL schema = source database).
 *
 * `sink-table` is `schema.table`, split at its first dot *before* the replace symbol is
 * substituted, so a source table name containing a dot stays in the table part.
 * `replace-symbol` is replaced (every occurrence, in both parts) by the source table name.
 * Several source tables may resolve to the same target (sharded tables merged into one).
 */
export function resolveTarget(routes: readonly RouteConfig[], source: TableRef, sinkType: 'mysql' | 'postgres'): TableRef {
  const id = tableId(source);
  for (let i = 0; i < routes.length; i++) {
    const route = routes[i] as RouteConfig;
    if (!route.sourceTable.test(id)) continue;
    const dot = route.sinkTable.indexOf('.');
    if (dot <= 0 || dot === route.sinkTable.length - 1) {
      // config.ts rejects this shape; reaching here means the config bypassed validation.
      throw new FerryError('FERRY_CONFIG_INVALID', `route[${i}].sink-table "${route.sinkTable}" is not schema.table`, {
        fix: 'Write `sink-table` as `schema.table`, e.g. `analytics.<>` with `replace-symbol: <>`.',
      });
    }
    const sub = (s: string): string => (route.replaceSymbol ? s.split(route.replaceSymbol).join(source.name) : s);
    const target = { schema: sub(route.sinkTable.slice(0, dot)), name: sub(route.sinkTable.slice(dot + 1)) };
    checkIdentifierLength(target, sinkType, `route[${i}] maps ${id}`);
    return target;
  }
  const same = { schema: source.schema, name: source.name };
  checkIdentifierLength(same, sinkType, `${id} (no route matches)`);
  return same;
}

/**
 * PostgreSQL truncates identifiers beyond 63 bytes (NAMEDATALEN - 1) silently, which could make
 * two source tables land in one target table; MySQL/MariaDB refuse names beyond 64 characters.
 * Both are refused here, before anything is created.
 */
function checkIdentifierLength(t: TableRef, sinkType: 'mysql' | 'postgres', what: string): void {
  for (const part of [t.schema, t.name]) {
    const tooLong = sinkType === 'postgres' ? Buffer.byteLength(part, 'utf8') > 63 : [...part].length > 64;
    if (part.length === 0 || tooLong) {
      throw new FerryError('FERRY_CONFIG_INVALID', `${what} to ${tableId(t)}: "${part}" is ${part.length === 0 ? 'empty' : `too long for ${sinkType} (max ${sinkType === 'postgres' ? '63 bytes' : '64 characters'})`}`, {
        fix: 'Add a `route` entry that maps this table to a shorter `schema.table`.',
        details: { table: tableId(t), sinkType },
      });
    }
  }
}
