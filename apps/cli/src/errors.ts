import { isInputError } from '@dlco/preprocess';

import { isOutputPathError } from './output-path.ts';

/** Exit status for an invalid input (bad scan, manifest or coverage). */
export const EXIT_INPUT_ERROR = 2;
/** Exit status for any other failure. */
export const EXIT_FAILURE = 1;

/**
 * Writes an error to stderr, `error [CODE]: message` for an `InputError` or `OutputPathError`
 * and `error: message` otherwise, and returns the exit status for it.
 */
export function reportError(
  error: unknown,
  write: (text: string) => void = (text) => process.stderr.write(text),
): number {
  if (isInputError(error) || isOutputPathError(error)) {
    write(`error [${error.code}]: ${error.message}\n`);
    return EXIT_INPUT_ERROR;
  }
  const message = error instanceof Error ? error.message : String(error);
  write(`error: ${message}\n`);
  return EXIT_FAILURE;
}

/**
 * Wraps a command action so that its returned status, or the status for the error it throws,
 * becomes `process.exitCode`. The process then ends on its own once output is flushed.
 */
export function runAction<Args extends unknown[]>(
  action: (...args: Args) => Promise<number | void>,
): (...args: Args) => Promise<void> {
  return async (...args: Args) => {
    try {
      process.exitCode = (await action(...args)) ?? 0;
    } catch (error) {
      process.exitCode = reportError(error);
    }
  };
}
