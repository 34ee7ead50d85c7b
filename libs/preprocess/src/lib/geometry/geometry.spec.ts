import { describe, expect, it } from 'vitest';
import { PADDING_HU, type LabelVolume, type Volume } from '../volume.ts';
import { toCanonicalLps } from './canonical.ts';
import { applyAffine, indexToPhysical, multiply3x3, type GridGeometry } from './grid-geometry.ts';
import { resampleFloatToReference, resampleLabelsToReference } from './inverse-mapping.ts';
import { resampleToWorkingGrid } from './working-grid.ts';
import {
  buildAxisKernel,
  PADDING_REPLACEMENT_HU,
  resampleFirstAxisHu,
  resampleFirstTwoAxesHu,
  resampleMiddleAxis,
} from './axis-resampling.ts';

const SIN20 = Math.sin((20 * Math.PI) / 180);
const COS20 = Math.cos((20 * Math.PI) / 180);

/** Axis 0 runs towards -z, axis 1 along rotated x, axis 2 along rotated -y (20° axial tilt). */
const OBLIQUE_PERMUTED: Float64Array = multiply3x3(
  [COS20, -SIN20, 0, SIN20, COS20, 0, 0, 0, 1],
  [0, 1, 0, 0, 0, -1, -1, 0, 0],
);

function makeVolume(direction: ArrayLike<number>, fill: (point: number[]) => number): Volume {
  const geometry: GridGeometry = {
    size: [40, 56, 48],
    spacingMm: [2.5, 0.9, 1.1],
    originMm: [-12, 30, 44],
    direction: Float64Array.from(direction),
  };
  const toPhysical = indexToPhysical(geometry);
  const data = new Int16Array(40 * 56 * 48);
  let n = 0;
  for (let k = 0; k < 48; k++) {
    for (let j = 0; j < 56; j++) {
      for (let i = 0; i < 40; i++) data[n++] = fill(applyAffine(toPhysical, [i, j, k]));
    }
  }
  return { ...geometry, data };
}

function positionOf(volume: GridGeometry, index: number): number[] {
  const [n0, n1] = volume.size;
  const ijk = [index % n0, Math.floor(index / n0) % n1, Math.floor(index / (n0 * n1))];
  return applyAffine(indexToPhysical(volume), ijk);
}

/** Centre of the ball used by the round-trip tests, inside the oblique volume. */
const BALL_CENTRE = [20, 14, -5];
const BALL_RADIUS_MM = 12;

function insideBall(point: number[]): boolean {
  return (
    Math.hypot(point[0] - BALL_CENTRE[0], point[1] - BALL_CENTRE[1], point[2] - BALL_CENTRE[2]) <=
    BALL_RADIUS_MM
  );
}

describe('toCanonicalLps', () => {
  it('keeps every voxel at its physical position', () => {
    const volume = makeVolume(OBLIQUE_PERMUTED, (p) => Math.round(p[0] * 7 + p[1] * 3 + p[2]));
    const { volume: canonical, transform } = toCanonicalLps(volume);

    expect(transform.axisPermutation).toEqual([1, 2, 0]);
    expect(transform.flipped).toEqual([false, true, true]);
    expect(transform.residualRotationDeg).toBeCloseTo(20, 6);
    expect(canonical.direction[0]).toBeCloseTo(COS20, 9);
    expect(canonical.direction[8]).toBeCloseTo(1, 9);
    for (let index = 0; index < canonical.data.length; index += 997) {
      const p = positionOf(canonical, index);
      expect(canonical.data[index]).toBe(Math.round(p[0] * 7 + p[1] * 3 + p[2]));
    }
  });

  it('returns an LPS volume unchanged', () => {
    const volume = makeVolume([1, 0, 0, 0, 1, 0, 0, 0, 1], () => 0);
    expect(toCanonicalLps(volume).volume).toBe(volume);
  });
});

describe('resampleToWorkingGrid', () => {
  it('builds an identity grid at the working spacing', () => {
    const volume = makeVolume(OBLIQUE_PERMUTED, (p) => (insideBall(p) ? 100 : -900));
    const grid = resampleToWorkingGrid(volume, 2);

    expect(Array.from(grid.volume.direction)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(grid.volume.spacingMm).toEqual([2, 2, 2]);
    expect(grid.source.size).toEqual([40, 56, 48]);
  });

  it('keeps a ball at its physical place in an oblique scan', () => {
    const volume = makeVolume(OBLIQUE_PERMUTED, (p) => (insideBall(p) ? 100 : -900));
    const grid = resampleToWorkingGrid(volume, 2);

    const centroid = [0, 0, 0];
    let count = 0;
    for (let n = 0; n < grid.volume.data.length; n++) {
      if (grid.volume.data[n] <= -400) continue;
      const p = positionOf(grid.volume, n);
      for (let a = 0; a < 3; a++) centroid[a] += p[a];
      count++;
    }
    const ballVoxels = ((4 / 3) * Math.PI * BALL_RADIUS_MM ** 3) / 8;
    expect(count / ballVoxels).toBeGreaterThan(0.85);
    expect(count / ballVoxels).toBeLessThan(1.15);
    for (let a = 0; a < 3; a++)
      expect(Math.abs(centroid[a] / count - BALL_CENTRE[a])).toBeLessThan(1);
  });

  it('suppresses aliasing of fine stripes', () => {
    // Stripes with a 1.4 mm period are far above the Nyquist limit of a 2 mm grid. Without the
    // Gaussian pre-filter they would alias into large oscillations around the 500 HU mean.
    const direction = Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
    const data = new Int16Array(200 * 20 * 20);
    for (let n = 0; n < data.length; n++) data[n] = n % 2 === 0 ? 0 : 1000;
    const stripes: Volume = {
      size: [200, 20, 20],
      spacingMm: [0.7, 2, 2],
      originMm: [0, 0, 0],
      direction,
      data,
    };
    const grid = resampleToWorkingGrid(stripes, 2);

    const [n0, n1] = grid.volume.size;
    for (let i = 3; i < n0 - 3; i++) {
      expect(Math.abs(grid.volume.data[i + n0 * (n1 >> 1)] - 500)).toBeLessThan(25);
    }
  });

  it('marks padding as outside the field of view without bleeding', () => {
    const volume = makeVolume([1, 0, 0, 0, 1, 0, 0, 0, 1], (p) => (p[1] > 60 ? PADDING_HU : 40));
    const grid = resampleToWorkingGrid(volume, 2);

    let outside = 0;
    for (let n = 0; n < grid.fovMask.length; n++) {
      const y = positionOf(grid.volume, n)[1];
      if (grid.fovMask[n] === 0) {
        outside++;
        expect(grid.volume.data[n]).toBe(PADDING_HU);
        expect(y).toBeGreaterThan(58);
      } else {
        expect(grid.volume.data[n]).toBeGreaterThanOrEqual(-1000);
        if (y < 57) expect(grid.volume.data[n]).toBe(40);
      }
    }
    expect(outside).toBeGreaterThan(0);
  });
});

describe('inverse mapping', () => {
  const volume = makeVolume(OBLIQUE_PERMUTED, (p) => (insideBall(p) ? 100 : -900));
  const grid = resampleToWorkingGrid(volume, 2);

  it('maps working-grid labels back within half a working voxel', () => {
    const labels: LabelVolume = { ...grid.volume, data: new Uint8Array(grid.volume.data.length) };
    for (let n = 0; n < labels.data.length; n++)
      labels.data[n] = insideBall(positionOf(grid.volume, n)) ? 1 : 0;
    const native = resampleLabelsToReference(labels, grid.source);

    expect(native.size).toEqual(volume.size);
    expect(native.spacingMm).toEqual(volume.spacingMm);
    expect(native.originMm).toEqual(volume.originMm);
    expect(Array.from(native.direction)).toEqual(Array.from(volume.direction));
    // Nearest neighbour moves a point by at most half the working voxel diagonal, sqrt(3) mm.
    let inside = 0;
    for (let n = 0; n < native.data.length; n++) {
      const p = positionOf(native, n);
      const distance = Math.hypot(
        p[0] - BALL_CENTRE[0],
        p[1] - BALL_CENTRE[1],
        p[2] - BALL_CENTRE[2],
      );
      if (native.data[n] === 1) {
        inside++;
        expect(distance).toBeLessThanOrEqual(BALL_RADIUS_MM + Math.sqrt(3) + 1e-6);
      } else if (distance < BALL_RADIUS_MM - Math.sqrt(3) - 1e-6) {
        throw new Error(`voxel ${n} at ${distance.toFixed(2)} mm from the centre lost its label`);
      }
    }
    expect(inside).toBeGreaterThan(0);
  });

  it('reproduces a linear map exactly by trilinear interpolation', () => {
    const linear = (p: number[]) => 0.5 * p[0] - 0.25 * p[1] + 0.125 * p[2] + 3;
    const map = new Float32Array(grid.volume.data.length);
    for (let n = 0; n < map.length; n++) map[n] = linear(positionOf(grid.volume, n));
    const native = resampleFloatToReference(map, grid.volume, grid.source, Number.NaN);

    let compared = 0;
    for (let n = 0; n < native.length; n++) {
      if (Number.isNaN(native[n])) continue;
      const p = positionOf(grid.source, n);
      const inner = [0, 1, 2].every((a) => {
        const lo = grid.volume.originMm[a] + 2;
        return p[a] > lo && p[a] < lo + (grid.volume.size[a] - 3) * 2;
      });
      if (!inner) continue;
      compared++;
      expect(Math.abs(native[n] - linear(p))).toBeLessThan(1e-3);
    }
    expect(compared).toBeGreaterThan(native.length / 4);
  });

  it('reproduces a linear map on a flipped, permuted reference', () => {
    // Axis 0 along -z, axis 1 along x, axis 2 along -y: axis-aligned, so the separable path runs.
    const flippedVolume = makeVolume([0, 1, 0, 0, 0, -1, -1, 0, 0], () => -500);
    const flippedGrid = resampleToWorkingGrid(flippedVolume, 2);
    const linear = (p: number[]) => 0.5 * p[0] - 0.25 * p[1] + 0.125 * p[2] + 3;
    const map = new Float32Array(flippedGrid.volume.data.length);
    for (let n = 0; n < map.length; n++) map[n] = linear(positionOf(flippedGrid.volume, n));
    const native = resampleFloatToReference(map, flippedGrid.volume, flippedGrid.source);

    expect(native.length).toBe(flippedVolume.data.length);
    for (let n = 0; n < native.length; n += 7) {
      const p = positionOf(flippedGrid.source, n);
      const inside = [0, 1, 2].every((a) => {
        const lo = flippedGrid.volume.originMm[a];
        return p[a] >= lo && p[a] <= lo + (flippedGrid.volume.size[a] - 1) * 2;
      });
      if (inside) expect(Math.abs(native[n] - linear(p))).toBeLessThan(1e-3);
    }
  });

  it('maps labels back onto a flipped, permuted reference', () => {
    const flippedVolume = makeVolume([0, 1, 0, 0, 0, -1, -1, 0, 0], () => -500);
    const flippedGrid = resampleToWorkingGrid(flippedVolume, 2);
    const cutX = 20.3;
    const labels: LabelVolume = {
      ...flippedGrid.volume,
      data: new Uint8Array(flippedGrid.volume.data.length),
    };
    for (let n = 0; n < labels.data.length; n++)
      labels.data[n] = positionOf(labels, n)[0] < cutX ? 1 : 2;
    const native = resampleLabelsToReference(labels, flippedGrid.source);

    expect(native.size).toEqual(flippedVolume.size);
    let checked = 0;
    for (let n = 0; n < native.data.length; n++) {
      const x = positionOf(native, n)[0];
      // The nearest working voxel lies within 1 mm along x, so only points nearer the cut may differ.
      if (Math.abs(x - cutX) <= 1 + 1e-6) continue;
      checked++;
      if (native.data[n] !== (x < cutX ? 1 : 2))
        throw new Error(`voxel ${n} at x = ${x} has label ${native.data[n]}`);
    }
    expect(checked).toBeGreaterThan(native.data.length / 2);
  });
});

describe('resampleFirstAxisHu', () => {
  it('matches a direct weighted sum with padding anywhere', () => {
    const inputSize = 60;
    const rows = 40;
    const source = new Int16Array(inputSize * rows);
    let state = 11;
    const next = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let row = 0; row < rows; row++) {
      const leading = Math.floor(next() * 12);
      const trailing = Math.floor(next() * 12);
      const interior = row % 3 === 0 ? 20 + Math.floor(next() * 10) : -1;
      for (let i = 0; i < inputSize; i++) {
        const padded = i < leading || i >= inputSize - trailing || i === interior;
        source[row * inputSize + i] = padded ? PADDING_HU : Math.round(next() * 2000) - 1000;
      }
    }
    const positions = Float64Array.from({ length: 21 }, (_, t) => t * 2.86);
    const kernel = buildAxisKernel(inputSize, positions, 2.86);
    const result = resampleFirstAxisHu(source, rows, kernel);

    for (let row = 0; row < rows; row++) {
      for (let t = 0; t < kernel.outputSize; t++) {
        let expected = 0;
        for (let n = 0; n < kernel.count[t]; n++) {
          const hu = source[row * inputSize + kernel.start[t] + n];
          const value = hu === PADDING_HU ? PADDING_REPLACEMENT_HU : hu;
          expected += kernel.weights[t * kernel.taps + n] * value;
        }
        expect(result[row * kernel.outputSize + t]).toBeCloseTo(expected, 2);
      }
    }
  });
});

describe('resampleFirstTwoAxesHu', () => {
  const [n0, n1, n2] = [40, 30, 5];

  /** Random HU with padding runs at the row ends, inside some rows and over whole rows. */
  function paddedVolume(): Int16Array {
    const source = new Int16Array(n0 * n1 * n2);
    let state = 5;
    const next = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let row = 0; row < n1 * n2; row++) {
      const leading = row % 7 === 0 ? n0 : Math.floor(next() * 10);
      const trailing = Math.floor(next() * 10);
      const interior = row % 4 === 0 ? 15 + Math.floor(next() * 10) : -1;
      for (let i = 0; i < n0; i++) {
        const padded = i < leading || i >= n0 - trailing || i === interior;
        source[row * n0 + i] = padded ? PADDING_HU : Math.round(next() * 2000) - 1000;
      }
    }
    return source;
  }

  const cases: Array<[string, number, number]> = [
    ['Gaussian, unrolled', 2.86, 2.5],
    ['Gaussian, wider than 8 taps', 6, 0.7],
  ];
  for (const [name, ratio0, ratio1] of cases) {
    it(`equals the two passes: ${name}`, () => {
      const source = paddedVolume();
      const positions = (size: number, ratio: number) =>
        Float64Array.from({ length: Math.floor((size - 1) / ratio) + 1 }, (_, t) => t * ratio);
      const kernel0 = buildAxisKernel(n0, positions(n0, ratio0), ratio0);
      const kernel1 = buildAxisKernel(n1, positions(n1, ratio1), ratio1);
      const alongX = resampleFirstAxisHu(source, n1 * n2, kernel0);
      const expected = resampleMiddleAxis(alongX, kernel0.outputSize, n2, kernel1);
      const result = resampleFirstTwoAxesHu(source, n2, kernel0, kernel1);
      expect(result.length).toBe(expected.length);
      let mismatches = 0;
      for (let n = 0; n < result.length; n++) if (!Object.is(result[n], expected[n])) mismatches++;
      expect(mismatches).toBe(0);
      // Rows of padding only (every 7th row) give exactly the replacement value along axis 0.
      expect(alongX[0]).toBe(PADDING_REPLACEMENT_HU);
    });
  }

  it('writes 0 for positions outside the row', () => {
    const source = paddedVolume();
    const positions = Float64Array.from([-3, 0, 10, 20, 39, 42]);
    const kernel = buildAxisKernel(n0, positions, 2.86);
    const result = resampleFirstAxisHu(source, n1 * n2, kernel);
    for (let row = 0; row < n1 * n2; row++) {
      // Zero weights times negative HU give -0, which is the same value.
      expect(Math.abs(result[row * kernel.outputSize])).toBe(0);
      expect(Math.abs(result[row * kernel.outputSize + 5])).toBe(0);
    }
  });

  it('matches a direct weighted sum with a wide kernel', () => {
    const source = paddedVolume();
    const positions = Float64Array.from({ length: 7 }, (_, t) => t * 6);
    const kernel = buildAxisKernel(n0, positions, 6);
    const result = resampleFirstAxisHu(source, n1 * n2, kernel);
    for (let row = 0; row < n1 * n2; row++) {
      for (let t = 0; t < kernel.outputSize; t++) {
        let expected = 0;
        let padding = 0;
        for (let n = 0; n < kernel.count[t]; n++) {
          const hu = source[row * n0 + kernel.start[t] + n];
          if (hu === PADDING_HU) padding++;
          const value = hu === PADDING_HU ? PADDING_REPLACEMENT_HU : hu;
          expected += kernel.weights[t * kernel.taps + n] * value;
        }
        if (padding === kernel.count[t]) expected = PADDING_REPLACEMENT_HU;
        expect(result[row * kernel.outputSize + t]).toBeCloseTo(expected, 2);
      }
    }
  });
});
