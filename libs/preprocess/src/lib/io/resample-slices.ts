import { PADDING_HU, type Volume } from '../volume.ts';

/**
 * Resamples the slices (k axis) of `volume` from their measured positions onto an even grid
 * with the same first and last position and slice count, by linear interpolation between the
 * two nearest slices. Where either neighbour is padding the nearest slice's value is used, so
 * padding never blends into tissue. Sets `spacingMm[2]` to the even slice distance.
 *
 * @param positionsMm - ascending position of each slice along the slice normal, in mm
 */
export function resampleSlicesEvenly(volume: Volume, positionsMm: number[]): Volume {
  const [columns, rows, count] = volume.size;
  const sliceVoxels = columns * rows;
  const first = positionsMm[0];
  const step = (positionsMm[count - 1] - first) / (count - 1);
  const data = new Int16Array(volume.data.length);

  let lower = 0;
  for (let k = 0; k < count; k++) {
    const target = first + k * step;
    while (lower < count - 2 && positionsMm[lower + 1] <= target) lower++;
    const span = positionsMm[lower + 1] - positionsMm[lower];
    const weight = Math.min(1, Math.max(0, (target - positionsMm[lower]) / span));
    const below = volume.data.subarray(lower * sliceVoxels, (lower + 1) * sliceVoxels);
    const above = volume.data.subarray((lower + 1) * sliceVoxels, (lower + 2) * sliceVoxels);
    const output = data.subarray(k * sliceVoxels, (k + 1) * sliceVoxels);
    for (let index = 0; index < sliceVoxels; index++) {
      const a = below[index];
      const b = above[index];
      if (a === PADDING_HU || b === PADDING_HU) {
        output[index] = weight < 0.5 ? a : b;
      } else {
        output[index] = Math.round(a + weight * (b - a));
      }
    }
  }
  return { ...volume, spacingMm: [volume.spacingMm[0], volume.spacingMm[1], step], data };
}
