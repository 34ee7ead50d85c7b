/**
 * Input errors of the reference equations, with stable codes. Callers and tests match on
 * `code`, never on the message text.
 */
export const REFERENCE_ERROR_CODES = [
  /** A number, the sex or the measurement is missing, not finite, zero or negative. */
  'REFERENCE_INVALID_INPUT',
  /** A valid number lies outside the range the equations cover. */
  'REFERENCE_OUT_OF_RANGE',
] as const;

export type ReferenceErrorCode = (typeof REFERENCE_ERROR_CODES)[number];

/** Rejected input of a reference equation, naming the field, its value and the valid range. */
export class ReferenceInputError extends RangeError {
  readonly code: ReferenceErrorCode;
  readonly field: string;
  readonly value: unknown;
  readonly validRange?: { readonly min: number; readonly max: number };

  constructor(
    code: ReferenceErrorCode,
    field: string,
    value: unknown,
    message: string,
    validRange?: { readonly min: number; readonly max: number },
  ) {
    super(message);
    this.name = 'ReferenceInputError';
    this.code = code;
    this.field = field;
    this.value = value;
    this.validRange = validRange;
  }
}

export function isReferenceInputError(error: unknown): error is ReferenceInputError {
  return error instanceof ReferenceInputError;
}

/** Throws `REFERENCE_INVALID_INPUT` unless `value` is a finite number greater than zero. */
export function requirePositiveNumber(field: string, value: unknown, unit: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ReferenceInputError(
      'REFERENCE_INVALID_INPUT',
      field,
      value,
      `${field} must be a finite number greater than 0 ${unit}, received ${String(value)}.`,
    );
  }
  return value;
}
