import { stat } from 'node:fs/promises';
import path from 'node:path';

import { InputError } from '../errors.ts';

/** File format of a scan as `readScan` reports it. */
export type ScanFormat = 'nifti' | 'nrrd' | 'metaimage' | 'dicom';

/** Format and on-disk layout of a scan path. */
export type ScanSource =
  | { format: 'nifti' | 'nrrd' | 'metaimage'; layout: 'file' }
  | { format: 'dicom'; layout: 'directory' | 'zip' };

const EXTENSIONS: ReadonlyArray<[string, ScanSource]> = [
  ['.nii.gz', { format: 'nifti', layout: 'file' }],
  ['.nii', { format: 'nifti', layout: 'file' }],
  ['.nrrd', { format: 'nrrd', layout: 'file' }],
  ['.nhdr', { format: 'nrrd', layout: 'file' }],
  ['.mha', { format: 'metaimage', layout: 'file' }],
  ['.mhd', { format: 'metaimage', layout: 'file' }],
  ['.zip', { format: 'dicom', layout: 'zip' }],
];

/** Inputs `readScan` accepts, for error messages. */
export const SUPPORTED_INPUTS =
  'a DICOM series folder, a .zip of a DICOM series, .nii, .nii.gz, .nrrd, .nhdr, .mha or .mhd';

/**
 * Identifies the format of a scan path from its extension, or as a DICOM series when it is a
 * directory.
 *
 * @throws InputError `INPUT_NOT_FOUND` when nothing exists at `scanPath`, and
 *   `INPUT_FORMAT_UNSUPPORTED` for any other extension.
 */
export async function identifyScanSource(scanPath: string): Promise<ScanSource> {
  const stats = await stat(scanPath).catch(() => undefined);
  if (stats === undefined) {
    throw new InputError('INPUT_NOT_FOUND', `Scan not found: ${scanPath}. Check the path.`, {
      path: scanPath,
    });
  }
  if (stats.isDirectory()) return { format: 'dicom', layout: 'directory' };

  const name = path.basename(scanPath).toLowerCase();
  const match = EXTENSIONS.find(([extension]) => name.endsWith(extension));
  if (match === undefined) {
    throw new InputError(
      'INPUT_FORMAT_UNSUPPORTED',
      `Unsupported scan file: ${scanPath}. Supported inputs are ${SUPPORTED_INPUTS}.`,
      { path: scanPath },
    );
  }
  return match[1];
}
