import { ExplainRangeError, ExplainTypeError } from './errors.ts';

/** Three voxel counts or indices along x, y and z (i, j, k). */
export type VoxelTriple = readonly [number, number, number];

/** Formats a value for an error message without dumping large arrays. */
export function describeValue(value: unknown): string {
  if (Array.isArray(value) && value.length <= 8) return `[${value.map(String).join(', ')}]`;
  if (ArrayBuffer.isView(value)) {
    return `${value.constructor.name} of length ${(value as unknown as ArrayLike<unknown>).length}`;
  }
  return String(value);
}

/** Throws unless `value` is an integer of at least `min`, and returns it. */
export function requireInteger(argument: string, value: unknown, min: number, fix: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new ExplainTypeError(
      'EXPLAIN_INVALID_ARGUMENT',
      argument,
      value,
      `${argument} must be an integer of at least ${min}, received ${describeValue(value)}. ${fix}`,
    );
  }
  if (value < min) {
    throw new ExplainRangeError(
      'EXPLAIN_OUT_OF_RANGE',
      argument,
      value,
      `${argument} must be at least ${min}, received ${value}. ${fix}`,
    );
  }
  return value;
}

/** Throws unless `value` is a finite number, and returns it. */
export function requireFinite(argument: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ExplainTypeError(
      'EXPLAIN_INVALID_ARGUMENT',
      argument,
      value,
      `${argument} must be a finite number, received ${describeValue(value)}.`,
    );
  }
  return value;
}

/**
 * Throws unless `value` is an array of three integers, each at least `min`, and returns a copy.
 * The message names the axis (x, y or z) that failed.
 */
export function requireVoxelTriple(
  argument: string,
  value: unknown,
  min: number,
  fix: string,
): [number, number, number] {
  if (!Array.isArray(value) || value.length !== 3) {
    throw new ExplainTypeError(
      'EXPLAIN_INVALID_ARGUMENT',
      argument,
      value,
      `${argument} must be an array [x, y, z] of three integers, received ${describeValue(value)}.`,
    );
  }
  const axes = ['x', 'y', 'z'];
  return value.map((entry, axis) =>
    requireInteger(`${argument}[${axis}] (${axes[axis]})`, entry, min, fix),
  ) as [number, number, number];
}

/** Throws unless `array` has exactly `expected` elements. */
export function requireLength(
  argument: string,
  array: ArrayLike<unknown>,
  expected: number,
  description: string,
): void {
  if (array.length !== expected) {
    throw new ExplainTypeError(
      'EXPLAIN_INVALID_ARGUMENT',
      argument,
      array,
      `${argument} must have ${expected} elements (${description}), received ${array.length}.`,
    );
  }
}

/**
 * Throws `EXPLAIN_MODEL_OUTPUT_INVALID` unless a model, aggregator or value function returned a
 * finite number, and returns it. `context` names the call, for example `predict for window 12`.
 */
export function requireModelOutput(context: string, value: unknown): number {
  if (typeof value !== 'number') {
    throw new ExplainTypeError(
      'EXPLAIN_MODEL_OUTPUT_INVALID',
      context,
      value,
      `${context} must resolve to a number, received ${describeValue(value)}.`,
    );
  }
  if (!Number.isFinite(value)) {
    throw new ExplainRangeError(
      'EXPLAIN_MODEL_OUTPUT_INVALID',
      context,
      value,
      `${context} must resolve to a finite number, received ${value}. Check the model's input.`,
    );
  }
  return value;
}
