import { averageRanks } from './agreement-metrics.ts';

/**
 * Area under the ROC curve by the Mann-Whitney statistic: the probability that a random
 * positive scores higher than a random negative, counting ties as 0.5. Returns NaN without
 * both classes.
 *
 * @param score - higher means more likely positive
 * @param positive - true for the positive class
 */
export function rocAuc(score: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  // Rank-sum form of the Mann-Whitney U: with average ranks, a tied positive-negative pair
  // adds exactly 0.5, and the cost is O(n log n) instead of comparing every pair.
  const ranks = averageRanks(score);
  let positives = 0;
  let positiveRankSum = 0;
  for (let i = 0; i < score.length; i++) {
    if (!positive[i]) continue;
    positives++;
    positiveRankSum += ranks[i];
  }
  const negatives = score.length - positives;
  if (positives === 0 || negatives === 0) return NaN;
  const wins = positiveRankSum - (positives * (positives + 1)) / 2;
  return wins / (positives * negatives);
}

/** Sensitivity, specificity, PPV and NPV, each 0 to 1 and NaN when its denominator is 0. */
export interface BinaryRates {
  readonly sensitivity: number;
  readonly specificity: number;
  readonly ppv: number;
  readonly npv: number;
}

/** Computes the rates of a binary test `called` against the truth `positive`. */
export function binaryRates(called: ArrayLike<boolean>, positive: ArrayLike<boolean>) {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < called.length; i++) {
    if (positive[i] && called[i]) tp++;
    else if (positive[i]) fn++;
    else if (called[i]) fp++;
    else tn++;
  }
  const rates: BinaryRates = {
    sensitivity: tp / (tp + fn),
    specificity: tn / (tn + fp),
    ppv: tp / (tp + fp),
    npv: tn / (tn + fn),
  };
  return rates;
}
