import { writeImageNode } from '@itk-wasm/image-io';
import { ImageType, IntTypes, PixelTypes, type Image } from 'itk-wasm';
import type { Volume } from '@dlco/preprocess';

// The reordering helper lives beside the preprocessing tests, which check QCT on reordered copies.
export { reorderAxes, type AxisReordering } from '@dlco/preprocess/testing/reorder-axes';

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
