import { InputError } from '../errors.ts';

/** Minimum number of voxels along each axis that `readScan` accepts as a volume. */
export const MIN_SLICES = 3;

/** Largest voxel spacing accepted, in mm; coarser grids are not diagnostic chest CT. */
export const MAX_SPACING_MM = 20;

/** Default voxel limit of `readScan`: a 512 × 512 × 1500 scan. */
export const DEFAULT_MAX_VOXELS = 512 * 512 * 1500;

/**
 * Rejects a declared size whose voxel count exceeds `maxVoxels`, before any pixel data is read.
 *
 * @throws InputError `INPUT_TOO_LARGE`
 */
export function checkVoxelCount(size: readonly number[], maxVoxels: number, file: string): void {
  const voxels = size.reduce((product, count) => product * count, 1);
  if (voxels > maxVoxels) {
    throw new InputError(
      'INPUT_TOO_LARGE',
      `Scan ${file} declares ${size.join(' × ')} = ${voxels} voxels, above the limit of ` +
        `${maxVoxels}. Crop or downsample the scan, or raise the limit with the maxVoxels option.`,
      { file, size: [...size], voxels, maxVoxels },
    );
  }
}

/**
 * Rejects a volume with fewer than `MIN_SLICES` voxels along any axis.
 *
 * @throws InputError `INPUT_TOO_FEW_SLICES`
 */
export function checkSliceCount(size: readonly number[], file: string): void {
  const fewest = Math.min(...size);
  if (fewest < MIN_SLICES) {
    throw new InputError(
      'INPUT_TOO_FEW_SLICES',
      `Scan ${file} has size ${size.join(' × ')}: at least ${MIN_SLICES} slices along each axis ` +
        'are required. Provide the whole series, not single slices.',
      { file, size: [...size], minSlices: MIN_SLICES },
    );
  }
}

/**
 * Rejects a spacing that is zero, negative, not finite or above `MAX_SPACING_MM`.
 *
 * @throws InputError `INPUT_SPACING_INVALID`
 */
export function checkSpacing(spacingMm: readonly number[], file: string): void {
  const valid = spacingMm.every(
    (value) => Number.isFinite(value) && value > 0 && value <= MAX_SPACING_MM,
  );
  if (!valid) {
    throw new InputError(
      'INPUT_SPACING_INVALID',
      `Scan ${file} has voxel spacing ${spacingMm.join(' × ')} mm: each value must be above 0 ` +
        `and at most ${MAX_SPACING_MM} mm. Fix the spacing in the file header.`,
      { file, spacingMm: [...spacingMm] },
    );
  }
}
