import type { Affine3 } from './grid-geometry.ts';

/**
 * Samples `source` (laid out on `sourceSize`) trilinearly at every voxel of a grid of
 * `targetSize`, where `targetToSource` maps a target index to a continuous source index.
 * Points more than half a voxel outside the source get `fill`; points within that margin take the
 * nearest edge value.
 */
export function sampleTrilinear(
  source: Float32Array,
  sourceSize: [number, number, number],
  targetSize: [number, number, number],
  targetToSource: Affine3,
  fill: number,
): Float32Array {
  const [n0, n1, n2] = sourceSize;
  const plane = n0 * n1;
  const m = targetToSource.matrix;
  const target = new Float32Array(targetSize[0] * targetSize[1] * targetSize[2]);
  let out = 0;
  for (let k = 0; k < targetSize[2]; k++) {
    for (let j = 0; j < targetSize[1]; j++) {
      let x = m[1] * j + m[2] * k + targetToSource.offset[0];
      let y = m[4] * j + m[5] * k + targetToSource.offset[1];
      let z = m[7] * j + m[8] * k + targetToSource.offset[2];
      for (let i = 0; i < targetSize[0]; i++, out++, x += m[0], y += m[3], z += m[6]) {
        if (x < -0.5 || y < -0.5 || z < -0.5 || x > n0 - 0.5 || y > n1 - 0.5 || z > n2 - 0.5) {
          target[out] = fill;
          continue;
        }
        const cx = Math.min(Math.max(x, 0), n0 - 1);
        const cy = Math.min(Math.max(y, 0), n1 - 1);
        const cz = Math.min(Math.max(z, 0), n2 - 1);
        const x0 = Math.min(Math.floor(cx), n0 > 1 ? n0 - 2 : 0);
        const y0 = Math.min(Math.floor(cy), n1 > 1 ? n1 - 2 : 0);
        const z0 = Math.min(Math.floor(cz), n2 > 1 ? n2 - 2 : 0);
        const fx = cx - x0;
        const fy = cy - y0;
        const fz = cz - z0;
        const dx = n0 > 1 ? 1 : 0;
        const dy = n1 > 1 ? n0 : 0;
        const dz = n2 > 1 ? plane : 0;
        const base = x0 + n0 * y0 + plane * z0;
        const c00 = source[base] * (1 - fx) + source[base + dx] * fx;
        const c10 = source[base + dy] * (1 - fx) + source[base + dy + dx] * fx;
        const c01 = source[base + dz] * (1 - fx) + source[base + dz + dx] * fx;
        const c11 = source[base + dz + dy] * (1 - fx) + source[base + dz + dy + dx] * fx;
        const c0 = c00 * (1 - fy) + c10 * fy;
        const c1 = c01 * (1 - fy) + c11 * fy;
        target[out] = c0 * (1 - fz) + c1 * fz;
      }
    }
  }
  return target;
}
