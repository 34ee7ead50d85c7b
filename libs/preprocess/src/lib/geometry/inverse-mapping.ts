import type { LabelVolume } from '../volume.ts';
import { geometryOf, indexToIndex, type GridGeometry } from './grid-geometry.ts';
import { sampleTrilinear } from './trilinear.ts';
import { axisOffsets } from './axis-offsets.ts';
import { buildAxisKernel, resampleFirstAxis, resampleMiddleAxis } from './axis-resampling.ts';
import {
  canonicalGeometry,
  inverseReordering,
  isIdentityDirection,
  isIdentityReordering,
  reorderVoxels,
} from './canonical.ts';

/**
 * Resamples a label volume (for example lung labels on the working grid) onto `reference`, the
 * geometry of the scan as read, by nearest neighbour. Voxels of `reference` more than half a
 * voxel outside `labels` get 0 (background).
 *
 * @example
 * const native = resampleLabelsToReference(segmentation.labels, grid.source);
 */
export function resampleLabelsToReference(
  labels: LabelVolume,
  reference: GridGeometry,
): LabelVolume {
  const map = indexToIndex(reference, labels);
  const [n0, n1, n2] = labels.size;
  const [r0, r1, r2] = reference.size;
  const data = new Uint8Array(r0 * r1 * r2);
  const offsets = axisOffsets(map, reference.size, labels.size);
  let out = 0;
  if (offsets) {
    // Axis-aligned grids (any axis order or flips): three table lookups per voxel.
    const [x, y, z] = offsets;
    for (let k = 0; k < r2; k++) {
      for (let j = 0; j < r1; j++, out += r0) {
        if (z[k] < 0 || y[j] < 0) continue;
        const rowOffset = z[k] + y[j];
        for (let i = 0; i < r0; i++) if (x[i] >= 0) data[out + i] = labels.data[rowOffset + x[i]];
      }
    }
    return { ...geometryOf(reference), data };
  }
  const m = map.matrix;
  const plane = n0 * n1;
  for (let k = 0; k < r2; k++) {
    for (let j = 0; j < r1; j++) {
      // Adding 0.5 and flooring rounds to the nearest index and maps [-0.5, n - 0.5) inside.
      let x = m[1] * j + m[2] * k + map.offset[0] + 0.5;
      let y = m[4] * j + m[5] * k + map.offset[1] + 0.5;
      let z = m[7] * j + m[8] * k + map.offset[2] + 0.5;
      for (let i = 0; i < r0; i++, out++, x += m[0], y += m[3], z += m[6]) {
        if (x < 0 || y < 0 || z < 0 || x >= n0 || y >= n1 || z >= n2) continue;
        data[out] = labels.data[(x | 0) + n0 * (y | 0) + plane * (z | 0)];
      }
    }
  }
  return { ...geometryOf(reference), data };
}

/**
 * Resamples a float map on the working grid (for example a probability or contribution map)
 * onto `reference` by trilinear interpolation. Voxels of `reference` more than half a voxel
 * outside the working grid get `fill`.
 *
 * @param map Values on `workingGeometry`, i fastest.
 * @param fill Value outside the working grid (default 0).
 */
export function resampleFloatToReference(
  map: Float32Array,
  workingGeometry: GridGeometry,
  reference: GridGeometry,
  fill = 0,
): Float32Array {
  const expected = workingGeometry.size[0] * workingGeometry.size[1] * workingGeometry.size[2];
  if (map.length !== expected) {
    throw new RangeError(
      `map has ${map.length} values but the working grid ` +
        `${workingGeometry.size.join('x')} has ${expected}. Pass a map computed on that grid.`,
    );
  }
  const { geometry: canonical, transform } = canonicalGeometry(reference);
  if (
    !isIdentityDirection(workingGeometry.direction) ||
    !isIdentityDirection(canonical.direction)
  ) {
    return sampleTrilinear(
      map,
      workingGeometry.size,
      reference.size,
      indexToIndex(reference, workingGeometry),
      fill,
    );
  }
  // Axis-aligned: trilinear interpolation is three separable linear passes, about five times
  // faster than per-voxel trilinear sampling on a 512 x 512 x 400 reference.
  const values = sampleSeparableLinear(map, workingGeometry, canonical, fill);
  if (isIdentityReordering(transform)) return values;
  const inverse = inverseReordering(transform);
  const out = new Float32Array(values.length);
  reorderVoxels(values, canonical.size, inverse.axisPermutation, inverse.flipped, out);
  return out;
}

/**
 * Samples `map` linearly along each axis at the voxels of `target`; both grids have identity
 * direction.
 */
function sampleSeparableLinear(
  map: Float32Array,
  source: GridGeometry,
  target: GridGeometry,
  fill: number,
): Float32Array {
  const kernels = [0, 1, 2].map((a) => {
    const positions = new Float64Array(target.size[a]);
    for (let t = 0; t < positions.length; t++) {
      positions[t] =
        (target.originMm[a] + t * target.spacingMm[a] - source.originMm[a]) / source.spacingMm[a];
    }
    return buildAxisKernel(source.size[a], positions, 1);
  });
  const [t0, t1, t2] = target.size;
  const alongX = resampleFirstAxis(map, source.size[1] * source.size[2], kernels[0]);
  const alongY = resampleMiddleAxis(alongX, t0, source.size[2], kernels[1]);
  const values = resampleMiddleAxis(alongY, t0 * t1, 1, kernels[2]);
  const [c0, c1, c2] = kernels.map((k) => k.count);
  let n = 0;
  for (let k = 0; k < t2; k++) {
    for (let j = 0; j < t1; j++) {
      const rowOutside = c2[k] === 0 || c1[j] === 0;
      for (let i = 0; i < t0; i++, n++) if (rowOutside || c0[i] === 0) values[n] = fill;
    }
  }
  return values;
}
