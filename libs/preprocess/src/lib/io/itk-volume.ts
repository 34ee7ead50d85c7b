import type { Image } from 'itk-wasm';

import { InputError } from '../errors.ts';
import type { Volume } from '../volume.ts';
import { checkHounsfieldUnits, convertToHu, type PixelArray } from './hu.ts';
import { checkSliceCount, checkSpacing } from './volume-checks.ts';

/**
 * Drops trailing axes of length 1 (a 4-D image with one time point) and rejects images that
 * are not 3-D scalar images after that.
 *
 * @throws InputError `INPUT_NOT_3D`
 */
function squeezeTo3d(image: Image, file: string): number[] {
  const size = image.size.slice();
  while (size.length > 3 && size[size.length - 1] === 1) size.pop();
  const components = image.imageType.components;
  if (size.length !== 3 || components !== 1) {
    throw new InputError(
      'INPUT_NOT_3D',
      `Scan ${file} has size ${image.size.join(' × ')} with ${components} component(s) per ` +
        'voxel: a single 3-D scalar volume is required. Export one time point or one volume.',
      { file, size: image.size, components },
    );
  }
  return size;
}

/** Takes the leading 3 × 3 block of ITK's row-major direction matrix of `dimension` axes. */
function direction3d(image: Image): Float64Array {
  const dimension = image.imageType.dimension;
  const direction = new Float64Array(9);
  for (let row = 0; row < 3; row++) {
    for (let col = 0; col < 3; col++) {
      direction[3 * row + col] = Number(image.direction[dimension * row + col]) + 0;
    }
  }
  return direction;
}

/**
 * Converts an ITK-wasm image to a `Volume` in its native geometry, validating shape, spacing
 * and intensities. Int16 pixel data is converted in place, so the caller must not use `image`
 * afterwards. The image's pixel values must already be rescaled (ITK applies the NIfTI
 * scl_slope/scl_inter and the DICOM rescale slope/intercept when it reads).
 *
 * ITK-wasm stores `direction` row-major, the same layout as `Volume.direction`; a test with a
 * hand-written NIfTI affine checks this.
 *
 * @throws InputError `INPUT_NOT_3D`, `INPUT_TOO_FEW_SLICES`, `INPUT_SPACING_INVALID`,
 *   `INPUT_NOT_HU`
 */
export function imageToVolume(image: Image, file: string): Volume {
  const size = squeezeTo3d(image, file);
  checkSliceCount(size, file);
  const spacingMm = image.spacing.slice(0, 3);
  checkSpacing(spacingMm, file);

  const values = image.data as PixelArray | null;
  if (values === null || values.length < size[0] * size[1] * size[2]) {
    throw new InputError('INPUT_CORRUPT', `Scan ${file} has less pixel data than its size.`, {
      file,
    });
  }
  // The image is not used after this, so int16 pixels are converted in place.
  const { hu: data, rawRange, valueCounts } = convertToHu(values, { reuseInt16: true });
  const componentType = image.imageType.componentType;
  checkHounsfieldUnits(valueCounts, rawRange, componentType.startsWith('float'), file);

  return {
    size: size as [number, number, number],
    spacingMm: spacingMm as [number, number, number],
    originMm: image.origin.slice(0, 3).map((value) => value + 0) as [number, number, number],
    direction: direction3d(image),
    data,
  };
}
