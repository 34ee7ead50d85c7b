import {
  blandAltman,
  concordanceCorrelation,
  meanAbsoluteError,
  meanBias,
  pearson,
  rootMeanSquaredError,
  rSquared,
  shareWithinAbsolute,
  shareWithinRelative,
  spearman,
} from './agreement-metrics.ts';
import { bootstrapStatistics, type BootstrapOptions, type Interval } from './bootstrap.ts';

/** Relative tolerance of the `within10Percent` share, as a fraction of the measured value. */
export const WITHIN_RELATIVE_FRACTION = 0.1;
/** Absolute tolerance of the `within5MlMinMmHg` share in ml/min/mmHg. */
export const WITHIN_ABSOLUTE_ML_MIN_MMHG = 5;

/** Agreement metrics with their units, in report order. */
export const AGREEMENT_METRICS = [
  { name: 'mae', unit: 'ml/min/mmHg', label: 'mean absolute error' },
  { name: 'rmse', unit: 'ml/min/mmHg', label: 'root mean squared error' },
  { name: 'bias', unit: 'ml/min/mmHg', label: 'mean of estimate minus measured' },
  { name: 'pearson', unit: '1', label: 'Pearson r' },
  { name: 'spearman', unit: '1', label: 'Spearman rho' },
  { name: 'rSquared', unit: '1', label: 'R² of estimate as prediction of measured' },
  { name: 'ccc', unit: '1', label: "Lin's concordance correlation coefficient" },
  { name: 'limitsOfAgreementLower', unit: 'ml/min/mmHg', label: 'Bland-Altman bias - 1.96 SD' },
  { name: 'limitsOfAgreementUpper', unit: 'ml/min/mmHg', label: 'Bland-Altman bias + 1.96 SD' },
  { name: 'within10Percent', unit: 'fraction', label: 'share within 10 % of measured' },
  { name: 'within5MlMinMmHg', unit: 'fraction', label: 'share within 5 ml/min/mmHg' },
] as const;

export type AgreementMetricName = (typeof AGREEMENT_METRICS)[number]['name'];

/** Computes every agreement metric on the subjects at `indices`. */
export function agreementStatistics(
  estimate: ArrayLike<number>,
  measured: ArrayLike<number>,
  indices: Int32Array,
): Record<AgreementMetricName, number> {
  const x = Float64Array.from(indices, (i) => estimate[i]);
  const y = Float64Array.from(indices, (i) => measured[i]);
  const limits = blandAltman(x, y);
  return {
    mae: meanAbsoluteError(x, y),
    rmse: rootMeanSquaredError(x, y),
    bias: meanBias(x, y),
    pearson: pearson(x, y),
    spearman: spearman(x, y),
    rSquared: rSquared(x, y),
    ccc: concordanceCorrelation(x, y),
    limitsOfAgreementLower: limits.lowerLimit,
    limitsOfAgreementUpper: limits.upperLimit,
    within10Percent: shareWithinRelative(x, y, WITHIN_RELATIVE_FRACTION),
    within5MlMinMmHg: shareWithinAbsolute(x, y, WITHIN_ABSOLUTE_ML_MIN_MMHG),
  };
}

/**
 * Computes the agreement metrics of estimated against measured DLCO with 95 % bootstrap
 * intervals that resample subjects.
 *
 * @param estimate - estimated DLCO per subject in ml/min/mmHg
 * @param measured - measured DLCO per subject in ml/min/mmHg, in the same order
 * @example
 * const metrics = evaluateAgreement([21, 18], [20, 19], { seed: 3 });
 * metrics.mae.estimate; // 1
 */
export function evaluateAgreement(
  estimate: ArrayLike<number>,
  measured: ArrayLike<number>,
  options: BootstrapOptions = {},
): Record<AgreementMetricName, Interval> {
  if (estimate.length !== measured.length) {
    throw new RangeError(
      `estimate has ${estimate.length} values but measured has ${measured.length}; pass one ` +
        'pair per subject.',
    );
  }
  return bootstrapStatistics(
    estimate.length,
    (indices) => agreementStatistics(estimate, measured, indices),
    options,
  );
}
