/**
 * Column defaults travel in the schema model as the source's SQL text (`'basic'`, `0`, `NULL`,
 * `current_timestamp()`). A sink that adds a column needs the default so the rows already in the
 * target get the value the source gave them. This reads the common literal forms; anything else
 * (expressions) is reported as such and the sink adds the column without a default.
 */
export type ParsedDefault =
  | { kind: 'none' }
  | { kind: 'null' }
  | { kind: 'literal'; value: string }
  | { kind: 'now'; fsp: number }
  | { kind: 'expression'; text: string };

export function parseDefault(text: string | null): ParsedDefault {
  if (text === null) return { kind: 'none' };
  const t = text.trim();
  if (/^null$/i.test(t)) return { kind: 'null' };
  if (/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(t)) return { kind: 'literal', value: t };
  const q = /^'((?:[^'\\]|''|\\.)*)'$/s.exec(t);
  if (q) return { kind: 'literal', value: unescapeSingleQuoted(q[1] ?? '') };
  const now = /^(current_timestamp|now|localtimestamp|localtime)\s*(\(\s*(\d*)\s*\))?$/i.exec(t);
  if (now) return { kind: 'now', fsp: now[3] ? Number(now[3]) : 0 };
  return { kind: 'expression', text: t };
}

const ESCAPES: Record<string, string> = { '0': '\0', b: '\b', n: '\n', r: '\r', t: '\t', Z: '\x1a', '\\': '\\', "'": "'", '"': '"', '%': '\\%', _: '\\_' };

/** MySQL single-quoted string body: `''` and backslash escapes. */
function unescapeSingleQuoted(body: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (c === "'" && body[i + 1] === "'") {
      out += "'";
      i++;
    } else if (c === '\\' && i + 1 < body.length) {
      const n = body[i + 1] as string;
      out += ESCAPES[n] ?? n;
      i++;
    } else out += c;
  }
  return out;
}
