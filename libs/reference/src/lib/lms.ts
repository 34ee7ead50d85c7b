import { requirePositiveNumber } from './errors.ts';

/**
 * Standard normal quantile of the 5th and 95th percentiles, as the GLI equations use it for
 * the lower and upper limits of normal.
 */
export const LIMIT_OF_NORMAL_Z = 1.645;

/** LMS parameters: median `m`, coefficient of variation `s` and skewness (Box-Cox power) `l`. */
export interface LmsParameters {
  readonly l: number;
  readonly m: number;
  readonly s: number;
}

/** Computes the value at standard normal deviate `z` of an LMS (Box-Cox) distribution. */
export function lmsQuantile({ l, m, s }: LmsParameters, z: number): number {
  if (l === 0) {
    return m * Math.exp(s * z);
  }
  return m * Math.pow(1 + l * s * z, 1 / l);
}

/**
 * Computes the LMS z-score of a measurement: z = ((measured / M)^L - 1) / (L S).
 *
 * @param measured - measured value in the unit of `reference.m` (ml/min/mmHg for DLCO)
 * @param reference - LMS parameters, e.g. the result of `gliDlco`
 * @throws ReferenceInputError `REFERENCE_INVALID_INPUT` when `measured` is not a finite
 *   number greater than 0.
 * @example
 * zScore(20, gliDlco({ ageYears: 50, sex: 'M', heightCm: 175 })); // about -2.12
 */
export function zScore(measured: number, reference: LmsParameters): number {
  requirePositiveNumber('measured', measured, 'ml/min/mmHg');
  const { l, m, s } = reference;
  if (l === 0) {
    return Math.log(measured / m) / s;
  }
  return (Math.pow(measured / m, l) - 1) / (l * s);
}

/**
 * Computes a measurement as a percentage of the predicted value.
 *
 * @param measured - measured value in ml/min/mmHg
 * @param reference - predicted value in ml/min/mmHg, e.g. the result of `gliDlco`
 * @throws ReferenceInputError `REFERENCE_INVALID_INPUT` when `measured` is not a finite
 *   number greater than 0.
 * @example
 * percentPredicted(20, gliDlco({ ageYears: 50, sex: 'M', heightCm: 175 })); // about 70.3
 */
export function percentPredicted(
  measured: number,
  reference: { readonly predicted: number },
): number {
  requirePositiveNumber('measured', measured, 'ml/min/mmHg');
  return (100 * measured) / reference.predicted;
}
