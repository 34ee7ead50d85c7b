/**
 * Errors raised by the attribution functions, with stable codes. Callers and tests match on
 * `code`, never on the message text.
 */
export const EXPLAIN_ERROR_CODES = [
  /** An argument has the wrong type, length or shape, or is not an integer where one is needed. */
  'EXPLAIN_INVALID_ARGUMENT',
  /** A number lies outside its valid range, such as a window larger than the volume. */
  'EXPLAIN_OUT_OF_RANGE',
  /** More players than exact Shapley enumeration accepts. */
  'EXPLAIN_TOO_MANY_PLAYERS',
  /** The planned number of model evaluations exceeds `maxEvaluations`. */
  'EXPLAIN_EVALUATION_BUDGET_EXCEEDED',
  /** A model, aggregator or value function returned something other than a finite number. */
  'EXPLAIN_MODEL_OUTPUT_INVALID',
] as const;

export type ExplainErrorCode = (typeof EXPLAIN_ERROR_CODES)[number];

/** Rejected value of an attribution argument: a number outside its valid range. */
export class ExplainRangeError extends RangeError {
  readonly code: ExplainErrorCode;
  /** Name of the rejected argument, for example `options.strideVoxels`. */
  readonly argument: string;
  readonly value: unknown;

  constructor(code: ExplainErrorCode, argument: string, value: unknown, message: string) {
    super(message);
    this.name = 'ExplainRangeError';
    this.code = code;
    this.argument = argument;
    this.value = value;
  }
}

/** Rejected argument of an attribution function: wrong type, length or shape. */
export class ExplainTypeError extends TypeError {
  readonly code: ExplainErrorCode;
  /** Name of the rejected argument, for example `volume.data`. */
  readonly argument: string;
  readonly value: unknown;

  constructor(code: ExplainErrorCode, argument: string, value: unknown, message: string) {
    super(message);
    this.name = 'ExplainTypeError';
    this.code = code;
    this.argument = argument;
    this.value = value;
  }
}

export function isExplainError(error: unknown): error is ExplainRangeError | ExplainTypeError {
  return error instanceof ExplainRangeError || error instanceof ExplainTypeError;
}
