import { writeImageNode } from '@itk-wasm/image-io';
import { ImageType, IntTypes, PixelTypes, type Image } from 'itk-wasm';
import type { Volume } from '@dlco/preprocess';

/**
 * Voxel axis `axes[m]` of the original becomes axis `m` of the copy, reversed when `flips[m]`.
 */
export interface AxisReordering {
  axes: [number, number, number];
  flips: [boolean, boolean, boolean];
}

/**
 * Stores the same physical image with its voxel axes reordered and flipped. Direction cosines
 * and origin change to match, so every voxel keeps its LPS position.
 */
export function reorderAxes(volume: Volume, { axes, flips }: AxisReordering): Volume {
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

  const [s0, s1] = volume.size;
  const strides = [1, s0, s0 * s1];
  const data = new Int16Array(volume.data.length);
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
  return { size, spacingMm, originMm, direction, data };
}

/**
 * Keeps the voxels and origin and rotates the direction cosines by `degrees` about the LPS
 * superior axis, which turns the image in the axial plane around its first voxel.
 */
export function rotateAxially(volume: Volume, degrees: number): Volume {
  const angle = (degrees * Math.PI) / 180;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const rotation = [cos, -sin, 0, sin, cos, 0, 0, 0, 1];
  const direction = new Float64Array(9);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) {
      for (let n = 0; n < 3; n++) {
        direction[3 * r + c] += rotation[3 * r + n] * volume.direction[3 * n + c];
      }
    }
  }
  return { ...volume, direction };
}

/** Writes an HU volume as int16 NRRD or NIfTI (chosen by extension) with ITK-wasm. */
export async function writeHuVolume(file: string, volume: Volume): Promise<void> {
  const image: Image = {
    imageType: new ImageType(3, IntTypes.Int16, PixelTypes.Scalar, 1),
    name: 'ct',
    origin: [...volume.originMm],
    spacing: [...volume.spacingMm],
    // ITK-wasm's direction is row-major, like Volume.direction.
    direction: new Float64Array(volume.direction),
    size: [...volume.size],
    metadata: new Map(),
    data: volume.data,
  };
  await writeImageNode(image, file, { useCompression: !file.endsWith('.nii') });
}
