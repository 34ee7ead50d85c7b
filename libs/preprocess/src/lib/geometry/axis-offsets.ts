import type { Affine3 } from './grid-geometry.ts';

/** Matrix entries below this magnitude count as zero when testing for an axis-aligned map. */
const ZERO_TOLERANCE = 1e-9;

/**
 * Splits a nearest-neighbour index map into one lookup table per source axis, when each source
 * axis moves along a single target axis (a scaled, signed axis permutation). The target index of
 * source voxel (i, j, k) is then `x[i] + y[j] + z[k]`, where each entry is a rounded index times
 * the target stride, or -1 when that coordinate falls outside the target. Returns undefined for
 * an oblique map, which needs per-voxel arithmetic.
 *
 * @param sourceToTarget Affine from a continuous source index to a continuous target index.
 */
export function axisOffsets(
  sourceToTarget: Affine3,
  sourceSize: [number, number, number],
  targetSize: [number, number, number],
): [Int32Array, Int32Array, Int32Array] | undefined {
  const m = sourceToTarget.matrix;
  const rowOf: number[] = [];
  for (let c = 0; c < 3; c++) {
    const rows = [0, 1, 2].filter((r) => Math.abs(m[3 * r + c]) > ZERO_TOLERANCE);
    if (rows.length !== 1) return undefined;
    rowOf.push(rows[0]);
  }
  if (new Set(rowOf).size !== 3) return undefined;
  const strides = [1, targetSize[0], targetSize[0] * targetSize[1]];
  return [0, 1, 2].map((c) => {
    const r = rowOf[c];
    const offsets = new Int32Array(sourceSize[c]);
    for (let t = 0; t < offsets.length; t++) {
      // The other source axes add nothing to target axis r, so the offset term is the whole rest.
      const position = m[3 * r + c] * t + sourceToTarget.offset[r] + 0.5;
      offsets[t] =
        position >= 0 && position < targetSize[r] ? Math.floor(position) * strides[r] : -1;
    }
    return offsets;
  }) as [Int32Array, Int32Array, Int32Array];
}
