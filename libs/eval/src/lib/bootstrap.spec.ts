import { describe, expect, it } from 'vitest';

import { meanAbsoluteError } from './agreement-metrics.ts';
import { bootstrapStatistics, quantile } from './bootstrap.ts';
import { createRandom } from './random.ts';

const random = createRandom(99);
const MEASURED = Array.from({ length: 40 }, () => 10 + 20 * random());
const ESTIMATE = MEASURED.map((value) => value + 4 * (random() - 0.4));

function maeOf(indices: Int32Array) {
  const estimate = Array.from(indices, (i) => ESTIMATE[i]);
  const measured = Array.from(indices, (i) => MEASURED[i]);
  return { mae: meanAbsoluteError(estimate, measured) };
}

describe('bootstrapStatistics', () => {
  it('same seed gives the same interval', () => {
    const first = bootstrapStatistics(40, maeOf, { resamples: 300, seed: 5 });
    const second = bootstrapStatistics(40, maeOf, { resamples: 300, seed: 5 });
    expect(second).toEqual(first);
  });

  it('another seed gives another interval', () => {
    const first = bootstrapStatistics(40, maeOf, { resamples: 300, seed: 5 });
    const other = bootstrapStatistics(40, maeOf, { resamples: 300, seed: 6 });
    expect(other.mae.lower).not.toBe(first.mae.lower);
  });

  it('interval contains the point estimate', () => {
    const { mae } = bootstrapStatistics(40, maeOf, { resamples: 500, seed: 1 });
    expect(mae.estimate).toBeCloseTo(meanAbsoluteError(ESTIMATE, MEASURED), 12);
    expect(mae.lower).toBeLessThan(mae.estimate);
    expect(mae.upper).toBeGreaterThan(mae.estimate);
    expect(mae.undefinedResamples).toBe(0);
  });

  it('counts resamples where a statistic is undefined', () => {
    const result = bootstrapStatistics(2, () => ({ always: NaN }), { resamples: 10 });
    expect(result.always.undefinedResamples).toBe(10);
    expect(result.always.lower).toBeNaN();
  });

  it('BAD CALL - zero resamples', () => {
    expect(() => bootstrapStatistics(3, maeOf, { resamples: 0 })).toThrow(RangeError);
  });
});

describe('quantile', () => {
  it('interpolates between order statistics', () => {
    expect(quantile([1, 2, 3, 4, 5], 0.5)).toBe(3);
    expect(quantile([1, 2, 3, 4, 5], 0.025)).toBeCloseTo(1.1, 12);
    expect(quantile([1, 2, 3, 4, 5], 0.975)).toBeCloseTo(4.9, 12);
  });
});
