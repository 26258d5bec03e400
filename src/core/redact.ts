// Its own module (no pino): `ferry run`'s main thread prints errors without loading the logger.

/**
 * Redacts `user:password@` in connection URIs and `password=...` pairs in free text.
 *
 * A config key path such as `source.password: refers to the environment variable ...` is not a
 * pair: the config loader never echoes the value of a secret key, and redacting the problem text
 * that follows it would hide the message and its fix (a bug the fault tests found).
 */
export function redactSecrets(text: string, secrets: string[] = []): string {
  let out = text
    .replace(/(\/\/[^:/@\s]+:)[^@\s]*@/g, '$1******@')
    .replace(/(?<!\.)(password\s*[=:]\s*)("[^"]*"|'[^']*'|\S+)/gi, '$1******');
  for (const s of secrets) if (s.length >= 3) out = out.split(s).join('******');
  return out;
}
