import pino, { type Logger } from 'pino';

/**
 * Creates the service's pino logger: one JSON object per line on stderr, at `level` (debug,
 * info, warn, error or silent). Authorization headers are never passed to it.
 */
export function createServerLogger(level: string): Logger {
  return pino({ level }, pino.destination(2));
}
