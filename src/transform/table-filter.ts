/**
 * Which source tables a pipeline captures: the `source.tables` patterns (compiled and anchored
 * by config.ts) matched against `database.table`.
 */

/**
 * True when `schema.table` matches at least one pattern. The patterns are anchored
 * (`^(?:...)$`), so a pattern must match the whole name, and carry no `g`/`y` flag (config.ts
 * compiles them that way), so `test` keeps no state between calls.
 */
export function matchesTables(patterns: readonly RegExp[], schema: string, table: string): boolean {
  const name = `${schema}.${table}`;
  for (const p of patterns) if (p.test(name)) return true;
  return false;
}
