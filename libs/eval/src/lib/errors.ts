/**
 * Input errors of the evaluation, with stable codes. Callers and tests match on `code`, never
 * on the message text.
 */
export const EVAL_ERROR_CODES = [
  /** A predictions or label file does not exist or cannot be read. */
  'EVAL_FILE_NOT_FOUND',
  /** A required column is missing from a CSV header. */
  'EVAL_COLUMN_MISSING',
  /** A cell, an id or an option value is invalid. */
  'EVAL_INPUT_INVALID',
  /** Too few subjects remain after the join to compute the requested metrics. */
  'EVAL_TOO_FEW_SUBJECTS',
  /** The --out folder contains files that an earlier evaluation did not write. */
  'OUTPUT_EXISTS',
] as const;

export type EvalErrorCode = (typeof EVAL_ERROR_CODES)[number];

/** Rejected evaluation input, naming the file, the column and the fix where they apply. */
export class EvalInputError extends Error {
  readonly code: EvalErrorCode;
  /** Path of the file that contains the invalid input, when there is one. */
  readonly file?: string;
  /** CSV column or option name of the invalid value, when there is one. */
  readonly column?: string;

  constructor(
    code: EvalErrorCode,
    message: string,
    details: { file?: string; column?: string; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'EvalInputError';
    this.code = code;
    this.file = details.file;
    this.column = details.column;
  }
}

/** Returns whether `error` is an {@link EvalInputError}. */
export function isEvalInputError(error: unknown): error is EvalInputError {
  return error instanceof EvalInputError;
}
