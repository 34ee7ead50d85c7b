import { join } from 'node:path';

import { writeImageNode } from '@itk-wasm/image-io';
import type { Prediction } from '@dlco/model';
import { ImageType, IntTypes, PixelTypes, type Image } from 'itk-wasm';

/** Result file with the CT that the viewer page draws under the map. */
export const SCAN_FILE = 'scan.nii.gz';

/**
 * Writes the CT as read (int16 HU, padding voxels at -32768) to `dir/scan.nii.gz` on the input
 * grid, the grid of `map.nii.gz` and `lung-mask.nii.gz`, so a viewer can overlay them voxel for
 * voxel. Only the voxels and the geometry are written: the NIfTI header gets no DICOM
 * attributes, file name or subject data, so no patient identifier reaches the file.
 *
 * Meant to run inside `writePrediction`'s `writeExtraFiles`, so the file appears together with
 * result.json or not at all.
 */
export async function writeScanVolume(dir: string, prediction: Prediction): Promise<void> {
  const volume = prediction.preprocessed.read.volume;
  const image: Image = {
    imageType: new ImageType(3, IntTypes.Int16, PixelTypes.Scalar, 1),
    name: 'ct',
    origin: [...volume.originMm],
    spacing: [...volume.spacingMm],
    // ITK-wasm's direction is row-major like Volume.direction; the writer converts LPS to RAS.
    direction: new Float64Array(volume.direction),
    size: [...volume.size],
    metadata: new Map(),
    data: volume.data,
  };
  await writeImageNode(image, join(dir, SCAN_FILE), { useCompression: true });
}
