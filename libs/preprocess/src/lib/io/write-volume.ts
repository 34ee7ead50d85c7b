import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';

import { writeImageNode } from '@itk-wasm/image-io';
import { FloatTypes, ImageType, IntTypes, PixelTypes, type Image } from 'itk-wasm';

import type { LabelVolume } from '../volume.ts';

/** Grid of a volume: voxel counts, spacing (mm), LPS origin (mm) and row-major direction. */
export interface VolumeGeometry {
  size: [number, number, number];
  spacingMm: [number, number, number];
  originMm: [number, number, number];
  direction: Float64Array;
}

const WRITABLE_EXTENSIONS = ['.nii.gz', '.nii', '.nrrd'];

function extensionOf(file: string): string {
  const name = file.toLowerCase();
  const extension = WRITABLE_EXTENSIONS.find((candidate) => name.endsWith(candidate));
  if (extension === undefined) {
    throw new RangeError(
      `Cannot write ${file}: the extension must be one of ${WRITABLE_EXTENSIONS.join(', ')}.`,
    );
  }
  return extension;
}

function toImage(
  geometry: VolumeGeometry,
  data: Uint8Array | Float32Array,
  componentType: Image['imageType']['componentType'],
): Image {
  const voxels = geometry.size[0] * geometry.size[1] * geometry.size[2];
  if (data.length !== voxels) {
    throw new RangeError(
      `Volume data has ${data.length} voxels but size ${geometry.size.join(' × ')} needs ${voxels}.`,
    );
  }
  if (geometry.direction.length !== 9) {
    throw new RangeError(`Direction must have 9 entries, got ${geometry.direction.length}.`);
  }
  return {
    imageType: new ImageType(3, componentType, PixelTypes.Scalar, 1),
    name: 'volume',
    origin: [...geometry.originMm],
    spacing: [...geometry.spacingMm],
    // ITK-wasm's direction is row-major like VolumeGeometry.direction.
    direction: new Float64Array(geometry.direction),
    size: [...geometry.size],
    metadata: new Map(),
    data,
  };
}

/**
 * Writes through a temporary file in the target folder and renames it into place, so a failed
 * write never leaves a partial file at `file`. The temporary name keeps the extension because
 * ITK picks the writer from it.
 */
async function writeAtomically(image: Image, file: string): Promise<void> {
  const extension = extensionOf(file);
  const temporary = path.join(
    path.dirname(file),
    `.${path.basename(file, extension)}.${randomBytes(6).toString('hex')}.partial${extension}`,
  );
  try {
    await writeImageNode(image, temporary, { useCompression: extension !== '.nii' });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new Error(
      `Writing ${file} failed: ${(error as Error).message}. Check that its folder exists and ` +
        'is writable.',
      { cause: error },
    );
  }
}

/**
 * Writes a label volume as uint8 to a .nii, .nii.gz or .nrrd file, chosen by extension.
 *
 * @param file - output path; its folder must exist
 * @example
 * await writeLabelVolume('out/lungs.nii.gz', labels);
 */
export async function writeLabelVolume(file: string, labels: LabelVolume): Promise<void> {
  await writeAtomically(toImage(labels, labels.data, IntTypes.UInt8), file);
}

/**
 * Writes a float32 volume (for example a map in HU or mm) to .nii, .nii.gz or .nrrd.
 *
 * @param file - output path; its folder must exist
 * @example
 * await writeFloatVolume('out/map.nrrd', volume, new Float32Array(volume.data));
 */
export async function writeFloatVolume(
  file: string,
  geometry: VolumeGeometry,
  data: Float32Array,
): Promise<void> {
  await writeAtomically(toImage(geometry, data, FloatTypes.Float32), file);
}
