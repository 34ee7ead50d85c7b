import { describe, expect, it } from 'vitest';

import {
  calibrationBins,
  calibrationLine,
  evaluateCalibration,
  intervalCoverage,
} from './calibration.ts';
import type { EvaluatedSubject } from './join-subjects.ts';
import { createRandom } from './random.ts';

function subject(
  id: string,
  estimate: number,
  measured: number,
  bounds: [number, number] | null = null,
): EvaluatedSubject {
  return {
    id,
    estimate,
    measured,
    label: { id, dlco: measured, metadata: {} },
    prediction: {
      id,
      status: 'ok',
      estimate,
      lower: bounds?.[0] ?? null,
      upper: bounds?.[1] ?? null,
      predicted: null,
      lln: null,
      zScore: null,
      percentPredicted: null,
      baselineEstimate: null,
      error: '',
    },
  };
}

/** Standard normal draws by the Box-Muller transform. */
function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

describe('calibrationLine', () => {
  it('exact line is recovered', () => {
    const estimate = [10, 14, 21, 30];
    const fit = calibrationLine(
      estimate,
      estimate.map((x) => 2 * x + 1),
    );
    expect(fit.slope).toBeCloseTo(2, 12);
    expect(fit.intercept).toBeCloseTo(1, 12);
  });

  it('regresses measured on estimate', () => {
    // Worked by hand: mean x 3, mean y 5, Sxy 20, Sxx 10, so slope 2 and intercept 5 - 2 × 3.
    // Regressing estimate on measured instead would give a slope of Sxy / Syy = 20 / 44.
    const fit = calibrationLine([1, 2, 3, 4, 5], [2, 2, 5, 6, 10]);
    expect(fit.slope).toBeCloseTo(2, 12);
    expect(fit.intercept).toBeCloseTo(-1, 12);
  });

  it('matches the raw-sum normal equations', () => {
    const random = createRandom(3);
    const x = Array.from({ length: 50 }, () => 10 + 20 * random());
    const y = x.map((value) => 4 + 0.7 * value + 3 * normal(random));
    const n = x.length;
    const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
    const sx = sum(x);
    const sy = sum(y);
    const sxy = sum(x.map((value, i) => value * y[i]));
    const sxx = sum(x.map((value) => value * value));
    const slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    const intercept = (sy - slope * sx) / n;
    const fit = calibrationLine(x, y);
    expect(fit.slope).toBeCloseTo(slope, 10);
    expect(fit.intercept).toBeCloseTo(intercept, 10);
  });

  it('constant estimates give NaN', () => {
    const fit = calibrationLine([5, 5, 5], [1, 2, 3]);
    expect(fit.slope).toBeNaN();
    expect(fit.intercept).toBeNaN();
  });
});

describe('calibrationBins', () => {
  it('equal-count bins average by hand', () => {
    // Estimates 1..20 in scrambled order, measured twice the estimate: quartile bins hold
    // estimates 1-5, 6-10, 11-15 and 16-20, with means 3, 8, 13, 18.
    const estimate = Array.from({ length: 20 }, (_, i) => ((i * 7) % 20) + 1);
    const bins = calibrationBins(
      estimate,
      estimate.map((x) => 2 * x),
      4,
    );
    expect(bins.map((bin) => bin.n)).toEqual([5, 5, 5, 5]);
    expect(bins.map((bin) => bin.meanEstimate)).toEqual([3, 8, 13, 18]);
    expect(bins.map((bin) => bin.meanMeasured)).toEqual([6, 16, 26, 36]);
    expect(bins.map((bin) => [bin.minEstimate, bin.maxEstimate])).toEqual([
      [1, 5],
      [6, 10],
      [11, 15],
      [16, 20],
    ]);
  });

  it('small cohort gets fewer bins', () => {
    // 7 subjects allow floor(7 / 3) = 2 bins: ranks 0-3 and 4-6.
    const bins = calibrationBins([7, 1, 6, 2, 5, 3, 4], [0, 0, 0, 0, 1, 1, 1]);
    expect(bins.map((bin) => bin.n)).toEqual([4, 3]);
    expect(bins[0].meanEstimate).toBeCloseTo(2.5, 12);
    expect(bins[1].meanEstimate).toBeCloseTo(6, 12);
    // Estimates 1, 2, 3, 4 have measured 0, 0, 1, 1 and estimates 5, 6, 7 have 1, 0, 0.
    expect(bins[0].meanMeasured).toBeCloseTo(0.5, 12);
    expect(bins[1].meanMeasured).toBeCloseTo(1 / 3, 12);
  });

  it('two subjects give no bins', () => {
    expect(calibrationBins([1, 2], [1, 2])).toEqual([]);
  });
});

describe('intervalCoverage', () => {
  it('counts bounds as inside', () => {
    const lower = [10, 10, 10, 5, 0];
    const upper = [20, 20, 20, 6, 100];
    const measured = [15, 20, 9.9, 7, 50];
    expect(intervalCoverage(lower, upper, measured)).toBeCloseTo(3 / 5, 12);
  });
});

describe('evaluateCalibration', () => {
  it('coverage by hand with unbounded subjects left out', () => {
    const subjects = [
      subject('a', 15, 15, [10, 20]),
      subject('b', 15, 20, [10, 20]),
      subject('c', 15, 9.9, [10, 20]),
      subject('d', 5.5, 7, [5, 6]),
      subject('e', 50, 50, [0, 100]),
      subject('f', 30, 99, null),
    ];
    const result = evaluateCalibration(subjects, { resamples: 100, seed: 1 });
    const coverage = result.intervalCoverage!;
    expect(coverage.n).toBe(5);
    expect(coverage.coverage.estimate).toBeCloseTo(0.6, 12);
    expect(coverage.belowLower).toBeCloseTo(0.2, 12);
    expect(coverage.aboveUpper).toBeCloseTo(0.2, 12);
    // Widths 10, 10, 10, 1 and 100.
    expect(coverage.meanWidth.estimate).toBeCloseTo(26.2, 12);
    expect(coverage.coverage.lower).toBeLessThanOrEqual(0.6);
    expect(coverage.coverage.upper).toBeGreaterThanOrEqual(0.6);
  });

  it('no bounds give null coverage', () => {
    const subjects = [subject('a', 1, 2), subject('b', 2, 3), subject('c', 3, 5)];
    expect(evaluateCalibration(subjects, { resamples: 20 }).intervalCoverage).toBeNull();
  });

  it('perfect line has a zero-width interval', () => {
    const subjects = [10, 12, 17, 20, 25, 31].map((x, i) => subject(`s${i}`, x, 0.5 * x + 3));
    const result = evaluateCalibration(subjects, { resamples: 200, seed: 4 });
    expect(result.slope.estimate).toBeCloseTo(0.5, 12);
    expect(result.intercept.estimate).toBeCloseTo(3, 12);
    expect(result.slope.upper - result.slope.lower).toBeLessThan(1e-9);
  });

  it('coverage interval agrees with binomial theory', () => {
    // 400 subjects whose interval misses the measured value for every 10th subject: the
    // percentile bootstrap interval of the share is close to the Wald interval
    // p ± 1.96 × sqrt(p (1 - p) / n).
    const n = 400;
    const subjects = Array.from({ length: n }, (_, i) =>
      subject(`s${i}`, 20, i % 10 === 0 ? 30 : 20, [15, 25]),
    );
    const result = evaluateCalibration(subjects, { resamples: 2000, seed: 5 });
    const coverage = result.intervalCoverage!.coverage;
    const share = 0.9;
    const halfWidth = 1.96 * Math.sqrt((share * (1 - share)) / n);
    expect(coverage.estimate).toBeCloseTo(share, 12);
    expect(Math.abs(coverage.lower - (share - halfWidth))).toBeLessThan(0.2 * halfWidth);
    expect(Math.abs(coverage.upper - (share + halfWidth))).toBeLessThan(0.2 * halfWidth);
  });

  it('slope interval agrees with OLS theory', () => {
    // With 300 subjects and normal, constant-variance noise, the percentile bootstrap interval
    // of the slope is close to the textbook interval slope ± t(0.975, n-2) × SE.
    const random = createRandom(17);
    const n = 300;
    const x = Array.from({ length: n }, () => 10 + 20 * random());
    const y = x.map((value) => 3 + 0.9 * value + 2 * normal(random));
    const subjects = x.map((value, i) => subject(`s${i}`, value, y[i]));
    const result = evaluateCalibration(subjects, { resamples: 2000, seed: 9 });

    const meanX = x.reduce((a, b) => a + b, 0) / n;
    const sxx = x.reduce((total, value) => total + (value - meanX) ** 2, 0);
    const { slope, intercept } = calibrationLine(x, y);
    const residualVariance =
      y.reduce((total, value, i) => total + (value - intercept - slope * x[i]) ** 2, 0) / (n - 2);
    const halfWidth = 1.968 * Math.sqrt(residualVariance / sxx);
    expect(Math.abs(result.slope.lower - (slope - halfWidth))).toBeLessThan(0.2 * halfWidth);
    expect(Math.abs(result.slope.upper - (slope + halfWidth))).toBeLessThan(0.2 * halfWidth);
  });
});
