import { describe, expect, it } from 'vitest';
import { ExplainRangeError, ExplainTypeError } from './errors.ts';
import { deletionCurve, insertionCurve } from './removal-curve.ts';

/** Additive toy model: the estimate is the sum of the contributions of the patches kept. */
function additiveModel(contributions: readonly number[]) {
  let calls = 0;
  const evaluate = async (removed: Set<number>): Promise<number> => {
    calls++;
    return contributions.reduce((sum, value, i) => (removed.has(i) ? sum : sum + value), 0);
  };
  return { evaluate, calls: () => calls };
}

/** Fisher–Yates shuffle driven by a fixed linear congruential generator. */
function seededShuffle(values: number[], seed: number): number[] {
  const shuffled = [...values];
  let state = seed;
  for (let i = shuffled.length - 1; i > 0; i--) {
    state = (state * 1664525 + 1013904223) % 4294967296;
    const j = state % (i + 1);
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  return shuffled;
}

const CONTRIBUTIONS = Array.from({ length: 40 }, (_, i) => 0.5 + ((i * 37) % 11));
const TRUE_ORDER = CONTRIBUTIONS.map((_, i) => i).sort((a, b) => CONTRIBUTIONS[b] - CONTRIBUTIONS[a]);

describe('deletionCurve', () => {
  it('two-patch case matches hand-computed AUC', async () => {
    const result = await deletionCurve([0, 1], additiveModel([3, 1]).evaluate, { steps: 2 });
    expect(result.points.map((point) => point.estimate)).toEqual([4, 1, 0]);
    expect(result.points.map((point) => point.fraction)).toEqual([0, 0.5, 1]);
    // Raw: 0.5 · (4 + 1) / 2 + 0.5 · (1 + 0) / 2 = 1.5. Normalised: 1, 0.25, 0 gives 0.375.
    expect(result.auc).toBeCloseTo(1.5, 12);
    expect(result.normalisedAuc).toBeCloseTo(0.375, 12);
  });

  it('true order beats random order', async () => {
    const model = additiveModel(CONTRIBUTIONS);
    const truth = await deletionCurve(TRUE_ORDER, model.evaluate, { steps: 10 });
    for (const seed of [1, 2, 3]) {
      const random = await deletionCurve(seededShuffle(TRUE_ORDER, seed), model.evaluate, {
        steps: 10,
      });
      expect(truth.normalisedAuc, `seed ${seed}`).toBeLessThan(random.normalisedAuc);
      expect(truth.auc, `seed ${seed}`).toBeLessThan(random.auc);
    }
  });

  it('evaluates steps + 1 points', async () => {
    const model = additiveModel(CONTRIBUTIONS);
    const result = await deletionCurve(TRUE_ORDER, model.evaluate, { steps: 8 });
    expect(result.evaluations).toBe(9);
    expect(model.calls()).toBe(9);
    expect(result.points.map((point) => point.patches)).toEqual([0, 5, 10, 15, 20, 25, 30, 35, 40]);
  });

  it('more steps than patches keeps distinct points', async () => {
    const result = await deletionCurve([2, 0, 1], additiveModel([1, 2, 3]).evaluate, { steps: 10 });
    expect(result.points.map((point) => point.patches)).toEqual([0, 1, 2, 3]);
  });

  it('flat model gives NaN normalised AUC', async () => {
    const result = await deletionCurve([0, 1, 2], async () => 7, { steps: 3 });
    expect(result.normalisedAuc).toBeNaN();
    expect(result.auc).toBeCloseTo(7, 12);
  });
});

describe('insertionCurve', () => {
  it('two-patch case matches hand-computed AUC', async () => {
    const result = await insertionCurve([0, 1], additiveModel([3, 1]).evaluate, { steps: 2 });
    expect(result.points.map((point) => point.estimate)).toEqual([0, 3, 4]);
    // Normalised: 0, 0.75, 1 gives 0.5 · 0.75 / 2 + 0.5 · 1.75 / 2 = 0.625.
    expect(result.normalisedAuc).toBeCloseTo(0.625, 12);
    expect(result.intactEstimate).toBe(4);
    expect(result.removedEstimate).toBe(0);
  });

  it('true order beats random order', async () => {
    const model = additiveModel(CONTRIBUTIONS);
    const truth = await insertionCurve(TRUE_ORDER, model.evaluate, { steps: 10 });
    const random = await insertionCurve(seededShuffle(TRUE_ORDER, 5), model.evaluate, {
      steps: 10,
    });
    expect(truth.normalisedAuc).toBeGreaterThan(random.normalisedAuc);
  });
});

describe('removal curves BAD CALL', () => {
  const evaluate = additiveModel([1, 2, 3]).evaluate;

  it('zero steps raises RangeError', async () => {
    const call = deletionCurve([0, 1], evaluate, { steps: 0 });
    await expect(call).rejects.toBeInstanceOf(ExplainRangeError);
    await expect(call).rejects.toThrow(/options\.steps must be at least 1, received 0/);
  });

  it('repeated patch raises RangeError', async () => {
    const call = deletionCurve([0, 1, 0], evaluate, { steps: 2 });
    await expect(call).rejects.toBeInstanceOf(ExplainRangeError);
    await expect(call).rejects.toThrow(/order\[2\] repeats patch 0/);
  });

  it('empty order raises RangeError', async () => {
    const call = insertionCurve([], evaluate, { steps: 2 });
    await expect(call).rejects.toBeInstanceOf(ExplainRangeError);
    await expect(call).rejects.toThrow(/order must be a non-empty array/);
  });

  it('fractional patch index raises TypeError', async () => {
    const call = deletionCurve([0, 1.5], evaluate, { steps: 2 });
    await expect(call).rejects.toBeInstanceOf(ExplainTypeError);
    await expect(call).rejects.toThrow(/order\[1\] must be an integer/);
  });
});
