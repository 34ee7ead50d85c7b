import { bootstrapStatistics, type BootstrapOptions, type Interval } from './bootstrap.ts';
import type { EvaluatedSubject } from './join-subjects.ts';

/** Default number of equal-count bins of the calibration plot (deciles of the estimate). */
export const DEFAULT_CALIBRATION_BINS = 10;
/** Minimum number of subjects per calibration bin, so smaller cohorts get fewer bins. */
export const MIN_SUBJECTS_PER_CALIBRATION_BIN = 3;

/** Least-squares line of measured DLCO on the estimate (measured ≈ a + b × estimate). */
export interface CalibrationLine {
  /** Unitless. It is 1 when a unit change in the estimate matches one in measured DLCO. */
  readonly slope: number;
  /** In ml/min/mmHg. With slope 1, an intercept of 0 means no systematic miscalibration. */
  readonly intercept: number;
}

/**
 * Fits measured = intercept + slope × estimate by ordinary least squares. Both values are NaN
 * when the estimates have no spread (fewer than two distinct values).
 */
export function calibrationLine(
  estimate: ArrayLike<number>,
  measured: ArrayLike<number>,
): CalibrationLine {
  const n = estimate.length;
  let meanEstimate = 0;
  let meanMeasured = 0;
  for (let i = 0; i < n; i++) {
    meanEstimate += estimate[i] / n;
    meanMeasured += measured[i] / n;
  }
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (estimate[i] - meanEstimate) * (measured[i] - meanMeasured);
    sxx += (estimate[i] - meanEstimate) ** 2;
  }
  if (n === 0 || sxx === 0) return { slope: NaN, intercept: NaN };
  const slope = sxy / sxx;
  return { slope, intercept: meanMeasured - slope * meanEstimate };
}

/** One equal-count bin of subjects ordered by their estimate. DLCO values in ml/min/mmHg. */
export interface CalibrationBin {
  /** 1 for the lowest estimates. */
  readonly bin: number;
  readonly n: number;
  readonly meanEstimate: number;
  readonly meanMeasured: number;
  readonly minEstimate: number;
  readonly maxEstimate: number;
}

/**
 * Splits subjects into `bins` equal-count groups by their estimate (quantile bins) and returns
 * each group's mean estimate and mean measured value, the points of a binned calibration plot.
 * Subject k of n in estimate order goes to bin floor(k × bins / n), so bin sizes differ by at
 * most one. Tied estimates are ordered by input position and may straddle a bin edge. The bin
 * count drops to floor(n / 3) when the cohort is too small for `bins` bins of 3 subjects.
 */
export function calibrationBins(
  estimate: ArrayLike<number>,
  measured: ArrayLike<number>,
  bins = DEFAULT_CALIBRATION_BINS,
): CalibrationBin[] {
  const n = estimate.length;
  const count = Math.min(bins, Math.floor(n / MIN_SUBJECTS_PER_CALIBRATION_BIN));
  if (count < 1) return [];
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => estimate[a] - estimate[b] || a - b,
  );
  const groups: number[][] = Array.from({ length: count }, () => []);
  order.forEach((subject, rank) => groups[Math.floor((rank * count) / n)].push(subject));
  return groups.map((members, index) => {
    const values = members.map((i) => estimate[i]);
    return {
      bin: index + 1,
      n: members.length,
      meanEstimate: values.reduce((sum, value) => sum + value, 0) / members.length,
      meanMeasured: members.reduce((sum, i) => sum + measured[i], 0) / members.length,
      minEstimate: Math.min(...values),
      maxEstimate: Math.max(...values),
    };
  });
}

/**
 * Returns the share (0 to 1) of subjects whose measured value lies in their prediction interval,
 * bounds included, or NaN for no subjects.
 */
export function intervalCoverage(
  lower: ArrayLike<number>,
  upper: ArrayLike<number>,
  measured: ArrayLike<number>,
): number {
  let inside = 0;
  for (let i = 0; i < measured.length; i++) {
    if (lower[i] <= measured[i] && measured[i] <= upper[i]) inside++;
  }
  return measured.length === 0 ? NaN : inside / measured.length;
}

/** Empirical coverage of the `lower`/`upper` prediction intervals of predictions.csv. */
export interface IntervalCoverageResult {
  /** Subjects with both bounds, the only ones counted. */
  readonly n: number;
  /** Share of those subjects whose measured DLCO lies within [lower, upper]. */
  readonly coverage: Interval;
  /** Mean of upper minus lower in ml/min/mmHg. */
  readonly meanWidth: Interval;
  /** Share of subjects whose measured DLCO is below the lower bound. */
  readonly belowLower: number;
  /** Share of subjects whose measured DLCO is above the upper bound. */
  readonly aboveUpper: number;
}

/** Calibration of the estimate: regression line, binned means and interval coverage. */
export interface CalibrationResult {
  /** Slope of measured on estimate, unitless, with its bootstrap interval. */
  readonly slope: Interval;
  /** Intercept of measured on estimate in ml/min/mmHg, with its bootstrap interval. */
  readonly intercept: Interval;
  /** Equal-count bins by estimate, lowest first. */
  readonly bins: readonly CalibrationBin[];
  /** Null when no subject has both interval bounds. */
  readonly intervalCoverage: IntervalCoverageResult | null;
}

/**
 * Evaluates the calibration of the estimates: the slope and intercept of measured DLCO
 * regressed on the estimate, binned means for a calibration plot, and, for subjects whose
 * prediction has `lower` and `upper`, the share of measured values inside the interval. Slope,
 * intercept, coverage and mean width carry 95 % bootstrap intervals that resample subjects.
 */
export function evaluateCalibration(
  subjects: readonly EvaluatedSubject[],
  options: BootstrapOptions & { bins?: number } = {},
): CalibrationResult {
  const estimate = subjects.map((subject) => subject.estimate);
  const measured = subjects.map((subject) => subject.measured);
  const line = bootstrapStatistics(
    subjects.length,
    (indices) => {
      const fit = calibrationLine(
        Float64Array.from(indices, (i) => estimate[i]),
        Float64Array.from(indices, (i) => measured[i]),
      );
      return { slope: fit.slope, intercept: fit.intercept };
    },
    options,
  );
  return {
    slope: line.slope,
    intercept: line.intercept,
    bins: calibrationBins(estimate, measured, options.bins),
    intervalCoverage: evaluateCoverage(subjects, options),
  };
}

function evaluateCoverage(
  subjects: readonly EvaluatedSubject[],
  options: BootstrapOptions,
): IntervalCoverageResult | null {
  const bounded = subjects.filter(
    (subject) => subject.prediction.lower !== null && subject.prediction.upper !== null,
  );
  if (bounded.length === 0) return null;
  const lower = bounded.map((subject) => subject.prediction.lower!);
  const upper = bounded.map((subject) => subject.prediction.upper!);
  const measured = bounded.map((subject) => subject.measured);
  const intervals = bootstrapStatistics(
    bounded.length,
    (indices) => {
      const pick = (values: number[]) => Float64Array.from(indices, (i) => values[i]);
      const low = pick(lower);
      const high = pick(upper);
      let width = 0;
      for (let i = 0; i < low.length; i++) width += (high[i] - low[i]) / low.length;
      return { coverage: intervalCoverage(low, high, pick(measured)), meanWidth: width };
    },
    options,
  );
  const share = (test: (i: number) => boolean) =>
    measured.filter((_, i) => test(i)).length / bounded.length;
  return {
    n: bounded.length,
    ...intervals,
    belowLower: share((i) => measured[i] < lower[i]),
    aboveUpper: share((i) => measured[i] > upper[i]),
  };
}
