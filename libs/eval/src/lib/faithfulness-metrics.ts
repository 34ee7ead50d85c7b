import { spearman } from './agreement-metrics.ts';

/** Minimum number of zones or patches for which a rank correlation is reported. */
export const MIN_RANKED_UNITS = 3;

/**
 * Spearman rho between attributed and true deficit, NaN when fewer than
 * {@link MIN_RANKED_UNITS} units are given or when either side is constant (rho is undefined
 * then, not 0).
 */
export function attributionSpearman(
  attributed: readonly number[],
  truth: readonly number[],
): number {
  if (attributed.length < MIN_RANKED_UNITS || isConstant(attributed) || isConstant(truth)) {
    return NaN;
  }
  return spearman(attributed, truth);
}

function isConstant(values: readonly number[]): boolean {
  return values.every((value) => value === values[0]);
}

/**
 * Scores the pointing game: 1 when the unit with the largest attribution contains a lesion,
 * else 0. When several units tie for the largest attribution, returns the share of them that
 * contain a lesion, the expected hit of a random pick among them. Returns NaN when no unit
 * contains a lesion, because then no ranking can hit.
 *
 * @param hasLesion - per unit, whether it contains at least one lesion voxel
 */
export function pointingGame(attributed: readonly number[], hasLesion: readonly boolean[]): number {
  if (attributed.length === 0 || !hasLesion.some(Boolean)) return NaN;
  const top = Math.max(...attributed);
  let tied = 0;
  let hits = 0;
  attributed.forEach((value, unit) => {
    if (value !== top) return;
    tied++;
    if (hasLesion[unit]) hits++;
  });
  return hits / tied;
}

/**
 * Computes the area under the true-deficit recovery curve: units ranked by `attributed`
 * (largest first), the cumulative share of the total truth captured by the top k units, plotted
 * against k / N for k = 0..N, integrated with the trapezoid rule. Units that tie in attribution
 * contribute the expected curve of a random order among them, which is linear across the tie.
 * Returns NaN when the truth sums to 0.
 */
export function recoveryArea(attributed: readonly number[], truth: readonly number[]): number {
  const n = truth.length;
  const total = truth.reduce((sum, value) => sum + value, 0);
  if (n === 0 || total === 0) return NaN;
  const order = Array.from({ length: n }, (_, unit) => unit).sort(
    (a, b) => attributed[b] - attributed[a],
  );
  let area = 0;
  let captured = 0;
  let start = 0;
  while (start < n) {
    let end = start + 1;
    while (end < n && attributed[order[end]] === attributed[order[start]]) end++;
    let groupTruth = 0;
    for (let k = start; k < end; k++) groupTruth += truth[order[k]];
    // Across a tie the expected curve rises linearly, so one trapezoid covers the whole group.
    const before = captured / total;
    captured += groupTruth;
    const after = captured / total;
    area += ((end - start) / n) * ((before + after) / 2);
    start = end;
  }
  return area;
}

/**
 * Normalises the recovery area of `attributed` against a random ranking (area 0.5) and the
 * ranking by the truth itself: (area - 0.5) / (oracle area - 0.5). Returns 1 for a ranking as
 * good as the truth, 0 for one no better than random and below 0 for one worse than random.
 * Returns NaN when the truth sums to 0, and when it is constant, because the oracle is then no
 * better than random.
 */
export function normalisedRecovery(
  attributed: readonly number[],
  truth: readonly number[],
): number {
  const oracle = recoveryArea(truth, truth);
  const area = recoveryArea(attributed, truth);
  if (Number.isNaN(area) || Number.isNaN(oracle) || isConstant(truth)) return NaN;
  return (area - 0.5) / (oracle - 0.5);
}

/** Median of the finite values; NaN for none. */
export function median(values: readonly number[]): number {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Mean of the values that are not NaN; NaN for none. */
export function meanDefined(values: readonly number[]): number {
  const defined = values.filter((value) => !Number.isNaN(value));
  if (defined.length === 0) return NaN;
  return defined.reduce((sum, value) => sum + value, 0) / defined.length;
}
