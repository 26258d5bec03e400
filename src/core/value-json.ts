import type { Value } from './change.js';
import { FerryError } from './errors.js';

/**
 * Lossless JSON form of canonical values, for state that must survive a restart (snapshot
 * resume keys). bigint and Buffer are tagged so they come back as the same type.
 */
type Encoded = null | number | string | { b: string } | { n: string };

export function encodeValues(values: Value[]): string {
  const out: Encoded[] = values.map((v) => {
    if (v === null || typeof v === 'number' || typeof v === 'string') return v;
    if (typeof v === 'bigint') return { n: v.toString() };
    return { b: v.toString('base64') };
  });
  return JSON.stringify(out);
}

export function decodeValues(text: string): Value[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new FerryError('FERRY_STATE_CORRUPT', 'stored key is not valid JSON', { cause: e });
  }
  if (!Array.isArray(parsed)) throw new FerryError('FERRY_STATE_CORRUPT', 'stored key is not an array');
  return parsed.map((v: unknown): Value => {
    if (v === null || typeof v === 'number' || typeof v === 'string') return v;
    if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      if (typeof o.n === 'string') return BigInt(o.n);
      if (typeof o.b === 'string') return Buffer.from(o.b, 'base64');
    }
    throw new FerryError('FERRY_STATE_CORRUPT', `stored key holds an unknown value ${JSON.stringify(v)}`);
  });
}
