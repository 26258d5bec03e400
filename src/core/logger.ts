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

export { redactSecrets } from './redact.js';
