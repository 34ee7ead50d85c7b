/**
 * Agreement between estimated and measured DLCO. Every function takes two arrays of equal
 * length, `estimate` and `measured`, in ml/min/mmHg, and returns NaN where the statistic is
 * undefined (no pairs, or zero variance for correlations).
 */

/** 1.96, the two-sided 95 % normal quantile used for the Bland-Altman limits. */
export const LIMITS_OF_AGREEMENT_Z = 1.96;

function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return values.length === 0 ? NaN : sum / values.length;
}

/** Mean absolute error in ml/min/mmHg. */
export function meanAbsoluteError(estimate: ArrayLike<number>, measured: ArrayLike<number>) {
  let sum = 0;
  for (let i = 0; i < estimate.length; i++) sum += Math.abs(estimate[i] - measured[i]);
  return estimate.length === 0 ? NaN : sum / estimate.length;
}

/** Root mean squared error in ml/min/mmHg. */
export function rootMeanSquaredError(estimate: ArrayLike<number>, measured: ArrayLike<number>) {
  let sum = 0;
  for (let i = 0; i < estimate.length; i++) sum += (estimate[i] - measured[i]) ** 2;
  return estimate.length === 0 ? NaN : Math.sqrt(sum / estimate.length);
}

/** Mean of estimate minus measured in ml/min/mmHg; positive means overestimation. */
export function meanBias(estimate: ArrayLike<number>, measured: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < estimate.length; i++) sum += estimate[i] - measured[i];
  return estimate.length === 0 ? NaN : sum / estimate.length;
}

/** Pearson correlation coefficient, unitless. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const meanX = mean(x);
  const meanY = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i] - meanX) * (y[i] - meanY);
    sxx += (x[i] - meanX) ** 2;
    syy += (y[i] - meanY) ** 2;
  }
  // Rounding can carry a perfect correlation just past ±1, for example 1.0000000000000002.
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** Ranks from 1 to n, giving tied values the average of the ranks they span. */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort(
    (a, b) => values[a] - values[b],
  );
  const ranks = new Float64Array(values.length);
  let start = 0;
  while (start < order.length) {
    let end = start + 1;
    while (end < order.length && values[order[end]] === values[order[start]]) end++;
    // Positions start..end-1 hold one tied value; their 1-based ranks average to this.
    const rank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) ranks[order[k]] = rank;
    start = end;
  }
  return ranks;
}

/** Spearman rank correlation: Pearson correlation of average ranks, so ties are handled. */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  return pearson(averageRanks(x), averageRanks(y));
}

/**
 * Coefficient of determination of the estimate as a prediction of the measured value,
 * 1 - SS_residual / SS_total. Unlike the squared Pearson r, it is lowered by bias and can be
 * negative. NaN (undefined) when the measured values are all equal, because SS_total is 0; every
 * output then shows it as empty or null, and resamples drawing one value count as undefined.
 */
export function rSquared(estimate: ArrayLike<number>, measured: ArrayLike<number>): number {
  const meanMeasured = mean(measured);
  let residual = 0;
  let total = 0;
  for (let i = 0; i < measured.length; i++) {
    residual += (measured[i] - estimate[i]) ** 2;
    total += (measured[i] - meanMeasured) ** 2;
  }
  if (total === 0) return NaN;
  return 1 - residual / total;
}

/**
 * Lin's concordance correlation coefficient, 2 s_xy / (s_x² + s_y² + (mean_x - mean_y)²), with
 * population (1/n) moments as in Lin (Biometrics 1989;45:255-268). Unitless.
 */
export function concordanceCorrelation(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const meanX = mean(x);
  const meanY = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i] - meanX) * (y[i] - meanY);
    sxx += (x[i] - meanX) ** 2;
    syy += (y[i] - meanY) ** 2;
  }
  const n = x.length;
  return (2 * sxy) / n / (sxx / n + syy / n + (meanX - meanY) ** 2);
}

/** Bland-Altman bias and 95 % limits of agreement, all in ml/min/mmHg. */
export interface BlandAltman {
  /** Mean of estimate minus measured. */
  readonly bias: number;
  /** Sample standard deviation (n - 1) of the differences. */
  readonly sdDifference: number;
  /** bias - 1.96 SD. */
  readonly lowerLimit: number;
  /** bias + 1.96 SD. */
  readonly upperLimit: number;
}

/** Computes the Bland-Altman bias and 95 % limits of agreement of estimate minus measured. */
export function blandAltman(estimate: ArrayLike<number>, measured: ArrayLike<number>) {
  const n = estimate.length;
  const bias = meanBias(estimate, measured);
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (estimate[i] - measured[i] - bias) ** 2;
  const sdDifference = Math.sqrt(squares / (n - 1));
  const result: BlandAltman = {
    bias,
    sdDifference,
    lowerLimit: bias - LIMITS_OF_AGREEMENT_Z * sdDifference,
    upperLimit: bias + LIMITS_OF_AGREEMENT_Z * sdDifference,
  };
  return result;
}

/** Share (0 to 1) of subjects with |estimate - measured| <= `fraction` × measured. */
export function shareWithinRelative(
  estimate: ArrayLike<number>,
  measured: ArrayLike<number>,
  fraction: number,
): number {
  let count = 0;
  for (let i = 0; i < estimate.length; i++) {
    if (Math.abs(estimate[i] - measured[i]) <= fraction * measured[i]) count++;
  }
  return estimate.length === 0 ? NaN : count / estimate.length;
}

/** Share (0 to 1) of subjects with |estimate - measured| <= `toleranceMlMinMmHg`. */
export function shareWithinAbsolute(
  estimate: ArrayLike<number>,
  measured: ArrayLike<number>,
  toleranceMlMinMmHg: number,
): number {
  let count = 0;
  for (let i = 0; i < estimate.length; i++) {
    if (Math.abs(estimate[i] - measured[i]) <= toleranceMlMinMmHg) count++;
  }
  return estimate.length === 0 ? NaN : count / estimate.length;
}
