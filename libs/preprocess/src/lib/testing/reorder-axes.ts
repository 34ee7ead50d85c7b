import type { LabelVolume, Volume } from '../volume.ts';

/** Voxel axis `axes[m]` of the original becomes axis `m` of the copy, reversed when `flips[m]`. */
export interface AxisReordering {
  axes: [number, number, number];
  flips: [boolean, boolean, boolean];
}

/**
 * Stores the same image with its voxel axes reordered and flipped. Direction cosines and origin
 * change to match, so every voxel keeps its LPS position. Works on CT and label volumes alike.
 */
export function reorderAxes<T extends Volume | LabelVolume>(
  volume: T,
  { axes, flips }: AxisReordering,
): T {
  const size = axes.map((axis) => volume.size[axis]) as Volume['size'];
  const spacingMm = axes.map((axis) => volume.spacingMm[axis]) as Volume['spacingMm'];
  const direction = new Float64Array(9);
  for (let m = 0; m < 3; m++) {
    const sign = flips[m] ? -1 : 1;
    for (let r = 0; r < 3; r++) direction[3 * r + m] = sign * volume.direction[3 * r + axes[m]];
  }
  // The copy's voxel (0, 0, 0) is the original's voxel at the far end of each flipped axis.
  const firstIndex = [0, 0, 0];
  for (let m = 0; m < 3; m++) if (flips[m]) firstIndex[axes[m]] = volume.size[axes[m]] - 1;
  const originMm = [0, 1, 2].map(
    (r) =>
      volume.originMm[r] +
      [0, 1, 2].reduce(
        (sum, c) => sum + volume.direction[3 * r + c] * volume.spacingMm[c] * firstIndex[c],
        0,
      ),
  ) as Volume['originMm'];

  const strides = [1, volume.size[0], volume.size[0] * volume.size[1]];
  const data = new (volume.data.constructor as Int16ArrayConstructor)(volume.data.length);
  const index = [0, 0, 0];
  let out = 0;
  for (let k = 0; k < size[2]; k++) {
    for (let j = 0; j < size[1]; j++) {
      for (let i = 0; i < size[0]; i++, out++) {
        const copyIndex = [i, j, k];
        for (let m = 0; m < 3; m++) {
          index[axes[m]] = flips[m] ? size[m] - 1 - copyIndex[m] : copyIndex[m];
        }
        const source = index[0] * strides[0] + index[1] * strides[1] + index[2] * strides[2];
        data[out] = volume.data[source];
      }
    }
  }
  return { ...volume, size, spacingMm, originMm, direction, data } as T;
}
