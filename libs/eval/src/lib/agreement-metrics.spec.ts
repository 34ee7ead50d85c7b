import { describe, expect, it } from 'vitest';

import {
  averageRanks,
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
import { binaryRates, rocAuc } from './classification-metrics.ts';

// Worked by hand: differences estimate - measured are 2, -2, 3, 0, -3 and both means are 30.
// Deviations from the mean: estimate -18, -12, 3, 10, 17; measured -20, -10, 0, 10, 20, so
// Sxy = 920, Sxx = 866, Syy = 1000 and the squared differences sum to 26.
const MEASURED = [10, 20, 30, 40, 50];
const ESTIMATE = [12, 18, 33, 40, 47];

describe('agreement metrics on five hand-computed pairs', () => {
  it('MAE, RMSE and bias', () => {
    expect(meanAbsoluteError(ESTIMATE, MEASURED)).toBeCloseTo(2, 12);
    expect(rootMeanSquaredError(ESTIMATE, MEASURED)).toBeCloseTo(Math.sqrt(5.2), 12);
    expect(meanBias(ESTIMATE, MEASURED)).toBeCloseTo(0, 12);
  });

  it('Pearson, R² and CCC', () => {
    expect(pearson(ESTIMATE, MEASURED)).toBeCloseTo(920 / Math.sqrt(866 * 1000), 12);
    expect(rSquared(ESTIMATE, MEASURED)).toBeCloseTo(1 - 26 / 1000, 12);
    expect(concordanceCorrelation(ESTIMATE, MEASURED)).toBeCloseTo(1840 / 1866, 12);
  });

  it('R² undefined for constant measured', () => {
    expect(rSquared([19, 21, 22], [20, 20, 20])).toBeNaN();
  });

  it('Bland-Altman limits', () => {
    const result = blandAltman(ESTIMATE, MEASURED);
    expect(result.bias).toBeCloseTo(0, 12);
    expect(result.sdDifference).toBeCloseTo(Math.sqrt(6.5), 12);
    expect(result.lowerLimit).toBeCloseTo(-1.96 * Math.sqrt(6.5), 12);
    expect(result.upperLimit).toBeCloseTo(1.96 * Math.sqrt(6.5), 12);
  });

  it('shares within tolerance', () => {
    // |d| <= 10 % of measured fails only for the first pair (2 > 1).
    expect(shareWithinRelative(ESTIMATE, MEASURED, 0.1)).toBeCloseTo(0.8, 12);
    expect(shareWithinAbsolute(ESTIMATE, MEASURED, 5)).toBe(1);
    expect(shareWithinAbsolute(ESTIMATE, MEASURED, 2.5)).toBeCloseTo(0.6, 12);
  });
});

describe('rank and concordance cases', () => {
  it('averageRanks with ties', () => {
    expect(Array.from(averageRanks([1, 2, 2, 3, 4]))).toEqual([1, 2.5, 2.5, 4, 5]);
    expect(Array.from(averageRanks([4, 1, 4, 3, 2]))).toEqual([4.5, 1, 4.5, 3, 2]);
  });

  it('Spearman with ties in both', () => {
    // Ranks 1, 2.5, 2.5, 4, 5 and 1, 3, 2, 4.5, 4.5: Sxy = 9, Sxx = Syy = 9.5.
    expect(spearman([1, 2, 2, 3, 4], [1, 3, 2, 4, 4])).toBeCloseTo(18 / 19, 12);
  });

  it('CCC penalises a constant shift', () => {
    // Shift of 1: moments 2/3 each, so CCC = (4/3) / (4/3 + 1) while Pearson stays 1.
    expect(concordanceCorrelation([1, 2, 3], [2, 3, 4])).toBeCloseTo(4 / 7, 12);
    expect(pearson([1, 2, 3], [2, 3, 4])).toBeCloseTo(1, 12);
  });

  it('Pearson stays within [-1, 1]', () => {
    // Unclamped, rounding gives 1.0000000000000002 for these values.
    const x = [0.1, 0.1, 0.4];
    expect(pearson(x, x.map((value) => value * 3))).toBeLessThanOrEqual(1);
    expect(pearson(x, x.map((value) => value * -3))).toBeGreaterThanOrEqual(-1);
  });

  it('correlation of a constant is NaN', () => {
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNaN();
  });
});

describe('classification metrics', () => {
  it('AUC counts ties as one half', () => {
    // Positive-negative pairs: 0.9 beats both, 0.5 ties 0.5 and beats 0.2, so 3.5 of 4.
    expect(rocAuc([0.9, 0.5, 0.5, 0.2], [true, true, false, false])).toBeCloseTo(0.875, 12);
  });

  it('AUC matches pairwise counting', () => {
    const score = [3, 1, 2, 2, 5, 4, 4, 0, 2];
    const positive = [true, false, true, false, true, false, true, false, false];
    let wins = 0;
    let pairs = 0;
    for (let i = 0; i < score.length; i++) {
      for (let j = 0; j < score.length; j++) {
        if (!positive[i] || positive[j]) continue;
        pairs++;
        if (score[i] > score[j]) wins += 1;
        if (score[i] === score[j]) wins += 0.5;
      }
    }
    expect(rocAuc(score, positive)).toBeCloseTo(wins / pairs, 12);
  });

  it('AUC without negatives is NaN', () => {
    expect(rocAuc([0.9, 0.5], [true, true])).toBeNaN();
  });

  it('binary rates from a confusion table', () => {
    // TP 1, FN 1, FP 2, TN 1.
    const rates = binaryRates([true, true, false, false, true], [true, false, true, false, false]);
    expect(rates.sensitivity).toBeCloseTo(1 / 2, 12);
    expect(rates.specificity).toBeCloseTo(1 / 3, 12);
    expect(rates.ppv).toBeCloseTo(1 / 3, 12);
    expect(rates.npv).toBeCloseTo(1 / 2, 12);
  });
});
