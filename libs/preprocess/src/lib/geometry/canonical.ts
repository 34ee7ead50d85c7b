import type { Volume } from '../volume.ts';
import { rotationAngleDeg, type GridGeometry } from './grid-geometry.ts';

/** Axis reordering applied by `toCanonicalLps`. */
export interface CanonicalTransform {
  /** `axisPermutation[a]` is the input voxel axis that became output axis `a`. */
  axisPermutation: [number, number, number];
  /** Whether output axis `a` runs opposite to its input axis. */
  flipped: [boolean, boolean, boolean];
  /**
   * Rotation left between the output direction and LPS, in degrees (0 for an axis-aligned scan).
   */
  residualRotationDeg: number;
}

/** Direction entries closer to 0 or 1 than this count as axis-aligned. */
export const AXIS_ALIGNED_TOLERANCE = 1e-4;

const PERMUTATIONS: [number, number, number][] = [
  [0, 1, 2],
  [0, 2, 1],
  [1, 0, 2],
  [1, 2, 0],
  [2, 0, 1],
  [2, 1, 0],
];

/**
 * Permutes and flips voxel axes, without interpolation, so that the direction matrix is as close
 * to the identity (LPS) as possible.
 *
 * Output axis `a` is the input axis whose direction vector points most along LPS axis `a`. The
 * permutation maximizes the summed alignment, so ties at 45 degrees still give a valid
 * permutation. An oblique scan keeps its residual rotation, which `resampleToWorkingGrid`
 * handles. Every voxel keeps its physical position. Returns the input object unchanged when no
 * axis moves.
 *
 * @example
 * const { volume: lps, transform } = toCanonicalLps(scan);
 */
export function toCanonicalLps(volume: Volume): { volume: Volume; transform: CanonicalTransform } {
  const { geometry, transform } = canonicalGeometry(volume);
  if (isIdentityReordering(transform)) return { volume, transform };
  const data = new Int16Array(volume.data.length);
  reorderVoxels(volume.data, volume.size, transform.axisPermutation, transform.flipped, data);
  return { volume: { ...geometry, data }, transform };
}

/**
 * Returns the geometry `toCanonicalLps` would give `grid`, and the reordering, without moving data.
 */
export function canonicalGeometry(grid: GridGeometry): {
  geometry: GridGeometry;
  transform: CanonicalTransform;
} {
  const d = grid.direction;
  let best = PERMUTATIONS[0];
  let bestScore = -Infinity;
  for (const permutation of PERMUTATIONS) {
    const score = permutation.reduce((sum, input, a) => sum + Math.abs(d[3 * a + input]), 0);
    if (score > bestScore + 1e-12) {
      bestScore = score;
      best = permutation;
    }
  }
  const flipped = best.map((input, a) => d[3 * a + input] < 0) as [boolean, boolean, boolean];
  const direction = new Float64Array(9);
  for (let a = 0; a < 3; a++) {
    const sign = flipped[a] ? -1 : 1;
    for (let r = 0; r < 3; r++) direction[3 * r + a] = sign * d[3 * r + best[a]];
  }
  const transform: CanonicalTransform = {
    axisPermutation: [...best],
    flipped,
    residualRotationDeg: rotationAngleDeg(direction),
  };

  // The output origin is the input voxel that lands at output index (0, 0, 0).
  const cornerIndex = [0, 0, 0];
  for (let a = 0; a < 3; a++) if (flipped[a]) cornerIndex[best[a]] = grid.size[best[a]] - 1;
  const originMm = [0, 1, 2].map((r) => {
    let value = grid.originMm[r];
    for (let c = 0; c < 3; c++) value += d[3 * r + c] * grid.spacingMm[c] * cornerIndex[c];
    return value;
  }) as [number, number, number];
  const size = best.map((input) => grid.size[input]) as [number, number, number];
  const spacingMm = best.map((input) => grid.spacingMm[input]) as [number, number, number];
  return { geometry: { size, spacingMm, originMm, direction }, transform };
}

/** Returns whether a reordering leaves every axis in place. */
export function isIdentityReordering(transform: CanonicalTransform): boolean {
  const [a, b, c] = transform.axisPermutation;
  return a === 0 && b === 1 && c === 2 && !transform.flipped.some(Boolean);
}

/** Returns the reordering that undoes `transform`. */
export function inverseReordering(
  transform: CanonicalTransform,
): Pick<CanonicalTransform, 'axisPermutation' | 'flipped'> {
  const axisPermutation: [number, number, number] = [0, 0, 0];
  const flipped: [boolean, boolean, boolean] = [false, false, false];
  transform.axisPermutation.forEach((input, a) => {
    axisPermutation[input] = a;
    flipped[input] = transform.flipped[a];
  });
  return { axisPermutation, flipped };
}

/**
 * Returns whether every entry of `direction` is within `AXIS_ALIGNED_TOLERANCE` of the identity.
 */
export function isIdentityDirection(direction: ArrayLike<number>): boolean {
  for (let n = 0; n < 9; n++) {
    if (Math.abs(direction[n] - (n % 4 === 0 ? 1 : 0)) >= AXIS_ALIGNED_TOLERANCE) return false;
  }
  return true;
}

/**
 * Copies `source` (laid out on `sourceSize`) into `target` so that target axis `a` walks source
 * axis `permutation[a]`, backwards where `flipped[a]` is set.
 */
export function reorderVoxels<T extends Int16Array | Uint8Array | Float32Array>(
  source: T,
  sourceSize: [number, number, number],
  permutation: [number, number, number],
  flipped: [boolean, boolean, boolean],
  target: T,
): void {
  const sourceStrides = [1, sourceSize[0], sourceSize[0] * sourceSize[1]];
  let start = 0;
  const step = [0, 0, 0];
  for (let a = 0; a < 3; a++) {
    const input = permutation[a];
    step[a] = flipped[a] ? -sourceStrides[input] : sourceStrides[input];
    if (flipped[a]) start += (sourceSize[input] - 1) * sourceStrides[input];
  }
  const [n0, n1, n2] = permutation.map((input) => sourceSize[input]);
  const [s0, s1, s2] = step;
  let out = 0;
  for (let k = 0; k < n2; k++) {
    for (let j = 0; j < n1; j++) {
      let index = start + k * s2 + j * s1;
      for (let i = 0; i < n0; i++) {
        target[out++] = source[index];
        index += s0;
      }
    }
  }
}
