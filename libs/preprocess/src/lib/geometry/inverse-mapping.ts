import type { LabelVolume } from '../volume.ts';
import { geometryOf, indexToIndex, type GridGeometry } from './grid-geometry.ts';
import { sampleTrilinear } from './trilinear.ts';

/**
 * Resamples a label volume (for example lung labels on the working grid) onto `reference`, the
 * geometry of the scan as read, by nearest neighbour. Voxels of `reference` more than half a
 * voxel outside `labels` get 0 (background).
 *
 * @example
 * const native = resampleLabelsToReference(segmentation.labels, grid.source);
 */
export function resampleLabelsToReference(labels: LabelVolume, reference: GridGeometry): LabelVolume {
  const map = indexToIndex(reference, labels);
  const m = map.matrix;
  const [n0, n1, n2] = labels.size;
  const [r0, r1, r2] = reference.size;
  const data = new Uint8Array(r0 * r1 * r2);
  const plane = n0 * n1;
  let out = 0;
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
      `map has ${map.length} values but the working grid ${workingGeometry.size.join('x')} has ${expected}.`,
    );
  }
  return sampleTrilinear(map, workingGeometry.size, reference.size, indexToIndex(reference, workingGeometry), fill);
}
