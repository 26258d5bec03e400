import { pino } from 'pino';
import type { Logger } from './runtime.js';

/**
 * Structured JSON logs on stderr. Secrets never reach here as values: config objects hold
 * `Secret`s that serialise as `******`, and the redact list below is a second fence for any
 * driver option object that might be logged by mistake.
 */
export function createLogger(options: { level?: string; pipeline?: string } = {}): Logger & { flush(): void } {
  const logger = pino(
    {
      level: options.level ?? process.env.FERRY_LOG_LEVEL ?? 'info',
      base: options.pipeline ? { pipeline: options.pipeline } : {},
      redact: { paths: ['password', '*.password', '*.*.password', 'uri', '*.uri'], censor: '******' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: 2, sync: true }),
  );
  return {
    info: (o, m) => logger.info(o, m),
    warn: (o, m) => logger.warn(o, m),
    error: (o, m) => logger.error(o, m),
    debug: (o, m) => logger.debug(o, m),
    flush: () => logger.flush(),
  };
}

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
