import { describe, expect, it } from 'vitest';

import {
  attributionSpearman,
  median,
  normalisedRecovery,
  pointingGame,
  recoveryArea,
} from './faithfulness-metrics.ts';

describe('attributionSpearman', () => {
  it('matches a hand-ranked table', () => {
    // Truth ranks 1, 3, 2, 4 against 1, 2, 3, 4: sum d² = 2, rho = 1 - 6·2 / (4·15) = 0.8.
    expect(attributionSpearman([1, 2, 3, 4], [10, 30, 20, 40])).toBeCloseTo(0.8, 12);
  });

  it('averages tied ranks', () => {
    // Ranks x = 1.5, 4, 3, 1.5 and y = 4, 2, 3, 1 (both mean 2.5): the centred cross products
    // sum to -0.5 and the squares to 4.5 and 5, so rho = -0.5 / sqrt(22.5).
    expect(attributionSpearman([0.3, 1, 0.5, 0.3], [6.4, 1.28, 3.2, 0.64])).toBeCloseTo(
      -0.5 / Math.sqrt(22.5),
      12,
    );
  });

  it('is undefined for constant truth', () => {
    expect(attributionSpearman([1, 2, 3], [0, 0, 0])).toBeNaN();
  });

  it('is undefined for constant attribution', () => {
    expect(attributionSpearman([2, 2, 2], [1, 2, 3])).toBeNaN();
  });

  it('is undefined below three units', () => {
    expect(attributionSpearman([1, 2], [1, 2])).toBeNaN();
  });
});

describe('pointingGame', () => {
  it('hits when the top unit has a lesion', () => {
    expect(pointingGame([0.1, 0.9, 0.5], [false, true, false])).toBe(1);
  });

  it('misses when the top unit has none', () => {
    expect(pointingGame([0.9, 0.1, 0.5], [false, true, false])).toBe(0);
  });

  it('scores a tie by the share of lesion units', () => {
    expect(pointingGame([0.9, 0.9, 0.1], [true, false, false])).toBe(0.5);
  });

  it('is undefined without any lesion', () => {
    expect(pointingGame([0.9, 0.1], [false, false])).toBeNaN();
  });
});

describe('recoveryArea', () => {
  it('integrates the cumulative truth share', () => {
    // Order by attribution: truth 0, 2, 2 of 4, so the curve is 0, 0, 0.5, 1 at k/3 and the
    // trapezoids give (0 + 0.25 + 0.75) / 3.
    expect(recoveryArea([3, 2, 1], [0, 2, 2])).toBeCloseTo(1 / 3, 12);
  });

  it('treats a tie as a straight segment', () => {
    expect(recoveryArea([5, 5, 5], [0, 2, 2])).toBeCloseTo(0.5, 12);
  });

  it('is undefined for zero truth', () => {
    expect(recoveryArea([1, 2], [0, 0])).toBeNaN();
  });
});

describe('normalisedRecovery', () => {
  it('is 1 for the truth ranking', () => {
    // Curve 0, 0.5, 1, 1: area (0.25 + 0.75 + 1) / 3 = 2/3, equal to the oracle.
    expect(normalisedRecovery([1, 3, 2], [0, 2, 2])).toBeCloseTo(1, 12);
  });

  it('is -1 for the reversed ranking', () => {
    // Area 1/3 against the oracle's 2/3: (1/3 - 1/2) / (2/3 - 1/2) = -1.
    expect(normalisedRecovery([3, 2, 1], [0, 2, 2])).toBeCloseTo(-1, 12);
  });

  it('is 0 for a constant attribution', () => {
    expect(normalisedRecovery([5, 5, 5], [0, 2, 2])).toBeCloseTo(0, 12);
  });

  it('is undefined for constant truth', () => {
    expect(normalisedRecovery([1, 2, 3], [1, 1, 1])).toBeNaN();
  });
});

describe('median', () => {
  it('skips undefined values', () => {
    expect(median([3, NaN, 1, 2, 10])).toBe(2.5);
  });
});
