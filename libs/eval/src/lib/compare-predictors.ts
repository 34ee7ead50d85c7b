import { meanAbsoluteError } from './agreement-metrics.ts';
import { bootstrapStatistics, type BootstrapOptions, type Interval } from './bootstrap.ts';

/** Paired comparison of two predictors' MAE on the same subjects. */
export interface PairedComparison {
  /** Name of the first predictor, e.g. `model`. */
  readonly name: string;
  /** Name of the predictor compared against, e.g. `baseline_estimate`. */
  readonly against: string;
  /** Subjects with a value from both predictors. */
  readonly n: number;
  /** MAE of the first predictor in ml/min/mmHg. */
  readonly mae: Interval;
  /** MAE of the other predictor in ml/min/mmHg. */
  readonly maeAgainst: Interval;
  /** MAE of the first minus MAE of the other in ml/min/mmHg; negative favours the first. */
  readonly maeDifference: Interval;
}

/**
 * Compares two predictors by a paired bootstrap: each resample draws subjects once and
 * computes both MAEs on them, so the difference's interval reflects the pairing.
 *
 * @param first - estimates in ml/min/mmHg, one per subject
 * @param other - the other predictor's estimates in ml/min/mmHg, same subjects and order
 * @param measured - measured DLCO in ml/min/mmHg, same order
 * @example
 * comparePredictors('model', [20, 22], 'baseline', [25, 18], [21, 21]).maeDifference.estimate;
 * // 1 - 3.5 = -2.5
 */
export function comparePredictors(
  name: string,
  first: ArrayLike<number>,
  against: string,
  other: ArrayLike<number>,
  measured: ArrayLike<number>,
  options: BootstrapOptions = {},
): PairedComparison {
  if (first.length !== measured.length || other.length !== measured.length) {
    throw new RangeError(
      `${name} has ${first.length}, ${against} ${other.length} and measured ` +
        `${measured.length} values; pass one value per subject to each.`,
    );
  }
  const intervals = bootstrapStatistics(
    measured.length,
    (indices) => {
      const pick = (values: ArrayLike<number>) => Float64Array.from(indices, (i) => values[i]);
      const y = pick(measured);
      const mae = meanAbsoluteError(pick(first), y);
      const maeAgainst = meanAbsoluteError(pick(other), y);
      return { mae, maeAgainst, maeDifference: mae - maeAgainst };
    },
    options,
  );
  return { name, against, n: measured.length, ...intervals };
}
