import { createRandom } from './random.ts';

/** Default number of bootstrap resamples. */
export const DEFAULT_BOOTSTRAP_RESAMPLES = 2000;
/** Default seed of the bootstrap generator. */
export const DEFAULT_BOOTSTRAP_SEED = 1;
/**
 * Minimum number of resamples that `dlco eval` accepts. A 95 % percentile interval takes each
 * end from a 2.5 % tail, so 200 resamples leave 5 draws per tail. With fewer, one or two draws
 * set an end.
 */
export const MIN_BOOTSTRAP_RESAMPLES = 200;
/**
 * Maximum number of resamples that `dlco eval` accepts. Each bootstrap keeps its draws until
 * their quantiles are taken, at 8 bytes per statistic and resample. A stratum with 50 levels
 * has 101 statistics, so 100 000 resamples keep about 81 MB (computed from those sizes, not
 * measured).
 */
export const MAX_BOOTSTRAP_RESAMPLES = 100_000;
/** Largest seed: the generator has a 32-bit state, so larger seeds would alias smaller ones. */
export const MAX_BOOTSTRAP_SEED = 0xffffffff;

/** Settings of a subject-level bootstrap. */
export interface BootstrapOptions {
  /** Number of resamples, at least 1; default 2000. */
  readonly resamples?: number;
  /** Seed of the pseudo-random generator; default 1. */
  readonly seed?: number;
}

/** A point estimate with its 95 % percentile bootstrap interval. */
export interface Interval {
  readonly estimate: number;
  /** 2.5th percentile of the resampled statistic; NaN when no resample defined it. */
  readonly lower: number;
  /** 97.5th percentile of the resampled statistic; NaN when no resample defined it. */
  readonly upper: number;
  /** Resamples in which the statistic was undefined (NaN) and left out of the interval. */
  readonly undefinedResamples: number;
}

/**
 * Computes named statistics on `n` subjects and 95 % percentile intervals by resampling
 * subjects with replacement. `statistic` receives subject indices (all of them once for the
 * point estimate, a resample otherwise) and returns one number per name, NaN where undefined.
 * Statistics computed in one call share resamples, so paired differences stay paired.
 *
 * @throws RangeError when `resamples` is not a whole number of at least 1.
 * @example
 * const { mae } = bootstrapStatistics(10, (rows) => ({ mae: mean(rows) }), { seed: 7 });
 */
export function bootstrapStatistics<Name extends string>(
  n: number,
  statistic: (indices: Int32Array) => Record<Name, number>,
  options: BootstrapOptions = {},
): Record<Name, Interval> {
  const resamples = options.resamples ?? DEFAULT_BOOTSTRAP_RESAMPLES;
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new RangeError(`resamples must be a whole number >= 1, received ${resamples}.`);
  }
  const random = createRandom(options.seed ?? DEFAULT_BOOTSTRAP_SEED);
  const all = Int32Array.from({ length: n }, (_, i) => i);
  const point = statistic(all);
  const names = Object.keys(point) as Name[];
  const draws = Object.fromEntries(
    names.map((name) => [name, new Float64Array(resamples)]),
  ) as Record<Name, Float64Array>;

  const indices = new Int32Array(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) indices[i] = Math.floor(random() * n);
    const values = statistic(indices);
    for (const name of names) draws[name][r] = values[name];
  }

  const result = {} as Record<Name, Interval>;
  for (const name of names) {
    // A Float64Array sorts numerically.
    const defined = draws[name].filter((value) => !Number.isNaN(value)).sort();
    result[name] = {
      estimate: point[name],
      lower: quantile(defined, 0.025),
      upper: quantile(defined, 0.975),
      undefinedResamples: resamples - defined.length,
    };
  }
  return result;
}

/** Linear-interpolation quantile (type 7) of sorted values; NaN for an empty array. */
export function quantile(sorted: ArrayLike<number>, probability: number): number {
  if (sorted.length === 0) return NaN;
  const position = (sorted.length - 1) * probability;
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below] + (position - below) * (sorted[above] - sorted[below]);
}
