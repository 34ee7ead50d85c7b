import { describe, expect, it } from 'vitest';

import { positiveMapQuantile } from './colour-scale.ts';

/** Returns the type-7 quantile of the sorted positive values, the definition used by NumPy. */
function sortedQuantile(values: number[], quantile: number): number {
  const sorted = values.filter((value) => value > 0).sort((a, b) => a - b);
  const position = quantile * (sorted.length - 1);
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
}

/** Returns a deterministic pseudo-random sequence in [0, 1) (a linear congruential generator). */
function randomSequence(seed: number, length: number): number[] {
  const values: number[] = [];
  let state = seed;
  for (let n = 0; n < length; n++) {
    state = (state * 1664525 + 1013904223) % 4294967296;
    values.push(state / 4294967296);
  }
  return values;
}

describe('positiveMapQuantile', () => {
  const cases: { name: string; values: number[] }[] = [
    { name: 'skewed values', values: randomSequence(7, 20000).map((u) => (u - 0.2) * u ** 6) },
    { name: 'many ties', values: randomSequence(11, 5000).map((u) => Math.round(u * 4) / 4) },
    { name: 'one positive value', values: [0, -1, 3e-5, 0] },
    { name: 'tiny per-voxel values', values: randomSequence(3, 3000).map((u) => u * 1e-6) },
  ];

  for (const { name, values } of cases) {
    it(`matches a full sort for ${name}`, () => {
      const map = Float32Array.from(values);
      const expected = sortedQuantile(Array.from(map), 0.99);
      expect(positiveMapQuantile(map, undefined, 0.99)).toBeCloseTo(expected, 12);
      expect(positiveMapQuantile(map, undefined, 0.5)).toBeCloseTo(
        sortedQuantile(Array.from(map), 0.5),
        12,
      );
    });
  }

  it('counts only voxels inside the mask', () => {
    const map = Float32Array.from([5, 1, 2, 3, 100]);
    const mask = Uint8Array.from([0, 1, 1, 1, 0]);
    expect(positiveMapQuantile(map, mask, 1)).toBe(3);
    expect(positiveMapQuantile(map, mask, 0)).toBe(1);
  });

  it('returns 0 without a positive value', () => {
    expect(positiveMapQuantile(Float32Array.from([0, -2]), undefined, 0.99)).toBe(0);
  });
});
