import { describe, expect, it } from 'vitest';
import type { Volume } from '../volume.ts';
import { bodyInterior } from './body-interior.ts';
import { squaredDistanceToBackground } from './distance-transform.ts';
import { connectedComponents, fillHolesPerSlice } from './morphology.ts';

/** Deterministic pseudo-random numbers in [0, 1) (a linear congruential generator). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1664525 + 1013904223) % 4294967296;
    return state / 4294967296;
  };
}

describe('squaredDistanceToBackground', () => {
  it('matches brute force with anisotropic spacing', () => {
    const size: [number, number, number] = [9, 7, 6];
    const spacing: [number, number, number] = [0.7, 1.3, 2.5];
    const next = random(7);
    const mask = new Uint8Array(9 * 7 * 6);
    for (let n = 0; n < mask.length; n++) mask[n] = next() < 0.85 ? 1 : 0;
    const distance = squaredDistanceToBackground(mask, size, spacing);

    const position = (n: number) => [n % 9, Math.floor(n / 9) % 7, Math.floor(n / 63)];
    for (let n = 0; n < mask.length; n++) {
      let best = mask[n] ? Infinity : 0;
      for (let m = 0; m < mask.length && mask[n]; m++) {
        if (mask[m]) continue;
        const [a, b] = [position(n), position(m)];
        const d2 = [0, 1, 2].reduce(
          (sum, axis) => sum + ((a[axis] - b[axis]) * spacing[axis]) ** 2,
          0,
        );
        best = Math.min(best, d2);
      }
      expect(distance[n]).toBeCloseTo(best, 3);
    }
  });
});

describe('connectedComponents', () => {
  it('separates diagonal neighbours (6-connectivity)', () => {
    const mask = Uint8Array.from([1, 0, 0, 1]);
    const { sizes } = connectedComponents(mask, [2, 2, 1]);
    expect(sizes).toEqual([1, 1]);
  });
});

describe('fillHolesPerSlice', () => {
  it('fills an enclosed hole but not a notch open to the edge', () => {
    const rows = ['11111', '10101', '11101', '00000'];
    const mask = Uint8Array.from(rows.join('').split('').map(Number));
    fillHolesPerSlice(mask, [5, 4, 1]);
    expect(Array.from(mask.subarray(5, 10)).join('')).toBe('11101');
    expect(Array.from(mask.subarray(10, 15)).join('')).toBe('11101');
  });
});

describe('bodyInterior', () => {
  /** One 7 x 5 slice: '#' tissue (40 HU), '.' air (-1000 HU). */
  function slice(rows: string[]): Volume {
    const data = Int16Array.from(rows.join('').split(''), (c) => (c === '#' ? 40 : -1000));
    const direction = Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
    return {
      size: [7, rows.length, 1],
      spacingMm: [1, 1, 1],
      originMm: [0, 0, 0],
      direction,
      data,
    };
  }

  it('keeps air cut by one image edge inside the body', () => {
    const volume = slice(['.#####.', '.#...#.', '.#....#', '.#...#.', '.#####.']);
    const interior = bodyInterior(volume, new Uint8Array(35).fill(1), -500);
    // The air run on the right edge lies between tissue voxels: it is lung cut by the edge.
    expect(interior[6 + 7 * 2]).toBe(1);
    expect(interior[3 + 7 * 2]).toBe(1);
    expect(interior[0]).toBe(0);
    expect(interior[6]).toBe(0);
  });

  it('floods air that reaches an image corner', () => {
    const volume = slice(['.....##', '.######', '.#...#.', '.#####.', '.......']);
    const interior = bodyInterior(volume, new Uint8Array(35).fill(1), -500);
    expect(interior[6 + 7 * 2]).toBe(0);
    expect(interior[2 + 7 * 2]).toBe(1);
  });
});
