import type { Logger } from '@dlco/preprocess';

/** Log levels from most to least verbose. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Creates a logger that writes one line per message to stderr, `LEVEL message key=value ...`,
 * and drops messages below `level`. stdout stays free for command output such as `--json`.
 */
export function createStderrLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const emit =
    (messageLevel: Exclude<LogLevel, 'silent'>) =>
    (fields: Record<string, unknown>, message: string): void => {
      if (LOG_LEVELS.indexOf(messageLevel) < threshold) return;
      const pairs = Object.entries(fields).map(([key, value]) => `${key}=${formatValue(value)}`);
      write(`${messageLevel.toUpperCase()} ${[message, ...pairs].join(' ')}\n`);
    };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

/** Parses a `--log-level` value, throwing an error that names the flag when it is unknown. */
export function parseLogLevel(value: string): LogLevel {
  if ((LOG_LEVELS as readonly string[]).includes(value)) return value as LogLevel;
  throw new Error(`invalid --log-level '${value}': expected one of ${LOG_LEVELS.join(', ')}`);
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(value.message);
  return JSON.stringify(value) ?? String(value);
}

/** The global logging options of the `dlco` program. */
export interface LogOptions {
  verbose?: boolean;
  logLevel?: string;
}

/**
 * Creates the stderr logger for the global options: `--verbose` means `--log-level debug`.
 * `write` replaces the stderr writer, for example to print above a progress bar.
 */
export function loggerFromOptions(options: LogOptions, write?: (line: string) => void): Logger {
  const level = options.verbose === true ? 'debug' : parseLogLevel(options.logLevel ?? 'warn');
  return createStderrLogger(level, write);
}

/** A logger whose warnings wait for `flush`, and the function that writes them. */
export interface HeldWarnings {
  logger: Logger;
  /** Writes the held warnings in order, leaving out those whose message is in `shown`. */
  flush(shown?: readonly string[]): void;
}

/**
 * Wraps `logger` so that its warnings are held until `flush`. `dlco predict` uses it because its
 * summary lists the result's warnings, which would otherwise appear on stderr as well.
 */
export function holdWarnings(logger: Logger): HeldWarnings {
  let held: { fields: Record<string, unknown>; message: string }[] = [];
  return {
    logger: {
      ...logger,
      warn: (fields, message) => {
        held.push({ fields, message });
      },
    },
    flush(shown = []) {
      const skipped = new Set(shown);
      for (const { fields, message } of held) {
        if (!skipped.has(message)) logger.warn(fields, message);
      }
      held = [];
    },
  };
}
